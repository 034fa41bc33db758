"""A time-blind ViS4mer: the same model fed the temporal mean of its input at every step.

An ablation for the smoke claim "ViS4mer beats a time-blind model on the synthetic order
task" (expected.toml ``[[claim]]``): the synthetic classes differ only in the order of their
events (synthetic.py), so this model trains and evaluates like ViS4mer but cannot beat
chance. Same parameters and names as ``ViS4mer`` (its checkpoints load either way).
"""

from __future__ import annotations

import torch

from .model import ViS4mer


class TimeBlindViS4mer(ViS4mer):
    def forward(self, x: torch.Tensor, apply_encoder: bool | None = None) -> torch.Tensor:
        x = x.mean(dim=1, keepdim=True).expand_as(x)  # (B, L, D): every step the same
        return super().forward(x, apply_encoder)
