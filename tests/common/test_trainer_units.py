"""Unit tests: parameter groups, LR schedules, batch/accumulation arithmetic, samplers."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from torch import nn

from reproducers.common.distributed import (
    DistEnv,
    GlobalBatchSampler,
    _first_host,
    init_distributed,
)
from reproducers.common.trainer import (
    TrainConfig,
    fit,
    param_groups,
    plan_batch,
    scaled_lr,
    warmup_cosine,
    warmup_step,
)
from reproducers.harness.errors import UserError


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.backbone.pos_embed = nn.Parameter(torch.zeros(1, 3, 4))
        self.head = nn.Linear(4, 2)
        self.frozen = nn.Parameter(torch.zeros(2, 2), requires_grad=False)


def _names(model, group):
    ids = {id(p) for p in group["params"]}
    return sorted(n for n, p in model.named_parameters() if id(p) in ids)


def test_param_groups_no_decay_and_lr_multipliers():
    model = Net()
    groups = param_groups(model, lr=1e-3, weight_decay=0.05,
                          no_decay=("bias", "pos_embed", lambda n, p: "backbone.1" in n),
                          lr_mult={"backbone.": 0.1, "backbone.1.": 0.5})
    by = {g["group_name"]: g for g in groups}
    assert _names(model, by["decay_x0.1"]) == ["backbone.0.weight"]
    assert _names(model, by["no_decay_x0.1"]) == ["backbone.0.bias", "backbone.pos_embed"]
    assert _names(model, by["no_decay_x0.5"]) == ["backbone.1.bias", "backbone.1.weight"]
    assert _names(model, by["decay_x1"]) == ["head.weight"]
    assert _names(model, by["no_decay_x1"]) == ["head.bias"]
    assert by["decay_x0.1"]["lr"] == pytest.approx(1e-4)
    assert by["no_decay_x0.5"]["lr"] == pytest.approx(5e-4)
    assert by["decay_x1"]["weight_decay"] == 0.05 and by["no_decay_x1"]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in groups) == 7  # the frozen tensor is left out
    # default: every 1-D tensor (biases, norm scales) without decay
    default = {g["group_name"]: _names(model, g) for g in param_groups(model, 1e-3, 0.05)}
    assert default["no_decay_x1"] == ["backbone.0.bias", "backbone.1.bias",
                                      "backbone.1.weight", "head.bias"]
    torch.optim.AdamW(groups)  # the extra keys are accepted


def _lrs(sched, steps):
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in sched.optimizer.param_groups])
        sched.optimizer.step()
        sched.step()
    return out


def test_warmup_cosine_values_and_group_ratio():
    p, q = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 1.0}, {"params": [q], "lr": 0.1}], lr=1.0)
    lrs = _lrs(warmup_cosine(opt, warmup_steps=10, total_steps=110, min_lr=0.01), 111)
    assert lrs[0] == [0.0, 0.0]
    assert lrs[5][0] == pytest.approx(0.5)
    assert lrs[10][0] == pytest.approx(1.0)  # warm-up end
    assert lrs[60][0] == pytest.approx((1.0 + 0.01) / 2)  # half-way through the decay
    assert lrs[110][0] == pytest.approx(0.01)  # end
    assert all(b == pytest.approx(a * 0.1) for a, b in lrs)  # multipliers kept
    with pytest.raises(UserError):
        warmup_cosine(opt, warmup_steps=10, total_steps=10)


def test_warmup_step_values_and_weights_only_state():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.4)
    sched = warmup_step(opt, warmup_steps=4, milestones=[10, 20], gamma=0.5,
                        warmup_start_factor=0.25)
    lrs = [lr[0] for lr in _lrs(sched, 25)]
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.25)
    assert lrs[4] == lrs[9] == pytest.approx(0.4)
    assert lrs[10] == lrs[19] == pytest.approx(0.2) and lrs[20] == pytest.approx(0.1)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["last_epoch"] == 25


def test_scaled_lr_rules():
    assert scaled_lr(1e-3, 512, 256, "linear") == pytest.approx(2e-3)
    assert scaled_lr(1e-3, 1024, 256, "sqrt") == pytest.approx(2e-3)
    assert scaled_lr(1e-3, 1024, 256, "none") == 1e-3
    with pytest.raises(UserError):
        scaled_lr(1e-3, 1024, 256, "cubic")


def test_plan_batch_arithmetic():
    p = plan_batch(256, 2, declared_gpus=8)
    assert (p.per_device_batch, p.accum) == (32, 4) and "declares" in p.mismatch
    assert plan_batch(256, 8, declared_gpus=8).mismatch is None
    p = plan_batch(256, 16, declared_gpus=8)  # more GPUs than declared: smaller device batch
    assert (p.per_device_batch, p.accum) == (16, 1) and p.mismatch
    assert (plan_batch(64, 2, per_device_batch=8).accum) == 4
    assert (plan_batch(64, 2, accum=4).per_device_batch) == 8
    assert (plan_batch(64, 1).per_device_batch, plan_batch(64, 1).accum) == (64, 1)


@pytest.mark.parametrize("kwargs", [
    {"global_batch": 64, "world_size": 3},  # not divisible
    {"global_batch": 64, "world_size": 2, "per_device_batch": 6},
    {"global_batch": 64, "world_size": 2, "per_device_batch": 8, "accum": 2},
    {"global_batch": 256, "world_size": 3, "declared_gpus": 8},
    {"global_batch": 0, "world_size": 1},
])
def test_plan_batch_errors(kwargs):
    with pytest.raises(UserError, match="global batch"):
        plan_batch(**kwargs)


def test_config_validation():
    with pytest.raises(UserError, match="amp"):
        TrainConfig(epochs=1, global_batch=4, amp="fp8").plan(1)
    with pytest.raises(UserError, match="select"):
        TrainConfig(epochs=1, global_batch=4, select="first").plan(1)
    assert TrainConfig(epochs=1, global_batch=4).steps_per_epoch(10) == 2
    assert TrainConfig(epochs=1, global_batch=4, drop_last=False).steps_per_epoch(10) == 3


def _steps(sampler_kwargs, world, accum, epoch=0, start=0):
    per_rank = []
    for r in range(world):
        s = GlobalBatchSampler(rank=r, world_size=world, accum=accum, **sampler_kwargs)
        s.set_epoch(epoch)
        s.set_start_step(start)
        batches = list(s)
        per_rank.append([sum(batches[i:i + accum], []) for i in range(0, len(batches), accum)])
    return [sorted(sum((rank[k] for rank in per_rank), [])) for k in range(len(per_rank[0]))]


def test_global_batches_do_not_depend_on_world_size():
    kw = {"n": 37, "global_batch": 8, "seed": 5}
    ref = _steps(kw, 1, 1)
    assert len(ref) == 4 and all(len(b) == 8 for b in ref)
    for world, accum in ((1, 2), (2, 1), (2, 2), (4, 2), (8, 1)):
        assert _steps(kw, world, accum) == ref
    assert _steps(kw, 2, 2, start=3) == ref[3:]  # mid-epoch start
    assert _steps(kw, 1, 1, epoch=1) != ref
    assert len(set(sum(ref, []))) == 32  # no repeats inside an epoch
    wrapped = _steps({**kw, "drop_last": False}, 2, 1)
    assert len(wrapped) == 5 and len(wrapped[-1]) == 8
    with pytest.raises(ValueError):
        GlobalBatchSampler(37, 8, world_size=3)


class Tiny(torch.utils.data.Dataset):
    def __len__(self):
        return 24

    def __getitem__(self, i):
        x = torch.full((3,), float(i)) / 24 + 0.1 * torch.randn(3)  # random augmentation
        return x, torch.tensor(i % 2)


def _tiny_fit(tmp_path, **cfg):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.2), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    conf = TrainConfig(epochs=2, global_batch=6, seed=1, progress=False, **cfg)
    fit(model, opt, Tiny(), lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), conf,
        tmp_path, log=lambda _m: None)
    with open(tmp_path / "steps.csv", newline="") as fh:
        return [r["loss"] for r in csv.DictReader(fh)]


def test_workers_do_not_change_the_samples(tmp_path):
    ref = _tiny_fit(tmp_path / "w0")
    assert len(ref) == 8
    assert _tiny_fit(tmp_path / "w2", num_workers=2, persistent_workers=True) == ref


def test_no_global_batch_is_a_user_error(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(UserError, match="no global batch"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), Tiny(),
            lambda m, b: m(b[0]).sum(), TrainConfig(epochs=1, global_batch=32), tmp_path)


def test_single_process_env_and_slurm_hosts(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "SUBMITIT_EXECUTOR", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    assert init_distributed("cpu") == DistEnv(device="cpu")
    assert DistEnv().is_main and not DistEnv().distributed
    assert _first_host("gpu[03-05,09],cpu1") == "gpu03"
    assert _first_host("node7") == "node7"
