"""FLOPs of ``torchvision::roi_align`` for the harness counter (fvcore and flop_counter know
neither): 4 MACs (one bilinear interpolation) per output bin, i.e. one sampling point per bin.
With the adaptive sampling ratio the true count is ceil(h/7)·ceil(w/7) points per bin,
which depends on the box sizes, not on shapes; at STRG's size (160 boxes × 512 channels ×
7×7) one point per bin is 0.016 GMACs, a rounding error next to the 153 G backbone.

Cost per 32×224² clip against the paper (p12: I3D 153 G, I3D + joint GCN 158 G; GFLOPs =
GMACs, fvcore's convention), as ``profile`` counts it (BN included, the RPN not: the paper runs
it offline, here the ``prepare`` stage; the profile's example input carries the boxes):

=====================  ==========================  ==========================  =========
model                  ``alternating`` (default)   ``every`` (Table 1 literal)  paper
=====================  ==========================  ==========================  =========
I3D R50                153.04 G (+0.03 %), 27.58 M  171.13 G (+11.8 %), 32.56 M  153 G
I3D R50 + joint GCN    156.87 G (-0.7 %), 31.34 M   174.96 G (+10.7 %), 36.32 M  158 G
NL I3D R50             221.48 G, 34.94 M            239.56 G, 39.92 M            168 G (TSM)
=====================  ==========================  ==========================  =========

(parameters with 174 classes). Why the paper rows default to the Non-local code's alternating
inflation although Table 1 prints 3×1×1 in every bottleneck: (1) the paper's own 153 / 158 G
match it within 1 % and Table 1's literal reading is 11 % over; (2) TSM's reprinted 28.0 M is
its size (28.04 M with Kinetics' 400 classes; every-block: 33.02 M); (3) the paper initialises
from Kinetics "following the Non-local paper", whose I3D (video-nonlocal-net ``obtain_arc``
arc_type 2, and the Non-local paper: "we only inflate one kernel for every 2 residual blocks")
is this network, the same first author's code base. ``--set model.inflation=every`` gives the
literal reading; the jd730 rows keep ``every`` (its ``resnet_strg``). The NL I3D gap is the
non-local blocks' attention at STRG's 16 frames: ``nonlocal_block.py`` has the per-block
breakdown. The GCN head adds 3.83 G (the paper: 5 G).
"""

from __future__ import annotations

import math

import torch

#: The paper's GFLOPs (GMACs) per 32×224² clip (p12), the RPN excluded.
PAPER_GFLOPS = {"i3d_r50_ssv1": 153.0, "strg_r50_ssv1": 158.0}


def _handle(inputs: list, outputs: list) -> int:
    from fvcore.nn.jit_handles import get_shape

    return 4 * math.prod(get_shape(outputs[0]))


def _formula(args: tuple, outputs) -> int:
    return 4 * outputs.numel()


def register() -> None:
    from reproducers.harness.flops import register_flop_handle

    register_flop_handle("torchvision::roi_align", _handle, formula=_formula,
                         target=torch.ops.torchvision.roi_align)
