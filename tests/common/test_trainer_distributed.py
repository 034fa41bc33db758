"""2 processes x accum 1 == 1 process x accum 2: same samples per step, same losses/weights;
and a 2-process checkpoint resumes on 1 process (the data order does not depend on the world).

CPU, gloo, fp32; a tiny deterministic model (no dropout) on synthetic data.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import Dataset

from reproducers.common.checkpoint import load_checkpoint
from reproducers.common.distributed import cleanup, init_distributed
from reproducers.common.ema import TimmEma
from reproducers.common.trainer import TrainConfig, fit, param_groups, warmup_cosine

STEPS = 20  # 2 epochs x 80 samples / global batch 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_gloo(rank: int, world: int, port: int):
    """In a spawned test worker: the torchrun environment of ``rank`` on localhost, then the
    CPU (gloo) process group; returns ``init_distributed``'s handle."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    return init_distributed("cpu")


class Blobs(Dataset):
    def __init__(self, n: int = 80):
        g = torch.Generator().manual_seed(7)
        self.x = torch.randn(n, 6, generator=g)
        self.y = (self.x[:, :3].sum(1) > 0).long() + (self.x[:, 3] > 0.5).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def step_loss(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def train(out: Path, dist=None, epochs: int = 2, resume=None):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.AdamW(param_groups(model, 1e-2, 0.05), lr=1e-2)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=STEPS, min_lr=1e-4)
    cfg = TrainConfig(epochs=epochs, global_batch=8, declared_gpus=2, grad_clip=1.0,
                      seed=3, progress=False, tensorboard=False)
    return fit(model, opt, Blobs(), step_loss, cfg, out, scheduler=sched, ema=TimmEma(0.9),
               dist=dist,
               resume=resume, log=lambda _m: None)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    dist = join_gloo(rank, world, port)
    try:
        res = train(Path(out), dist)
        if dist.is_main:
            Path(out, "result.json").write_text(json.dumps(
                {"world_size": res.world_size, "accum": res.accum,
                 "per_device_batch": res.per_device_batch, "mismatch": res.mismatch,
                 "backend": dist.backend}))
    finally:
        cleanup()


def losses(out: Path) -> list[float]:
    with open(out / "steps.csv", newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_two_processes_match_one_process_with_accumulation(tmp_path):
    one = train(tmp_path / "one")
    assert (one.world_size, one.accum, one.per_device_batch) == (1, 2, 4)
    assert one.mismatch and "world size 1" in one.mismatch and "2 GPU" in one.mismatch

    two = tmp_path / "two"
    mp.spawn(_worker, args=(2, free_port(), str(two)), nprocs=2, join=True)
    info = json.loads((two / "result.json").read_text())
    assert info == {"world_size": 2, "accum": 1, "per_device_batch": 4, "mismatch": None,
                    "backend": "gloo"}

    a, b = losses(tmp_path / "one"), losses(two)
    assert len(a) == len(b) == STEPS
    diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
    print(f"max |loss 1-proc - loss 2-proc| over {STEPS} steps: {diff:.3g}")
    assert diff <= 1e-5
    for name in ("model_last.pt",):  # EMA weights
        wa, wb = load_checkpoint(tmp_path / "one" / name), load_checkpoint(two / name)
        assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-5
    ra = load_checkpoint(tmp_path / "one" / "checkpoint_last.pt")["model"]
    rb = load_checkpoint(two / "checkpoint_last.pt")["model"]
    wdiff = max((ra[k] - rb[k]).abs().max().item() for k in ra)
    print(f"max |weight 1-proc - weight 2-proc|: {wdiff:.3g}")
    assert wdiff <= 1e-5

    # elastic: the 2-process checkpoint (end of epoch 2) resumed on 1 process for a 3rd epoch
    shutil.copytree(two, tmp_path / "elastic")
    elastic = train(tmp_path / "elastic", epochs=3, resume="auto")
    assert elastic.resumed_from == {"epoch": 3, "step_in_epoch": 0, "global_step": STEPS}
    straight = train(tmp_path / "three", epochs=3)
    assert losses(tmp_path / "elastic") == losses(tmp_path / "three")
    ea = load_checkpoint(tmp_path / "elastic" / "model_last.pt")
    eb = load_checkpoint(tmp_path / "three" / "model_last.pt")
    assert max((ea[k] - eb[k]).abs().max().item() for k in ea) <= 1e-5
    assert straight.steps == elastic.steps == STEPS + 10
