"""Records say what ran (issue 11, section 2), through the CLI on the ViS4mer Breakfast smoke:
a killed or changed re-run is never current, failures are written beside the good record,
a 0-step train is not "ok", bad records and paths are one line, two runs of one
reproduction cannot share a run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reproducers.harness.provenance import REPO_ROOT

NAME = "vis4mer_breakfast"
STEPS_PER_EPOCH = 8  # 128 synthetic training videos / global batch 16


def cmd(tmp: Path, *args) -> list[str]:
    return [sys.executable, "-m", "reproducers", "run", NAME, "--smoke", "--no-progress",
            "--records-dir", str(tmp / "rec"), "--output-dir", str(tmp / "out"),
            "--report", str(tmp / "results.md"), *map(str, args)]


def run(tmp: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd(tmp, *args), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reproducers", *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def one_line(proc, rc=2) -> str:
    assert proc.returncode == rc, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def rec_dir(tmp: Path) -> Path:
    return tmp / "rec" / NAME


def run_dir(tmp: Path) -> Path:
    return tmp / "out" / f"{NAME}-smoke"


def record(tmp: Path, stage: str, failed: bool = False) -> dict:
    name = f"{stage}.smoke{'.failed' if failed else ''}.json"
    return json.loads((rec_dir(tmp) / name).read_text())


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def sigint_as_keyboard_interrupt() -> None:
    """In the child, before exec: SIGINT back to its default, which Python turns into
    KeyboardInterrupt. A process started in the background of a shell without job control
    (``cmd &`` in a script, a CI step) inherits SIGINT *ignored*, and Python keeps an
    ignored SIGINT ignored: the run would shrug off the signal and finish with rc 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_kill(tmp: Path, *args, rows: int, sig=signal.SIGKILL) -> subprocess.Popen:
    """Start a run, send ``sig`` once its partial step log has ``rows`` rows, wait for it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd(tmp, *args), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=sigint_as_keyboard_interrupt)
    log = run_dir(tmp) / "steps.partial.csv"
    deadline, sent = time.time() + 240, False
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) - 1 >= rows:
            proc.send_signal(sig)
            sent = True
            break
        time.sleep(0.02)
    proc.wait(timeout=120)
    proc.stderr_text = proc.stderr.read()
    assert sent, f"the run ended (rc {proc.returncode}) before its step log had {rows} rows"
    return proc


@pytest.mark.slow
def test_killed_rerun_is_not_current_and_resume_auto_only_takes_this_config(tmp_path):
    epochs = 30
    good = run(tmp_path, "--stages", "train", "evaluate", "--set", f"epochs={epochs}")
    assert good.returncode == 0, good.stderr
    first_weights = weights(run_dir(tmp_path) / "model_last.pt")
    first_eval = record(tmp_path, "evaluate")["result"]["metrics"]
    steps_csv = (run_dir(tmp_path) / "steps.csv").read_bytes()
    train_json = (rec_dir(tmp_path) / "train.smoke.json").read_bytes()

    killed = start_and_kill(tmp_path, "--stages", "train", "evaluate", "--force",
                            "--set", f"epochs={epochs}", rows=int(0.6 * epochs * STEPS_PER_EPOCH))
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    # the killed run touched no record and no finished log or weights
    assert (rec_dir(tmp_path) / "train.smoke.json").read_bytes() == train_json
    assert (run_dir(tmp_path) / "steps.csv").read_bytes() == steps_csv
    assert same(weights(run_dir(tmp_path) / "model_last.pt"), first_weights)

    # its checkpoint_last.pt replaced the record's: the record is stale, --resume auto
    # continues the killed run (same config) instead of scoring half-trained weights
    resumed = run(tmp_path, "--stages", "train", "evaluate", "--set", f"epochs={epochs}",
                  "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr
    assert "is stale" in resumed.stdout and "rewritten by a later run" in resumed.stdout
    tr = record(tmp_path, "train")["result"]
    assert tr["steps"] == epochs * STEPS_PER_EPOCH
    assert tr["started_from"]["global_step"] >= 0.5 * epochs * STEPS_PER_EPOCH
    assert tr["steps_this_run"] == tr["steps"] - tr["started_from"]["global_step"]
    assert same(weights(run_dir(tmp_path) / "model_last.pt"), first_weights)
    assert record(tmp_path, "evaluate")["result"]["metrics"] == first_eval

    # another configuration's checkpoint is not adopted: one line, then a fresh start
    other = run(tmp_path, "--stages", "train", "--set", "epochs=2", "--resume", "auto")
    assert other.returncode == 0, other.stderr
    said = [line for line in other.stdout.splitlines() if "not resuming" in line]
    assert len(said) == 1 and "another configuration" in said[0] and "starting fresh" in said[0]
    tr = record(tmp_path, "train")["result"]
    assert tr["steps"] == 2 * STEPS_PER_EPOCH and tr["started_from"] is None


@pytest.mark.slow
def test_failed_and_interrupted_reruns_keep_the_good_record(tmp_path):
    good = run(tmp_path, "--stages", "train", "--set", "epochs=3")
    assert good.returncode == 0, good.stderr
    train_json = (rec_dir(tmp_path) / "train.smoke.json").read_bytes()
    steps_csv = (run_dir(tmp_path) / "steps.csv").read_bytes()
    history = (run_dir(tmp_path) / "history.csv").read_bytes()
    failed_path = rec_dir(tmp_path) / "train.smoke.failed.json"

    def kept(expect_error: str, status: str = "failed"):
        assert (rec_dir(tmp_path) / "train.smoke.json").read_bytes() == train_json
        assert (run_dir(tmp_path) / "steps.csv").read_bytes() == steps_csv
        assert (run_dir(tmp_path) / "history.csv").read_bytes() == history
        failure = json.loads(failed_path.read_text())
        assert failure["status"] == status and expect_error in failure["error"]
        failed_path.unlink()

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    line = one_line(run(tmp_path, "--stages", "train", "--set", "epochs=3", "--resume", corrupt))
    assert str(corrupt) in line and "not a readable training checkpoint" in line
    kept("not a readable training checkpoint")

    line = one_line(run(tmp_path, "--stages", "train", "--set", "epochs=3", "--set", "lr=1e30"))
    assert "loss became nan" in line
    kept("loss became nan")

    line = one_line(run(tmp_path, "--stages", "train", "--set", "epochs=0"))
    if "0 optimizer steps" in line:  # (the typed recipe may refuse epochs=0 before any stage)
        kept("0 optimizer steps")
    else:
        assert not failed_path.exists()
        assert (rec_dir(tmp_path) / "train.smoke.json").read_bytes() == train_json



@pytest.mark.slow
def test_interrupted_rerun_keeps_the_good_record(tmp_path):
    good = run(tmp_path, "--stages", "train", "--set", "epochs=3")
    assert good.returncode == 0, good.stderr
    train_json = (rec_dir(tmp_path) / "train.smoke.json").read_bytes()
    steps_csv = (run_dir(tmp_path) / "steps.csv").read_bytes()
    interrupted = start_and_kill(tmp_path, "--stages", "train", "--set", "epochs=40",
                                 rows=3 * STEPS_PER_EPOCH, sig=signal.SIGINT)
    assert interrupted.returncode == 130, interrupted.stderr_text
    assert "Traceback" not in interrupted.stderr_text
    assert (rec_dir(tmp_path) / "train.smoke.json").read_bytes() == train_json
    assert (run_dir(tmp_path) / "steps.csv").read_bytes() == steps_csv
    failure = json.loads((rec_dir(tmp_path) / "train.smoke.failed.json").read_text())
    assert failure["status"] == "interrupted" and "KeyboardInterrupt" in failure["error"]


@pytest.mark.slow
def test_bad_records_and_paths_are_one_line(tmp_path):
    # a wrong-shape train record: evaluate names it and stops
    rec_dir(tmp_path).mkdir(parents=True)
    (rec_dir(tmp_path) / "train.smoke.json").write_text(json.dumps([1, 2, 3]))
    line = one_line(run(tmp_path, "--stages", "evaluate"))
    assert "train.smoke.json: corrupt run record (a JSON list, not an object)" in line

    # check and report skip a corrupt record, report the rest and exit non-zero
    good = {"schema": 1, "reproduction": NAME, "stage": "evaluate", "smoke": True,
            "status": "ok", "inputs_hash": "x", "result": {"metrics": {"acc@1": 100.0},
                                                           "eval_size": 60}}
    (rec_dir(tmp_path) / "evaluate.smoke.json").write_text(json.dumps(good))
    bad = tmp_path / "rec" / "vis4mer_coin" / "evaluate.smoke.json"
    bad.parent.mkdir()
    bad.write_text('{"stage": "evaluate", "status": "ok", "result": {"metrics": {"acc@1": "high"}}}')
    check = cli("check", "--records-dir", tmp_path / "rec")
    assert check.returncode == 1 and "Traceback" not in check.stderr
    rows = check.stdout.splitlines()
    assert any(r.startswith("PASS") and NAME in r and "[smoke]" in r for r in rows)
    assert any(r.startswith("FAIL") and "vis4mer_coin" in r and str(bad) in r for r in rows)
    report = cli("report", "--records-dir", tmp_path / "rec", "--out", tmp_path / "r" / "x.md")
    line = one_line(report)
    assert str(bad) in line and "report written" in line
    assert "100" in (tmp_path / "r" / "x.md").read_text()

    # a file where a folder is expected, a folder where a file is expected
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert "--records-dir" in one_line(cli("check", "--records-dir", a_file))
    assert "--records-dir" in one_line(cli("report", "--records-dir", a_file,
                                           "--out", tmp_path / "r.md"))
    assert "--output-dir" in one_line(cli("run", NAME, "--smoke", "--output-dir", a_file,
                                          "--records-dir", tmp_path / "rec2"))
    assert "is a folder" in one_line(cli("report", "--records-dir", tmp_path / "rec",
                                         "--out", tmp_path))


@pytest.mark.slow
def test_second_run_of_a_run_folder_is_refused(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(cmd(tmp_path, "--stages", "train", "--set", "epochs=200"),
                             cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
    log = run_dir(tmp_path) / "steps.partial.csv"
    try:
        deadline = time.time() + 240
        while not log.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None
        line = one_line(run(tmp_path, "--stages", "train", "--set", "epochs=1"))
        assert f"pid {first.pid}" in line and "in use by another run" in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    rows = [r for r in log.read_text().splitlines()[1:]]
    assert [int(r.split(",")[1]) for r in rows] == list(range(1, len(rows) + 1))  # one writer
    # SIGKILL released the lock
    after = run(tmp_path, "--stages", "train", "--set", "epochs=1")
    assert after.returncode == 0, after.stderr
