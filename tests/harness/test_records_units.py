"""Units behind truthful records: atomic writes (modes, temps of killed writers), record
shapes, the run-folder lock, stale train records, 0-step trains (fake paper, in process)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reproducers.harness import stages
from reproducers.harness.atomic import is_temp, write_text_atomic
from reproducers.harness.errors import UserError
from reproducers.harness.portable import Roots
from reproducers.harness.provenance import REPO_ROOT, file_hash
from reproducers.harness.records import CorruptRecord, read_record, shape_error
from reproducers.harness.runlock import lock_run_dir, release_run_dir
from reproducers.harness.stages import RunOptions
from tests.harness import fake_paper


@pytest.fixture
def opts(tmp_path):
    logs = []
    o = RunOptions(smoke=True, output_dir=tmp_path / "runs", records_dir=tmp_path / "records",
                   progress=False, log=logs.append)
    o.logs = logs
    yield o
    release_run_dir(tmp_path / "runs" / "fake_toy-smoke")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_gives_umask_mode_and_keeps_an_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        new = write_text_atomic(tmp_path / "a.json", "1")
        assert _mode(new) == 0o644
        os.umask(0o027)
        assert _mode(write_text_atomic(tmp_path / "b.json", "1")) == 0o640
        os.chmod(new, 0o600)
        assert _mode(write_text_atomic(new, "2")) == 0o600 and new.read_text() == "2"
    finally:
        os.umask(old)


def test_temps_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".r.json.{dead.pid}.abc123.tmp"
    live = tmp_path / f".r.json.{os.getppid()}.def456.tmp"  # a running process's write
    other = tmp_path / f".q.json.{dead.pid}.abc123.tmp"  # another target's temp: not ours
    for p in (stale, live, other):
        p.write_text("half")
    write_text_atomic(tmp_path / "r.json", "{}")
    assert not stale.exists() and live.exists() and other.exists()
    assert all(is_temp(p) for p in (stale, live, other)) and not is_temp(tmp_path / "r.json")
    ignored = subprocess.run(["git", "check-ignore", "-q", "reports/records/x/.e.json.1.a.tmp"],
                             cwd=REPO_ROOT)
    assert ignored.returncode == 0  # .gitignore'd


@pytest.mark.parametrize("rec, why", [
    ([1], "a JSON list, not an object"),
    ({"stage": "train", "status": "ok"}, "'stage' is 'train', not 'evaluate'"),
    ({"stage": "evaluate", "status": "done"}, "'status' is 'done'"),
    ({"stage": "evaluate", "status": "ok", "result": []}, "without a 'result' object"),
    ({"stage": "evaluate", "status": "ok", "result": {"metrics": {"acc@1": "x"}}},
     "'acc@1' is not a number"),
    ({"stage": "evaluate", "status": "ok", "result": {"checkpoint": 3}}, "not a path string"),
])
def test_wrong_shape_records_are_corrupt(tmp_path, rec, why):
    assert why in shape_error(rec, "evaluate")
    path = tmp_path / "toy" / "evaluate.smoke.json"
    path.parent.mkdir()
    path.write_text(json.dumps(rec))
    with pytest.raises(CorruptRecord, match="corrupt run record") as err:
        read_record(tmp_path, "toy", "evaluate", True)
    assert err.value.path == path and "\n" not in str(err.value)
    assert shape_error({"stage": "evaluate", "status": "failed"}, "evaluate") is None


def test_run_folder_lock_refuses_another_process_and_is_reentrant(tmp_path):
    folder = tmp_path / "run"
    lock_run_dir(folder)
    lock_run_dir(folder)  # the same process: no-op
    code = ("import sys; from reproducers.harness.runlock import lock_run_dir\n"
            "from reproducers.harness.errors import UserError\n"
            "try:\n    lock_run_dir(sys.argv[1])\nexcept UserError as e:\n"
            "    print(e); sys.exit(2)\n")
    other = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    assert other.returncode == 2 and f"pid {os.getpid()}" in other.stdout
    release_run_dir(folder)
    other = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    assert other.returncode == 0, other.stdout


def test_train_record_is_stale_once_its_checkpoint_is_rewritten(opts):
    rep = fake_paper.make()
    first = stages.train(rep, opts)
    ckpt = Roots.of(opts).resolve(first["result"]["checkpoint"])  # "$OUTPUT_DIR/..."
    assert first["result"]["checkpoint_sha"]
    with open(ckpt, "ab") as fh:  # a later run wrote other weights there
        fh.write(b"\0")
    with pytest.raises(UserError, match="train.smoke.json is stale: .* rewritten by a later run"):
        stages.evaluate(rep, opts)
    again = stages.train(rep, opts)
    assert any("is stale" in line for line in opts.logs)
    assert again["result"]["checkpoint_sha"] == file_hash(Path(ckpt))
    assert stages.evaluate(rep, opts)["status"] == "ok"


def test_a_train_of_no_step_is_a_failure_beside_the_good_record(opts):
    rep = fake_paper.make()
    stages.train(rep, opts)
    good = (opts.records_dir / rep.name / "train.smoke.json").read_bytes()

    def no_steps(ctx):  # e.g. epochs=0, or a finished checkpoint resumed
        return {"checkpoint": ctx.output_dir / "model.pt", "steps": 0}

    lazy = dataclasses.replace(rep, task=dataclasses.replace(rep.task, train=no_steps))
    opts.force = True
    with pytest.raises(UserError, match="0 optimizer steps"):
        stages.train(lazy, opts)
    assert (opts.records_dir / rep.name / "train.smoke.json").read_bytes() == good
    failed = json.loads((opts.records_dir / rep.name / "train.smoke.failed.json").read_text())
    assert failed["status"] == "failed" and "0 optimizer steps" in failed["error"]


def test_records_dir_and_output_dir_must_be_folders(opts, tmp_path):
    rep = fake_paper.make()
    a_file = tmp_path / "f"
    a_file.write_text("")
    opts.records_dir = a_file
    with pytest.raises(UserError, match="--records-dir .* is a file"):
        stages.train(rep, opts)
    opts.records_dir, opts.output_dir = tmp_path / "records", a_file / "sub"
    with pytest.raises(UserError, match="--output-dir .* is a file"):
        stages.train(rep, opts)


def test_evaluate_reruns_when_a_recipe_field_or_the_seed_changes(opts):
    """An evaluation's inputs hold the recipe (its options may steer evaluation: an eval
    mode, a proposals source) and the seed (a random evaluation draws from it)."""
    rep = fake_paper.make()
    ckpt = Roots.of(opts).resolve(stages.train(rep, opts)["result"]["checkpoint"])
    given = dataclasses.replace(opts, checkpoint=ckpt)
    first = stages.evaluate(rep, given)["inputs_hash"]
    assert stages.evaluate(rep, given)["inputs_hash"] == first  # unchanged: reused
    changed = stages.evaluate(rep, dataclasses.replace(given, overrides={"batch_size": 16}))
    reseeded = stages.evaluate(rep, dataclasses.replace(given, seed=7))
    assert len({first, changed["inputs_hash"], reseeded["inputs_hash"]}) == 3
