"""Training at scale through the CLI, on CPU with gloo: `--nproc 2` equals one process with
the same global batch by accumulation, and a run killed with SIGKILL at a random step and
re-run with `--resume auto` ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import torch

from reproducers.harness.provenance import REPO_ROOT

BASE = ["run", "vis4mer_breakfast", "--smoke", "--set", "epochs=3", "--no-progress",
        "--stages", "train", "evaluate"]


def _cmd(tmp, *extra):
    return [sys.executable, "-m", "reproducers", *BASE, "--records-dir", str(tmp / "rec"),
            "--output-dir", str(tmp / "runs"), "--report", str(tmp / "r.md"), *extra]


def _run(tmp, *extra):
    proc = subprocess.run(_cmd(tmp, *extra), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _steps(tmp):
    with open(tmp / "runs" / "vis4mer_breakfast-smoke" / "steps.csv") as fh:
        return list(csv.DictReader(fh))


def _record(tmp, stage):
    return json.loads((tmp / "rec" / "vis4mer_breakfast" / f"{stage}.smoke.json").read_text())


def _weights(tmp, name="model_last.pt"):
    return torch.load(tmp / "runs" / "vis4mer_breakfast-smoke" / name, weights_only=True)


def test_two_processes_equal_one_process_with_accumulation(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    deterministic = ("--set", "model.dropout=0")
    _run(one, *deterministic, "--set", "per_device_batch=8")  # 1 process x accum 2
    _run(two, *deterministic, "--nproc", "2")  # 2 processes x 8
    a, b = _steps(one), _steps(two)
    assert len(a) == len(b) == 24  # 3 epochs x ceil(120 / 16)
    assert max(abs(float(x["loss"]) - float(y["loss"])) for x, y in zip(a, b, strict=True)) < 1e-5
    ra, rb = _record(one, "train"), _record(two, "train")
    assert (ra["world_size"], ra["result"]["accum"]) == (1, 2)
    assert (rb["world_size"], rb["result"]["accum"]) == (2, 1)
    assert _record(one, "evaluate")["result"]["metrics"] == _record(two, "evaluate")["result"]["metrics"]


def test_sigkill_then_resume_auto_matches_uninterrupted_run(tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    every_step = ("--set", "checkpoint_every_steps=1")  # dropout stays on: RNG restore matters
    _run(ref, *every_step)
    kill_at = random.Random(20261121).randint(3, 20)
    proc = subprocess.Popen(_cmd(cut, *every_step), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    steps_csv = cut / "runs" / "vis4mer_breakfast-smoke" / "steps.partial.csv"  # until the end
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if steps_csv.exists() and len(steps_csv.read_text().splitlines()) - 1 >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (cut / "rec" / "vis4mer_breakfast" / "train.smoke.json").exists()
    _run(cut, *every_step, "--resume", "auto")
    train = _record(cut, "train")["result"]
    assert train["resumed_from"] is not None
    assert _record(cut, "evaluate")["result"]["metrics"] == _record(ref, "evaluate")["result"]["metrics"]
    wa, wb = _weights(ref), _weights(cut)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["loss"] for r in _steps(cut)] == [r["loss"] for r in _steps(ref)]


def test_slurm_launcher_runs_one_task_per_gpu_through_submitit(tmp_path):
    """Without SLURM, submitit's AutoExecutor runs the job's tasks as local processes: the
    same code path as on a cluster (job submission, task env, init_distributed)."""
    _run(tmp_path, "--set", "epochs=1", "--launcher", "slurm", "--gpus-per-node", "2",
         "--slurm-folder", str(tmp_path / "slurm"), "--slurm-wait")
    rec = _record(tmp_path, "train")
    assert rec["status"] == "ok" and rec["world_size"] == 2
    assert len(list((tmp_path / "slurm").glob("*_log.out"))) == 2
    assert _record(tmp_path, "evaluate")["result"]["eval_size"] == 60
