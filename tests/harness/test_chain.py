"""Chained reproductions through the CLI: a reproduction starting from another one's best
checkpoint (harness/chain.py, weights.InitFrom), and --init FILE."""

from __future__ import annotations

import json

import pytest
import torch

from reproducers.cli import main
from reproducers.harness import registry
from reproducers.harness.weights import sha256
from tests.harness import fake_chain


class Opaque:
    """Something torch.load(weights_only=True) refuses to unpickle."""


@pytest.fixture
def chain(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "discover", fake_chain.make)

    def run(name, *extra):
        capsys.readouterr()
        rc = main(["run", name, "--smoke", "--no-progress", "--device", "cpu",
                   "--stages", "train", "evaluate", "check",
                   "--records-dir", str(tmp_path / "rec"), "--output-dir", str(tmp_path / "runs"),
                   "--report", str(tmp_path / "r.md"), *map(str, extra)])
        return rc, capsys.readouterr()

    run.tmp = tmp_path
    return run


def _record(tmp, name, stage="train"):
    path = tmp / "rec" / name / f"{stage}.smoke.json"
    return json.loads(path.read_text()) if path.exists() else None


def _weights(tmp, name, file):
    return torch.load(tmp / "runs" / f"{name}-smoke" / file, weights_only=True)


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_missing_dependency_is_a_one_line_error_naming_the_command(chain):
    rc, out = chain("fake_second")
    assert rc == 2
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.err
    tmp = chain.tmp
    assert lines[0] == (
        f"error: fake_second starts from fake_first's best checkpoint, but there is no "
        f"successful smoke train record {tmp / 'rec' / 'fake_first' / 'train.smoke.json'}: run "
        f"`python -m reproducers run fake_first --smoke --records-dir {tmp / 'rec'} "
        f"--output-dir {tmp / 'runs'}` first, or add --with-deps")
    assert _record(tmp, "fake_second") is None and _record(tmp, "fake_first") is None


def test_with_deps_runs_the_chain_and_a_changed_dependency_reruns_the_dependent(chain):
    tmp = chain.tmp
    rc, out = chain("fake_second", "--with-deps")
    assert rc == 0, out.err
    first, second = _record(tmp, "fake_first"), _record(tmp, "fake_second")
    assert first["status"] == second["status"] == "ok"
    assert _record(tmp, "fake_first", "evaluate")["status"] == "ok"
    best = _weights(tmp, "fake_first", "model_best.pt")
    started = _weights(tmp, "fake_second", "initial.pt")
    assert _equal(started, best)  # the second starts from the first's best checkpoint
    assert not _equal(started, _weights(tmp, "fake_first", "model_last.pt"))
    init = second["result"]["init"]
    best_file = tmp / "runs" / "fake_first-smoke" / "model_best.pt"
    assert (init["reproduction"], init["pick"], init["file"]) == (  # relative: portable.py
        "fake_first", "best", "$OUTPUT_DIR/fake_first-smoke/model_best.pt")
    assert init["sha256"] == sha256(best_file)
    assert (init["loaded"], init["total"], init["builds"]) == (2, 2, 1)
    assert second["config"]["init"]["train_inputs_hash"] == first["inputs_hash"]

    rc, out = chain("fake_second")  # unchanged: neither stage runs again
    assert rc == 0, out.err
    assert _record(tmp, "fake_second")["started_at"] == second["started_at"]
    assert "fake_second] train: inputs unchanged" in out.out

    rc, out = chain("fake_first", "--set", "lr=0.1")  # the dependency changes
    assert rc == 0, out.err
    changed = _record(tmp, "fake_first")
    assert changed["inputs_hash"] != first["inputs_hash"]
    rc, out = chain("fake_second", "--set", "lr=0.1")
    assert rc == 0, out.err
    rerun = _record(tmp, "fake_second")
    assert rerun["inputs_hash"] != second["inputs_hash"]  # stale, so trained again
    assert rerun["result"]["init"]["sha256"] != init["sha256"]
    assert _equal(_weights(tmp, "fake_second", "initial.pt"),
                  _weights(tmp, "fake_first", "model_best.pt"))

    (tmp / "runs" / "fake_first-smoke" / "model_best.pt").unlink()
    rc, out = chain("fake_second", "--set", "lr=0.1")
    assert rc == 2
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "has no such file" in lines[0] and "--force`" in lines[0]


def test_init_file_flag(chain):
    tmp = chain.tmp
    tmp.mkdir(exist_ok=True)
    state = {"weight": torch.full((2, 4), 0.25), "bias": torch.tensor([0.5, -0.5])}
    torch.save(state, tmp / "init.pt")
    rc, out = chain("fake_first", "--init", tmp / "init.pt")
    assert rc == 0, out.err
    assert _equal(_weights(tmp, "fake_first", "initial.pt"), state)
    rec = _record(tmp, "fake_first")
    assert rec["config"]["init"]["sha256"] == sha256(tmp / "init.pt")
    rc, out = chain("fake_first", "--init", tmp / "absent.pt")
    assert rc == 2
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--init {tmp / 'absent.pt'}: no such file" in lines[0]


def test_init_file_that_needs_unpickling_is_a_one_line_error(chain):
    tmp = chain.tmp
    tmp.mkdir(exist_ok=True)
    torch.save({"model": {"weight": torch.zeros(2, 4)}, "cfg": Opaque()},
               tmp / "pickled.pt")
    rc, out = chain("fake_first", "--init", tmp / "pickled.pt")
    assert rc == 2, out.err
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "convert-checkpoint" in lines[0]


def test_list_json_shows_the_declared_init(chain, capsys):
    assert main(["list", "--json"]) == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert data["fake_first"]["init"] is None
    assert data["fake_second"]["init"] == {"kind": "InitFrom", "reproduction": "fake_first",
                                           "pick": "best", "strict": False, "adapt": None}
