"""ViS4mer's step in the device self-test (``harness/selftest.py``), as ``task.train`` runs
it: cross-entropy (MSE on output[:, 0] for the regression tasks) through ``task``'s own loss,
AdamW with the S4 parameter groups. This small model is also the self-test's probe for the
torch.compile and distributed checks."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from reproducers.harness.declarations import SelfTestHooks

from . import task
from .model import optimizer_param_groups


def train_steps(model, cfg, recipe, batch: int, device) -> list:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cfg["l_max"], cfg["d_input"], generator=g)
    if cfg["d_output"] == 1:
        y = torch.rand(batch, generator=g)
    else:
        y = torch.randint(0, cfg["d_output"], (batch,), generator=g)
    loss = task._loss(SimpleNamespace(model_config=cfg), device)
    return [[lambda m: loss(m, (x, y, None))]]


def optimizer(model, recipe):
    groups = optimizer_param_groups(model, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)


SELFTEST = SelfTestHooks(train_steps=train_steps, optimizer=optimizer, probe=True)
