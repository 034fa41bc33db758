"""The 11 ViS4mer reproductions: declarations consistent with the data and the official model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reproducers.harness.flops import count_params
from reproducers.harness.provenance import REPO_ROOT
from reproducers.harness.registry import discover

ABLATIONS = {"vis4mer_breakfast_timeblind"}  # no paper rows: the smoke claim's other side
VIS4MER = sorted(n for n in discover() if n.startswith("vis4mer_") and n not in ABLATIONS)


def test_eleven_reproductions_with_sourced_rows():
    assert len(VIS4MER) == 11
    reps = discover()
    for name in VIS4MER:
        kinds = {row.kind for row in reps[name].expected}
        assert kinds == {"paper", "smoke"}, name
        assert all(row.source for row in reps[name].expected)


def test_full_breakfast_model_has_official_parameter_count():
    # Breakfast's full model is the official demo configuration (10 classes): 3,584,074.
    rep = discover()["vis4mer_breakfast"]
    model = rep.model.factory(**rep.model.full)
    assert count_params(model)["total"] == 3_584_074
    assert rep.model.full["l_max"] == 64 * 49


def test_lvu_full_input_is_official_span_length():
    rep = discover()["vis4mer_lvu_relationship"]
    assert rep.model.full["l_max"] == 11820
    x = rep.model.example_input(rep.model.full, 1)
    assert tuple(x.shape) == (1, 11820, 1024)


@pytest.mark.parametrize("name", ["vis4mer_lvu_year", "vis4mer_lvu_view_count", "vis4mer_coin"])
def test_smoke_model_fits_synthetic_data(tmp_path, name):
    rep = discover()[name]
    rep.dataset.synthesize(tmp_path, dict(rep.smoke_data), seed=0)
    ds = rep.dataset.build(tmp_path, rep.protocol.eval_split, dict(rep.smoke_data), train=False)
    x, y, vid = ds[0]
    assert tuple(x.shape) == (rep.model.smoke["l_max"], rep.model.smoke["d_input"])
    assert ds.num_outputs <= rep.model.smoke["d_output"]
    model = rep.model.factory(**rep.model.smoke).eval()
    assert model(x[None]).shape == (1, rep.model.smoke["d_output"])


def test_smoke_run_end_to_end_through_the_cli(tmp_path):
    """A 2-epoch smoke run exercises synthetic data, real loaders, train, evaluate, check and
    report; with 2 epochs the smoke row may fail, so only exit codes 0/1 are accepted."""
    records, report = tmp_path / "records", tmp_path / "report" / "results.md"
    proc = subprocess.run(
        [sys.executable, "-m", "reproducers", "run", "vis4mer_breakfast", "--smoke",
         "--set", "epochs=2", "--records-dir", str(records), "--output-dir", str(tmp_path / "runs"),
         "--report", str(report), "--no-progress", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["stages"]) == {"profile", "train", "evaluate"}
    evaluate = out["stages"]["evaluate"]["result"]
    assert evaluate["eval_size"] == 60 and 0 <= evaluate["metrics"]["acc@1"] <= 100
    smoke = [r for r in out["check"] if r["kind"] == "smoke"][0]
    assert smoke["status"] == ("PASS" if proc.returncode == 0 else "FAIL")
    assert smoke["measured"] == pytest.approx(evaluate["metrics"]["acc@1"])
    text = report.read_text()
    assert "| vis4mer_breakfast | acc@1 | ≥ 46.00 |" in text
    assert text.count("NOT RUN") >= 11
    train = json.loads((records / "vis4mer_breakfast" / "train.smoke.json").read_text())
    assert train["result"]["steps"] == 2 * 8  # 120 videos / batch 16 = 8 steps per epoch
    assert train["provenance"]["dataset_fingerprint"]["train"]["found"] == 120
