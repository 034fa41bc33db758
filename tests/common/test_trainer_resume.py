"""Exact resume after SIGKILL, and the NaN guard keeping the last good checkpoint.

The smoke training has dropout, a shuffled loader, random augmentation, an EMA, a
warm-up/cosine schedule, gradient accumulation and an extra stateful object, so every piece
of restored state matters: a resumed run must equal an uninterrupted one bit for bit.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from reproducers.common.checkpoint import load_checkpoint
from reproducers.common.distributed import distributed_evaluate
from reproducers.common.ema import Ema
from reproducers.common.trainer import (
    NonFiniteLoss,
    TrainConfig,
    fit,
    param_groups,
    warmup_cosine,
)
from reproducers.harness.errors import UserError

REPO = Path(__file__).resolve().parents[2]
EPOCHS, N, GLOBAL_BATCH = 4, 44, 8  # 5 steps per epoch (4 samples dropped), 20 steps
MARKER_ENV = "TRAINER_RESUME_MARKER"


class Noisy(Dataset):
    """Fixed points plus per-draw noise (augmentation drawn from the global torch RNG)."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 6, generator=g)
        self.y = (self.x[:, :2].sum(1) > 0).long() + (self.x[:, 2] > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.3 * torch.randn(6), self.y[i]


class Counter:
    def __init__(self):
        self.n = 0

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


def train(out: Path, resume=None, nan_at: int | None = None):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
        opt = torch.optim.AdamW(param_groups(model, 5e-3, 0.05), lr=5e-3)
        sched = warmup_cosine(opt, warmup_steps=3, total_steps=EPOCHS * 5, min_lr=1e-4)
        counter, marker, calls = Counter(), os.environ.get(MARKER_ENV), [0]
        val = Noisy(13, seed=99)

        def step_loss(m, batch):
            calls[0] += 1
            if marker:
                with open(marker, "a") as fh:
                    fh.write(f"{calls[0]}\n")
                time.sleep(0.03)
            x, y = batch
            loss = nn.functional.cross_entropy(m(x), y)
            if nan_at is not None and calls[0] >= 2 * nan_at - 1:
                loss = loss * float("nan")
            return loss

        def evaluate(m):
            m.eval()
            res = distributed_evaluate(lambda b: (m(b[0]), {"y": b[1]}), val, batch_size=4)
            acc = (res["outputs"].argmax(1) == res["y"]).double().mean().item()
            return {"val_acc": acc, "val_logit_sum": res["outputs"].double().sum().item(),
                    "after_epoch_calls": counter.n}

        cfg = TrainConfig(epochs=EPOCHS, global_batch=GLOBAL_BATCH, accum=2, grad_clip=1.0,
                          select="best", select_metric="val_acc", seed=11,
                          checkpoint_every_steps=3, progress=False, tensorboard=True)
        return fit(model, opt, Noisy(N, seed=5), step_loss, cfg, out, scheduler=sched,
                   ema=Ema(0.8),
                   evaluate=evaluate, after_epoch=lambda e, row: setattr(counter, "n", counter.n + 1),
                   extra_state={"counter": counter}, resume=resume, log=lambda _m: None)
    finally:
        torch.set_num_threads(threads)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _no_time(history):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_then_resume_auto_is_bit_exact(tmp_path):
    kill_step = random.Random(20240601).randint(3, 17)
    reference = train(tmp_path / "reference")

    out, marker = tmp_path / "killed", tmp_path / "marker.txt"
    env = {**os.environ, MARKER_ENV: str(marker)}
    child = subprocess.Popen([sys.executable, "-m", "tests.common.test_trainer_resume",
                              str(out)], cwd=REPO, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and child.poll() is None:
        if marker.exists() and len(marker.read_text().split()) >= 2 * kill_step:
            os.kill(child.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    assert child.wait(timeout=30) == -signal.SIGKILL, "the child ended before being killed"
    calls = len(marker.read_text().split())
    saved = load_checkpoint(out / "checkpoint_last.pt")["progress"]["global_step"]
    print(f"killed during optimizer step {(calls + 1) // 2} (target {kill_step}); "
          f"last checkpoint at step {saved}")
    assert 0 < saved < EPOCHS * 5

    resumed = train(out, resume="auto")
    assert resumed.resumed_from["global_step"] == saved
    assert _no_time(resumed.history) == _no_time(reference.history)
    assert resumed.selected_epoch == reference.selected_epoch
    for name in ("model_best.pt", "model_last.pt"):
        assert _same_state(load_checkpoint(out / name), load_checkpoint(tmp_path / "reference" / name))
    a = load_checkpoint(out / "checkpoint_last.pt")
    b = load_checkpoint(tmp_path / "reference" / "checkpoint_last.pt")
    assert _same_state(a["model"], b["model"]) and _same_state(a["ema"], b["ema"])
    assert a["rng"][0]["torch"].equal(b["rng"][0]["torch"])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == EPOCHS * 5
    steps_a = [(r["step"], r["loss"], r["lr"]) for r in _rows(out / "steps.csv")]
    steps_b = [(r["step"], r["loss"], r["lr"]) for r in _rows(tmp_path / "reference" / "steps.csv")]
    assert steps_a == steps_b and len(steps_a) == EPOCHS * 5


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLoss) as err:
        train(tmp_path, nan_at=5)  # checkpoints every 3 steps: the last good one is step 3
    message = str(err.value)
    assert "epoch 1 step 5" in message and str(tmp_path / "checkpoint_last.pt") in message
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    progress = state["progress"]
    assert (progress["epoch"], progress["step_in_epoch"], progress["global_step"]) == (1, 3, 3)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    # the stopped run's log stays partial: a finished run's steps.csv would be kept
    assert [r["step"] for r in _rows(tmp_path / "steps.partial.csv")] == ["1", "2", "3", "4"]
    assert not (tmp_path / "steps.csv").exists()
    assert isinstance(err.value, UserError)  # the CLI prints one line and exits 2


if __name__ == "__main__":  # the child killed by the test above
    train(Path(sys.argv[1]))
