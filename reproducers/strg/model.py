"""Whole models: the I3D baseline and I3D + STRG head (jd730's ``strg.STRG`` layout).

``STRG`` keeps jd730's state-dict layout: the backbone under ``base_model.`` without its
``fc`` (replaced by an identity, as jd730 does), the head's ``reducer``, ``classifier`` and
``strg_gcn.*`` at the top level, so a jd730 stage-2 checkpoint loads strictly (preset
``jd730``). BN of the backbone is frozen in training mode (paper: "BN frozen"; jd730:
``STRG.train``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .backbone import EXPANSION, WIDTHS, I3DResNet, build_i3d, freeze_batchnorm
from .head import STRGHead


class STRG(STRGHead):
    def __init__(self, base_model: I3DResNet, freeze_bn: bool = True,
                 freeze_backbone: bool = False, **head: Any):
        in_channels = base_model.fc.in_features
        super().__init__(in_channels=in_channels, **head)
        base_model.fc = nn.Identity()
        base_model.avgpool = nn.Identity()
        self.base_model = base_model
        self.freeze_bn = freeze_bn
        self.freeze_backbone = False
        self.set_freeze_backbone(freeze_backbone)

    def set_freeze_backbone(self, frozen: bool) -> None:
        """The paper's stage 2: the GCN trains on frozen I3D features (backbone in eval mode,
        no gradients)."""
        self.freeze_backbone = frozen
        for p in self.base_model.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            self.base_model.eval()

    def explain(self, x: torch.Tensor, rois: torch.Tensor, dense_graphs: bool = False
                ) -> dict[str, torch.Tensor]:
        return super().explain(self.base_model.extract_feature(x), rois, dense_graphs)

    def train(self, mode: bool = True) -> STRG:
        super().train(mode)
        if mode and self.freeze_backbone:
            self.base_model.eval()
        elif mode and self.freeze_bn:
            freeze_batchnorm(self.base_model)
        return self


def build_i3d_classifier(depth: int = 50, num_classes: int = 174, widen_factor: float = 1.0,
                         conv1_t_size: int = 5,
                         nonlocal_blocks: Mapping[str, Sequence[int]] | str | None = None,
                         dropout: float = 0.3, inflation: str = "every",
                         freeze_bn: bool = True) -> I3DResNet:
    """The I3D baseline rows: global average pool, dropout 0.3 (paper p10), fc; BN frozen
    in training (paper p10; jd730 ``freeze_bn``)."""
    model = build_i3d(depth, num_classes, widen_factor, conv1_t_size, nonlocal_blocks,
                      dropout, inflation)
    model.freeze_bn = freeze_bn
    return model


def build_strg(depth: int = 50, num_classes: int = 174, widen_factor: float = 1.0,
               conv1_t_size: int = 5,
               nonlocal_blocks: Mapping[str, Sequence[int]] | str | None = None,
               preset: str = "paper", width: int | None = None, freeze_bn: bool = True,
               options: Mapping[str, Any] | None = None, inflation: str = "every",
               branches: str = "both") -> STRG:
    """I3D + STRG head; ``width`` defaults to 512 at full size (a quarter of the backbone's
    output channels, the same ratio in reduced models)."""
    base = build_i3d(depth, num_classes, widen_factor, conv1_t_size, nonlocal_blocks,
                     inflation=inflation)
    out_channels = int(WIDTHS[3] * widen_factor) * EXPANSION
    return STRG(base, freeze_bn=freeze_bn, width=width or out_channels // 4,
                num_classes=num_classes, preset=preset, options=options, branches=branches)
