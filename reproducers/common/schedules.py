"""Recipe arithmetic: batch plan, parameter groups, LR scaling and per-step LR schedules.

``plan_batch`` keeps a recipe's global batch on any number of processes by gradient
accumulation and reports when the world size differs from the GPU count the recipe declares.

``param_groups`` builds the groups a recipe declares: no weight decay for the parameters it
names (biases and norm scales by default) and per-module LR multipliers (``{"backbone.":
0.1}``). The schedules are ``LambdaLR`` objects stepped once per optimizer step; their
factors are plain closures, so their ``state_dict`` holds only numbers (weights_only-safe)
and a resumed run continues from the stored ``last_epoch`` (= optimizer steps done).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR

from reproducers.harness.errors import UserError

Predicate = Callable[[str, torch.nn.Parameter], bool]


def one_dim(name: str, p: torch.nn.Parameter) -> bool:
    """Biases and norm scales/shifts: the 1-D tensors (timm's ``param_groups_weight_decay``)."""
    return p.ndim <= 1


def _matches(name: str, p, rule: str | Predicate) -> bool:
    if callable(rule):
        return bool(rule(name, p))
    # a whole dotted component or run of components: "bias" matches "head.bias",
    # "pos_embed" matches "encoder.pos_embed", "blocks.0" matches "blocks.0.mlp.fc1.weight"
    return f".{rule.strip('.')}." in f".{name}."


def param_groups(model: torch.nn.Module, lr: float, weight_decay: float, *,
                 no_decay: Iterable[str | Predicate] = (one_dim,),
                 lr_mult: Mapping[str, float] | None = None) -> list[dict]:
    """Optimizer groups: one per (decay or not, LR multiplier) present in ``model``.

    ``no_decay``: names (a dotted component or run of components of the parameter name,
    e.g. "bias", "pos_embed", "cls_token") or predicates ``(name, param) -> bool``; a matching
    parameter gets weight decay 0. ``lr_mult``: ``{name prefix: multiplier}``; the longest
    matching prefix wins, others get 1. Frozen parameters (``requires_grad=False``) are left
    out. Each group carries ``lr`` (= lr x multiplier), ``weight_decay``, ``lr_mult`` and a
    ``group_name`` such as ``"decay_x0.1"``; schedules scale every group's own LR.
    """
    rules = list(no_decay)
    mults = sorted((lr_mult or {}).items(), key=lambda kv: -len(kv[0]))
    groups: dict[tuple[bool, float], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = not any(_matches(name, p, r) for r in rules)
        mult = next((float(m) for prefix, m in mults if name.startswith(prefix)), 1.0)
        key = (decay, mult)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr * mult,
                           "weight_decay": weight_decay if decay else 0.0, "lr_mult": mult,
                           "group_name": f"{'decay' if decay else 'no_decay'}_x{mult:g}"}
        groups[key]["params"].append(p)
    return list(groups.values())


def scaled_lr(base_lr: float, global_batch: int, base_batch: int, rule: str = "linear") -> float:
    """The LR a recipe declares for ``base_batch``, rescaled to ``global_batch``.

    ``rule``: "linear" (Goyal et al.: lr x batch / base_batch, as MAE/VideoMAE ``blr``),
    "sqrt" (lr x sqrt(batch / base_batch)) or "none".
    """
    ratio = global_batch / base_batch
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    if rule == "none":
        return base_lr
    raise UserError(f"unknown LR-scaling rule {rule!r}: use linear, sqrt or none")


@dataclass(frozen=True)
class BatchPlan:
    global_batch: int
    world_size: int
    per_device_batch: int
    accum: int
    declared_gpus: int | None
    mismatch: str | None  # world size differs from the declared GPU count

    def summary(self) -> str:
        return (f"global batch {self.global_batch} = {self.world_size} process(es) x "
                f"{self.per_device_batch} per device x {self.accum} accumulation step(s)")


def plan_batch(global_batch: int, world_size: int, *, per_device_batch: int | None = None,
               accum: int | None = None, declared_gpus: int | None = None) -> BatchPlan:
    """Per-device batch and accumulation keeping ``global_batch`` on ``world_size`` processes.

    Given ``per_device_batch`` (and/or ``accum``) they must multiply with the world size to
    ``global_batch``. Otherwise the recipe's per-GPU batch ``global_batch / declared_gpus`` is
    kept and ``accum = declared_gpus / world_size`` (more processes than declared GPUs: the
    per-device batch shrinks, accum 1); with nothing declared, accum is 1.
    """
    g, w = int(global_batch), int(world_size)
    if g < 1 or w < 1:
        raise UserError(f"global batch {g} and world size {w} must be positive")
    hint = "set per_device_batch (or accum) so that world x per_device_batch x accum = global"
    b, a = per_device_batch, accum
    if b is None and a is None and declared_gpus:
        if g % declared_gpus == 0 and declared_gpus % w == 0:
            b = g // declared_gpus
        elif w > declared_gpus:
            a = 1
    a = a if a is not None else (g // (w * b) if b else 1)
    b = b if b is not None else g // (w * a)
    if b < 1 or a < 1 or w * b * a != g:
        raise UserError(f"global batch {g} cannot be split over {w} process(es)"
                        f" (per-device batch {per_device_batch}, accum {accum},"
                        f" declared GPUs {declared_gpus}): {hint}")
    mismatch = None
    if declared_gpus and declared_gpus != w:
        mismatch = (f"world size {w} differs from the {declared_gpus} GPU(s) the recipe "
                    f"declares: global batch {g} kept as {w} x {b} x accum {a}")
    return BatchPlan(g, w, b, a, declared_gpus, mismatch)


def _warmup(step: int, warmup_steps: int, start_factor: float) -> float:
    return start_factor + (1.0 - start_factor) * step / warmup_steps


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                  min_lr: float = 0.0, warmup_start_factor: float = 0.0) -> LambdaLR:
    """Linear warm-up then half-cosine decay, per optimizer step ``s`` (0-based).

    For a group of base LR ``b`` (the LR it has when this is built):
      - ``s < warmup_steps``: ``b * (f0 + (1 - f0) * s / warmup_steps)``, ``f0`` =
        ``warmup_start_factor`` (0: the first step runs at LR 0, as MAE/VideoMAE);
      - ``s >= warmup_steps``: ``m + (b - m) * (1 + cos(pi * p)) / 2`` with
        ``p = (s - warmup_steps) / (total_steps - warmup_steps)`` clipped to [0, 1];
    so the LR is ``b`` at the end of warm-up, ``(b + m) / 2`` half-way through the decay and
    ``m`` at ``total_steps``. ``min_lr`` is the floor of the group with the largest base LR;
    the other groups keep their ratio to it (``m = min_lr * b / max b``, as MAE's lr_scale).
    """
    if total_steps <= warmup_steps:
        raise UserError(f"total steps {total_steps} must exceed warm-up steps {warmup_steps}")
    top = max(g["lr"] for g in optimizer.param_groups) or 1.0
    floor = min_lr / top

    def factor(step: int) -> float:
        if step < warmup_steps:
            return _warmup(step, warmup_steps, warmup_start_factor)
        p = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * p))

    return LambdaLR(optimizer, factor)


def warmup_step(optimizer: torch.optim.Optimizer, warmup_steps: int, milestones: Sequence[int],
                gamma: float = 0.1, warmup_start_factor: float = 0.0) -> LambdaLR:
    """Linear warm-up (as ``warmup_cosine``) then ``gamma ** k`` with ``k`` the number of
    ``milestones`` (optimizer steps, ascending) already reached: at step ``s >= milestone``."""
    marks = sorted(int(m) for m in milestones)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return _warmup(step, warmup_steps, warmup_start_factor)
        return gamma ** bisect.bisect_right(marks, step)

    return LambdaLR(optimizer, factor)
