"""K-center Motionformer (``kcenter_motionformer``, kcenter_transformer/models/
kcenter_motionformer/{motionformer,vit_helper}.py @ ef7a40a): trajectory attention over F
groups of P tokens, the original-code value path, softmax output in eval mode.

Trajectory attention (per head, scale = head_dim^-0.5): the cls query attends to all keys;
a patch query i attends, within each group f, over that group's P keys, giving one
aggregate X[i, f]; then ``proj_q``(X[i, g(i)]) attends over f to keys from the first half
of ``proj_kv``(X[i, f]), and the values are X[i, f] itself (``use_original_code``; the
second half of ``proj_kv`` is computed and unused, as released) or that second half.
"""

from __future__ import annotations

import torch
from einops import rearrange
from timm.layers import DropPath, Mlp
from torch import nn

from ..tokens import TokenPlan
from .base import KCenterBackbone, LayerNorm


class TrajectoryAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, attn_drop: float,
                 proj_drop: float, use_original_code: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj_kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.use_original_code = use_original_code

    def forward(self, x: torch.Tensor, groups: int, positions: int) -> torch.Tensor:
        h, F = self.num_heads, groups
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=h) for t in self.qkv(x).chunk(3, -1))
        cls_attn = ((q[:, :, :1] * self.scale) @ k.transpose(-2, -1)).softmax(-1)
        cls_out = rearrange(cls_attn @ v, "b h n d -> b n (h d)")
        q_, k_, v_ = q[:, :, 1:], k[:, :, 1:], v[:, :, 1:]
        space = rearrange(q_ @ k_.transpose(-2, -1), "b h q (f n) -> b h q f n", f=F)
        space = self.attn_drop((self.scale * space).softmax(-1))
        per_group = torch.einsum("bhqfn,bhfnd->bhqfd", space,
                                 rearrange(v_, "b h (f n) d -> b h f n d", f=F, n=positions))
        per_group = rearrange(per_group, "b h s f d -> b s f (h d)")
        own = rearrange(per_group, "b (g n) f c -> b g n f c", g=F)
        own = torch.diagonal(own, dim1=1, dim2=3)  # X[i, g(i)]: b n c g
        own = rearrange(own, "b n c g -> b (g n) c")
        q2 = rearrange(self.proj_q(own), "b s (h d) -> b h s d", h=h) * self.scale
        k2, v2 = (rearrange(t, "b s f (h d) -> b h s f d", h=h)
                  for t in self.proj_kv(per_group).chunk(2, -1))
        time = torch.einsum("bhsd,bhsfd->bhsf", q2, k2).softmax(-1)
        values = (rearrange(per_group, "b s f (h d) -> b h s f d", h=h)
                  if self.use_original_code else v2)
        out = rearrange(torch.einsum("bhsf,bhsfd->bhsd", time, values), "b h s d -> b s (h d)")
        return self.proj_drop(self.proj(torch.cat([cls_out, out], 1)))


class TrajectoryBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 drop: float, attn_drop: float, drop_path: float, use_original_code: bool):
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn = TrajectoryAttention(dim, num_heads, qkv_bias, attn_drop, drop,
                                        use_original_code)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, groups: int, positions: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), groups, positions))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class KCenterMotionformer(KCenterBackbone):
    time_table = "temp_embed"

    def __init__(self, plan: TokenPlan, num_classes: int, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, patch_size: int = 16, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.1, head_dropout: float = 0.0,
                 use_original_code: bool = True, softmax_in_eval: bool = True,
                 **sampler_options):
        super().__init__(plan, num_classes, embed_dim, patch_size, **sampler_options)
        if plan.total_tokens != plan.groups * plan.positions:
            raise ValueError(f"Motionformer needs {plan.groups} groups x {plan.positions} "
                             f"tokens, got a budget of {plan.total_tokens}")
        rates = torch.linspace(0, drop_path, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList([
            TrajectoryBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, drop, attn_drop, rate,
                            use_original_code) for rate in rates])
        self.build_head()
        self.head_drop = nn.Dropout(head_dropout)
        self.softmax_in_eval = softmax_in_eval
        self.official_init()

    def embed(self, tokens):
        """Motionformer adds (position + time) to the patches in one step."""
        x = self.patch_embed(tokens.patches)
        B = x.shape[0]
        table = self.pos_embed[0, tokens.s_index] + self.temp_embed[0, tokens.t_index]
        table = torch.cat([self.pos_embed[:, :1].expand(B, -1, -1), table], 1)
        return torch.cat([self.cls_token.expand(B, -1, -1), x], 1) + table

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, self.plan.groups, self.plan.positions)
        return x

    def forward_logits(self, x, init=None, generator=None):
        tokens = self.select(x, init, generator)
        x = self.norm(self.run_blocks(self.embed(tokens)))[:, 0]
        return self.head(self.head_drop(x))

    def forward(self, x, init=None, generator=None):
        """Logits in training; softmax probabilities in eval (as released, quirk 6) unless
        ``softmax_in_eval`` is off."""
        logits = self.forward_logits(x, init, generator)
        return logits.softmax(-1) if self.softmax_in_eval and not self.training else logits
