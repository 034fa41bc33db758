"""K-center ViT-B/16 with joint space-time attention (``kcenter_vit``, kcenter_transformer/
models/kcenter_vit/vit.py @ ef7a40a): timm's pre-norm ViT blocks over [cls, all tokens]."""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from ..tokens import TokenPlan
from .base import KCenterBackbone, LayerNorm


class KCenterViT(KCenterBackbone):
    def __init__(self, plan: TokenPlan, num_classes: int, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, patch_size: int = 16, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.1, **sampler_options):
        super().__init__(plan, num_classes, embed_dim, patch_size, **sampler_options)
        rates = torch.linspace(0, drop_path, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, proj_drop=drop,
                  attn_drop=attn_drop, drop_path=rate, norm_layer=LayerNorm)
            for rate in rates])
        self.build_head()
        self.official_init()

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x
