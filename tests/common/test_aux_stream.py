"""The auxiliary stream (SViT's image rank): role split, endless sampling, and the update.

One SGD step must equal ``w - lr * ((1 - a) * grad(main mean loss) + a * grad(aux mean loss))``
whether every rank trains both streams (one process) or ranks are dedicated (2 gloo
processes: 1 main + 1 aux, the official 7 + 1 split scaled down).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from reproducers.common.aux_stream import AuxStream, AuxStreamStep, CyclingBatchSampler, plan_roles
from reproducers.common.checkpoint import load_checkpoint
from reproducers.common.distributed import cleanup
from reproducers.common.trainer import TrainConfig, fit
from reproducers.harness.errors import UserError

from .test_trainer_distributed import free_port, join_gloo

LR, WEIGHT = 0.5, 0.125


def test_roles_official_split_and_other_world_sizes():
    aux = AuxStream(dataset=None, global_batch=8, weight=1 / 8, step_loss=None,
                    dedicated_ranks=1)
    r7 = plan_roles(aux, 7, 8)  # the official image rank: local rank 7 of 8
    assert (r7.trains_main, r7.trains_aux, r7.aux_rank, r7.main_world) == (False, True, 0, 7)
    assert r7.aux_scale == pytest.approx(1.0) and r7.main_scale == pytest.approx(1.0)
    r0 = plan_roles(aux, 0, 8)
    assert (r0.trains_main, r0.trains_aux, r0.main_rank) == (True, False, 0)
    r1 = plan_roles(aux, 1, 2)  # 1 video + 1 image rank: scales keep 7/8 : 1/8
    assert (r1.main_scale, r1.aux_scale) == (pytest.approx(1.75), pytest.approx(0.25))
    shared = plan_roles(aux, 0, 1)  # one process trains both
    assert not shared.dedicated and shared.trains_main and shared.trains_aux
    assert (shared.main_scale, shared.aux_scale) == (0.875, 0.125)
    assert plan_roles(None, 0, 1).aux_scale == 0.0
    with pytest.raises(UserError, match="weight"):
        plan_roles(AuxStream(None, 8, 1.0, None), 0, 1)


def test_cycling_sampler_shares_resume_and_wraps():
    full = CyclingBatchSampler(10, 4, rank=0, world=1, seed=3)
    full.set_epoch(2)
    it = iter(full)
    steps = [next(it) for _ in range(5)]  # 2 batches per cycle: steps 2-4 start new cycles
    first_cycle = [i for s in steps[:2] for i, _ in s]
    assert len(set(first_cycle)) == 8  # no repeat within a permutation
    assert steps[0][0][1] != steps[2][0][1]  # a new cycle gets a new augmentation tag
    halves = []
    for r in range(2):
        s = CyclingBatchSampler(10, 4, rank=r, world=2, seed=3)
        s.set_epoch(2)
        s.set_start_step(3)
        halves.append(next(iter(s)))
    assert halves[0] + halves[1] == steps[3]
    with pytest.raises(UserError, match="divisible"):
        CyclingBatchSampler(10, 3, rank=0, world=2, seed=0)
    with pytest.raises(UserError, match="fewer than"):
        CyclingBatchSampler(3, 4, rank=0, world=1, seed=0)


def _data():
    g = torch.Generator().manual_seed(0)
    main = TensorDataset(torch.randn(4, 3, generator=g), torch.randn(4, 1, generator=g))
    aux = TensorDataset(torch.randn(2, 3, generator=g), torch.randn(2, 1, generator=g))
    return main, aux


def _mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def _abs(model, batch):
    x, y = batch
    return (model(x) - y).abs().mean()


def _run(out: Path, dist=None, dedicated: int = 0):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    main, aux = _data()
    cfg = TrainConfig(epochs=1, global_batch=4, seed=1, progress=False, shuffle=False)
    stream = AuxStream(aux, global_batch=2, weight=WEIGHT, step_loss=_abs,
                       dedicated_ranks=dedicated)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    fit(model, opt, main, AuxStreamStep(_mse, stream), cfg, out, dist=dist, log=lambda _m: None)
    return load_checkpoint(out / "model_last.pt")


def _expected():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    main, aux = _data()
    loss = (1 - WEIGHT) * _mse(model, main.tensors) + WEIGHT * _abs(model, aux.tensors)
    loss.backward()
    return {k: (p - LR * p.grad).detach() for k, p in model.named_parameters()}


def test_one_process_trains_both_streams_with_their_shares(tmp_path):
    got, want = _run(tmp_path / "one"), _expected()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist = join_gloo(rank, world, port)
    try:
        _run(Path(out), dist, dedicated=1)
    finally:
        cleanup()


def test_dedicated_aux_rank_gives_the_same_update(tmp_path):
    out = tmp_path / "two"
    mp.spawn(_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    got, want = load_checkpoint(out / "model_last.pt"), _expected()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6)
