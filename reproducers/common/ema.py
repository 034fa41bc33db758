"""Exponential moving averages of the weights, passed to ``trainer.fit(ema=...)``.

Every EMA averages the whole state dict (timm ``ModelEmaV3``: parameters and float buffers;
integer buffers are copied) once after every optimizer step; they differ only in the decay
used at optimizer step ``step`` (1-based, counted over the whole run):

- ``Ema(decay)``: the constant decay from the initial weights (timm ``ModelEma``/
  ``ModelEmaV2`` as DeiT-style scripts update them once per optimizer step);
- ``TimmEma(decay, warmup=False)``: timm ``train.py``'s ``update(model, step=...)``: the
  first update copies the weights, then the constant decay (``warmup``: the decay ramps up to
  ``decay``, timm ``use_warmup``);
- ``YoloxEma(momentum, total_iter)``: mmdet ``ExpMomentumEMAHook`` (YOLOX; the Streaming
  Video Model's tracker): the new weights' share at 0-based step ``it`` is
  ``(1 - momentum) * exp(-(it + 1) / total_iter) + momentum``.

Interface (what ``fit`` uses): ``attach(model)`` copies the model once it is on its device,
``update(model, step)``, ``module`` (the averaged copy that evaluation and the saved weights
use), ``state_dict()`` / ``load_state_dict()`` for checkpoints (the keys of ``ModelEmaV3``'s
own state dict, so checkpoints written before these classes existed still resume).
"""

from __future__ import annotations

import math

import torch
from timm.utils import ModelEmaV3

from reproducers.harness.errors import UserError

__all__ = ["Ema", "TimmEma", "YoloxEma", "yolox_ema_momentum"]


class Ema:
    """Constant decay from the initial weights (see the module doc)."""

    def __init__(self, decay: float):
        if not 0.0 <= decay < 1.0:
            raise UserError(f"EMA decay {decay}: use a value in [0, 1)")
        self.decay = float(decay)
        self._avg: ModelEmaV3 | None = None

    def _averager(self, model: torch.nn.Module) -> ModelEmaV3:
        owner = self

        class _Averager(ModelEmaV3):
            def get_decay(self, step=None):
                return owner.decay_at(step)

        return _Averager(model, decay=self.decay)

    def decay_at(self, step: int | None) -> float:
        """The decay of the update after optimizer step ``step`` (1-based)."""
        return self.decay

    def attach(self, model: torch.nn.Module) -> Ema:
        """Start averaging ``model`` (a copy of its current weights, on its device)."""
        self._avg = self._averager(model)
        return self

    def _attached(self) -> ModelEmaV3:
        if self._avg is None:
            raise RuntimeError(f"{type(self).__name__}.attach(model) was not called")
        return self._avg

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        self._attached().update(model, step=step)

    @property
    def module(self) -> torch.nn.Module:
        """The averaged model (evaluation, saved weights)."""
        return self._attached().module

    def state_dict(self) -> dict:
        return self._attached().state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._attached().load_state_dict(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(decay={self.decay:g})"


class TimmEma(Ema):
    """timm ``train.py``: the first update copies the weights (optionally a warm-up decay)."""

    def __init__(self, decay: float, warmup: bool = False):
        super().__init__(decay)
        self.warmup = bool(warmup)

    def _averager(self, model: torch.nn.Module) -> ModelEmaV3:
        return ModelEmaV3(model, decay=self.decay, use_warmup=self.warmup)

    def decay_at(self, step: int | None) -> float:
        return ModelEmaV3.get_decay(self._attached(), step)

    def __repr__(self) -> str:
        return f"TimmEma(decay={self.decay:g}, warmup={self.warmup})"


def yolox_ema_momentum(it: int, momentum: float = 1e-4, total_iter: int = 2000) -> float:
    """mmdet ``ExpMomentumEMAHook``: weight of the new value at (0-based) iteration ``it``."""
    return (1 - momentum) * math.exp(-(it + 1) / total_iter) + momentum


class YoloxEma(Ema):
    """mmdet ``ExpMomentumEMAHook`` (see the module doc); ``momentum`` is mmdet's (1e-4)."""

    def __init__(self, momentum: float = 1e-4, total_iter: int = 2000):
        if not 0.0 < momentum < 1.0 or total_iter <= 0:
            raise UserError(f"YOLOX EMA momentum {momentum} / total_iter {total_iter}: use a "
                            "momentum in (0, 1) and a positive total_iter")
        super().__init__(1.0 - momentum)
        self.momentum, self.total_iter = float(momentum), int(total_iter)

    def decay_at(self, step: int | None) -> float:
        it = 0 if step is None else step - 1  # fit passes the 1-based optimizer step
        return 1.0 - yolox_ema_momentum(it, self.momentum, self.total_iter)

    def __repr__(self) -> str:
        return f"YoloxEma(momentum={self.momentum:g}, total_iter={self.total_iter})"
