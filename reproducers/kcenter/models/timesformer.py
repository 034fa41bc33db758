"""K-center TimeSformer (``kcenter_timesformer``, kcenter_transformer/models/kcenter_timesformer/
timesformer.py @ ef7a40a): divided space-time attention over G pseudo-frames of P tokens.

Block (T = groups, N = positions): temporal attention per spatial slot over the T groups
(patch tokens only) with ``temporal_norm1``/``temporal_attn``, then ``temporal_fc``, added to
the patches; spatial attention per group over [input cls, its N tokens] with ``norm1``/``attn``,
the T cls outputs averaged; then the pre-norm MLP. ``temporal_fc`` starts at zero in every
block (the intended first-block exception never triggers, quirk 7).
"""

from __future__ import annotations

import torch
from einops import rearrange
from timm.layers import DropPath, Mlp
from timm.models.vision_transformer import Attention
from torch import nn

from ..tokens import TokenPlan
from .base import KCenterBackbone, LayerNorm


class DividedBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 drop: float, attn_drop: float, drop_path: float):
        super().__init__()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.temporal_norm1 = LayerNorm(dim)
        self.temporal_attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                                       proj_drop=drop)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                              proj_drop=drop)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, groups: int, positions: int) -> torch.Tensor:
        cls, patches = x[:, :1], x[:, 1:]
        xt = rearrange(patches, "b (t n) c -> (b n) t c", t=groups, n=positions)
        xt = self.drop_path(self.temporal_attn(self.temporal_norm1(xt)))
        xt = rearrange(self.temporal_fc(xt), "(b n) t c -> b (t n) c", t=groups, n=positions)
        patches = patches + xt
        cls_per_group = rearrange(cls.expand(-1, groups, -1), "b t c -> (b t) () c")
        xs = rearrange(patches, "b (t n) c -> (b t) n c", t=groups, n=positions)
        xs = self.drop_path(self.attn(self.norm1(torch.cat([cls_per_group, xs], 1))))
        cls_out = rearrange(xs[:, :1], "(b t) () c -> b t c", t=groups).mean(1, keepdim=True)
        xs = rearrange(xs[:, 1:], "(b t) n c -> b (t n) c", t=groups, n=positions)
        x = torch.cat([cls, patches], 1) + torch.cat([cls_out, xs], 1)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class KCenterTimeSformer(KCenterBackbone):
    def __init__(self, plan: TokenPlan, num_classes: int, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, patch_size: int = 16, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.1, **sampler_options):
        super().__init__(plan, num_classes, embed_dim, patch_size, **sampler_options)
        if plan.total_tokens != plan.groups * plan.positions:
            raise ValueError(f"TimeSformer needs {plan.groups} groups x {plan.positions} "
                             f"tokens, got a budget of {plan.total_tokens}")
        rates = torch.linspace(0, drop_path, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList([
            DividedBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, drop, attn_drop, rate)
            for rate in rates])
        self.build_head()
        self.official_init()

    def official_init(self) -> None:
        super().official_init()
        for block in self.blocks:
            nn.init.zeros_(block.temporal_fc.weight)
            nn.init.zeros_(block.temporal_fc.bias)

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, self.plan.groups, self.plan.positions)
        return x
