"""Stages on the fake paper: records, provenance, skip-if-unchanged, --force, failures."""

from __future__ import annotations

import json

import pytest

from reproducers.harness import stages
from reproducers.harness.check import check_reproduction
from reproducers.harness.errors import UserError
from reproducers.harness.stages import RunOptions
from tests.harness import fake_paper


@pytest.fixture
def opts(tmp_path):
    logs = []
    o = RunOptions(smoke=True, output_dir=tmp_path / "runs", records_dir=tmp_path / "records",
                   progress=False, log=logs.append)
    o.logs = logs
    return o


def test_train_evaluate_write_records_with_provenance(opts):
    rep = fake_paper.make()
    tr = stages.train(rep, opts)
    ev = stages.evaluate(rep, opts)
    assert tr["status"] == ev["status"] == "ok"
    path = opts.records_dir / rep.name / "evaluate.smoke.json"
    rec = json.loads(path.read_text())
    prov = rec["provenance"]
    assert set(prov) >= {"git", "packages", "device", "command", "config_hash",
                         "dataset_fingerprint", "seed"}
    assert prov["dataset_fingerprint"]["test"]["found"] == 32
    assert prov["seed"] == 3
    assert rec["result"]["metrics"]["acc@1"] > 80  # the sign task is learnable
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temp files
    rows = {r.kind: r for r in check_reproduction(rep, opts.records_dir)}
    assert rows["smoke"].status == "PASS"
    assert rows["paper"].status == "NOT RUN"
    assert "no data" in rows["paper"].reason


def test_unchanged_inputs_are_not_run_again_unless_forced(opts):
    rep = fake_paper.make()
    first = stages.train(rep, opts)
    again = stages.train(rep, opts)
    assert again["started_at"] == first["started_at"]
    assert any("not run again" in line for line in opts.logs)
    opts.force = True
    forced = stages.train(rep, opts)
    assert forced["inputs_hash"] == first["inputs_hash"]
    assert forced["provenance"]["command"] is not None


def test_changed_seed_reruns(opts):
    rep = fake_paper.make()
    first = stages.train(rep, opts)
    opts.seed = 4
    second = stages.train(rep, opts)
    assert second["inputs_hash"] != first["inputs_hash"]


def test_failed_stage_writes_failed_record_and_check_fails(opts, monkeypatch):
    rep = fake_paper.make()
    stages.train(rep, opts)

    def boom(ctx, model, ds):
        raise RuntimeError("out of memory")

    import dataclasses

    bad = dataclasses.replace(rep, task=dataclasses.replace(rep.task, evaluate=boom))
    with pytest.raises(RuntimeError):
        stages.evaluate(bad, opts)
    assert not (opts.records_dir / rep.name / "evaluate.smoke.json").exists()
    rec = json.loads((opts.records_dir / rep.name / "evaluate.smoke.failed.json").read_text())
    assert rec["status"] == "failed" and "out of memory" in rec["error"]
    smoke = [r for r in check_reproduction(rep, opts.records_dir) if r.kind == "smoke"][0]
    assert smoke.status == "FAIL" and "out of memory" in smoke.reason


def test_failure_is_written_beside_the_good_record(opts):
    """A good evaluate record survives a failed re-run; check still shows the good number and
    names the later failure; the next success removes the failure record."""
    import dataclasses

    rep = fake_paper.make()
    stages.train(rep, opts)
    good = stages.evaluate(rep, opts)
    ok_path = opts.records_dir / rep.name / "evaluate.smoke.json"
    before = ok_path.read_bytes()

    def boom(ctx, model, ds):
        raise KeyboardInterrupt

    bad = dataclasses.replace(rep, task=dataclasses.replace(rep.task, evaluate=boom))
    opts.force = True
    with pytest.raises(KeyboardInterrupt):
        stages.evaluate(bad, opts)
    assert ok_path.read_bytes() == before
    failed = opts.records_dir / rep.name / "evaluate.smoke.failed.json"
    assert json.loads(failed.read_text())["status"] == "interrupted"
    smoke = [r for r in check_reproduction(rep, opts.records_dir) if r.kind == "smoke"][0]
    assert smoke.status == "PASS" and smoke.measured == good["result"]["metrics"]["acc@1"]
    assert "a later evaluate interrupted" in smoke.reason
    stages.evaluate(rep, opts)
    assert not failed.exists()


def test_real_run_needs_data_root(opts):
    rep = fake_paper.make()
    opts.smoke = False
    with pytest.raises(UserError, match="--data-root is required"):
        stages.train(rep, opts)
    opts.data_root = opts.output_dir / "nope"
    with pytest.raises(UserError, match="does not exist"):
        stages.train(rep, opts)


def test_evaluate_checkpoint_errors(opts, tmp_path):
    rep = fake_paper.make()
    with pytest.raises(UserError, match="no checkpoint"):
        stages.evaluate(rep, opts)
    opts.checkpoint = tmp_path / "missing.pt"
    with pytest.raises(UserError, match="does not exist"):
        stages.evaluate(rep, opts)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    opts.checkpoint = bad
    with pytest.raises(UserError, match="weights_only"):
        stages.evaluate(rep, opts)


def test_set_overrides_change_recipe_and_config_hash(opts):
    from reproducers.harness.overrides import parse

    rep = fake_paper.make()
    base = stages.train(rep, opts)
    opts.overrides = parse(["epochs=1", "lr=0.01", "schedule=plateau"])
    changed = stages.train(rep, opts)
    assert changed["inputs_hash"] != base["inputs_hash"]
    assert changed["config"]["recipe"]["epochs"] == 1
    assert changed["config"]["recipe"]["lr"] == 0.01
    assert changed["config"]["recipe"]["schedule"] == "plateau"
    opts.overrides = parse(["scheduler=plateau"])  # not a key of this recipe: refused
    with pytest.raises(UserError, match="scheduler: unknown key; valid keys: batch_size"):
        stages.train(rep, opts)
    opts.overrides = parse(["model.width=3"])
    with pytest.raises(UserError, match="model config has no 'width'"):
        stages.train(rep, opts)
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse(["epochs"])
