"""Non-local block (Wang et al., CVPR 2018) for the "NL I3D" rows of STRG.

STRG says only that it "replaces the I3D backbone with Non-local Net"; it states neither the
block's form nor the count. This is the Non-local paper's video block as its I3D models use it:
embedded Gaussian (softmax of theta·phi, scaled by inner_dim^-1/2), inner width C/2, phi and g
sub-sampled by a 1×2×2 max-pool, output 1×1×1 conv followed by BN whose weight starts at zero
so the block starts as the identity, added to its input.

Cost: in STRG's I3D the res3 map is 16×28×28 (time is halved once, before res3), so each res3
block's attention is 12,544 × 3,136 positions: the 5 blocks add 68.4 GMACs to the alternating
I3D (221.5 against 153.0 per 32×224² clip) and 7.36 M parameters (34.94 M with 174 classes,
35.40 M with 400; TSM reprints 35.3 M). TSM's reprinted 168 G for NL I3D implies attention over
about a quarter of these positions (e.g. the Non-local paper's own I3D, which has half the
frames from res3 on); STRG does not say which, so this stays an open difference.
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
