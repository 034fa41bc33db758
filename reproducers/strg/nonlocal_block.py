"""Non-local block (Wang et al., CVPR 2018) for the "NL I3D" rows of STRG.

STRG says only that it "replaces the I3D backbone with Non-local Net"; it states neither the
block's form nor the count. This is the Non-local paper's video block as its I3D models use it:
embedded Gaussian (softmax of theta·phi, scaled by inner_dim^-1/2), inner width C/2, phi and g
sub-sampled by a 1×2×2 max-pool, output 1×1×1 conv followed by BN whose weight starts at zero
so the block starts as the identity, added to its input.

Cost (MACs, one 32×224² clip, the paper rows' alternating I3D; ``tests/strg/test_flops.py``
checks every figure). STRG keeps 16 frames from res3 on, so a block attends over all of
T×H×W (queries) against T×H/2×W/2 (keys and values, after the 1×2×2 max-pool):

============  =====  =====  ==============  ==================  ===========  =========
block         C      inner  queries / keys  θ, φ, g, out convs  attention    block
============  =====  =====  ==============  ==================  ===========  =========
res3 (×2)     512    256    12,544 / 3,136  4.110 G             20.141 G     24.264 G
res4 (×3)     1024   512    3,136 / 784     4.110 G             2.518 G      6.634 G
============  =====  =====  ==============  ==================  ===========  =========

(attention = θᵀφ plus g·softmax, 2 × queries × keys × inner; BN 0.013 / 0.006 G). The 5
blocks add 68.43 G: NL I3D 221.48 G per clip against the 168 G TSM reprints (STRG itself gives
no NL figure), and 7.36 M parameters (35.40 M with 400 classes; TSM 35.3 M, which matches).
No variant of the block reproduces +15 G at STRG's shapes (totals per clip):

* the Non-local code's frozen-BN ("affine") 32-frame models run res3's blocks within 4-frame
  groups (video-nonlocal-net ``resnet_helper.res_stage_nonlocal_group``, group_size 4):
  res3 blocks 9.159 G, 191.26 G in all (+13.8 %);
* the Non-local paper's own 32-frame I3D (``resnet_video_org``: conv1 and pool1 stride 2 in
  time, so 4 frames from res3 on) at its time sizes: 2.290 / 1.187 G per block, 161.19 G
  (-4.1 %), but STRG's map has 16 frames there;
* a counter that skips the attention matmuls (e.g. thop, which counts ``nn.Module`` layers,
  not functional matmuls): 173.64 G (+3.4 %);
* only the 3 res4 blocks: 172.95 G (+2.9 %).

STRG states neither the block count nor its form, so the block stays the Non-local paper's
(5 blocks, full space-time attention, sub-sampled φ/g) and the gap is declared, not tuned
away.
"""

from __future__ import annotations

import torch
from torch import nn


class NonLocalBlock3d(nn.Module):
    def __init__(self, channels: int, subsample: bool = True):
        super().__init__()
        inner = max(1, channels // 2)
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.out = nn.Conv3d(inner, channels, 1)
        self.bn = nn.BatchNorm3d(channels)
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2)) if subsample else nn.Identity()
        self.scale = inner ** -0.5
        for conv in (self.theta, self.phi, self.g, self.out):
            nn.init.normal_(conv.weight, 0.0, 0.01)  # the Non-local code's Gaussian init
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.bn.weight)  # block starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        theta = self.theta(x).flatten(2)  # B, C', THW
        phi = self.phi(self.pool(x)).flatten(2)  # B, C', THW'
        g = self.g(self.pool(x)).flatten(2)
        attn = torch.softmax(theta.transpose(1, 2) @ phi * self.scale, dim=-1)  # B, THW, THW'
        y = (g @ attn.transpose(1, 2)).view(b, -1, t, h, w)
        return x + self.bn(self.out(y))
