"""FLOPs of ``torchvision::roi_align`` for the harness counter (fvcore and flop_counter know
neither): 4 MACs (one bilinear interpolation) per output bin, i.e. one sampling point per bin.
With the adaptive sampling ratio the true count is ceil(h/7)·ceil(w/7) points per bin,
which depends on the box sizes, not on shapes; at STRG's size (160 boxes × 512 channels ×
7×7) one point per bin is 0.016 GMACs, a rounding error next to the 153 G backbone.
"""

from __future__ import annotations

import math

import torch


def _handle(inputs: list, outputs: list) -> int:
    from fvcore.nn.jit_handles import get_shape

    return 4 * math.prod(get_shape(outputs[0]))


def _formula(args: tuple, outputs) -> int:
    return 4 * outputs.numel()


def register() -> None:
    from reproducers.harness.flops import register_flop_handle

    register_flop_handle("torchvision::roi_align", _handle, formula=_formula,
                         target=torch.ops.torchvision.roi_align)
