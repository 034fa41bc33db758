"""What the three K-center backbones share: sampling, patch embedding, position/time tables,
final norm and head (kami93/kcenter_video @ ef7a40a, kcenter_transformer/models/kcenter_*/).

Input: the dense patch grid [B, T, grid, grid, 771] (``tokens.patch_grid``). The sampler runs
inside ``forward`` without gradients, before the patch embedding, as released. Token t of a
sampled patch indexes the learned time table (32 rows, zero-initialised); s + 1 the ImageNet
position table (row 0: class token, which gets no time term).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.init import trunc_normal_

from ..sampler import KCenterSampler
from ..tokens import TokenPlan, Tokens, normalise_uint8, patch_grid, select_tokens

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


class PatchEmbed(nn.Module):
    """The official 16x16 stride-16 Conv2d, applied to (c, p1, p2)-flattened patches as the
    linear map it is (one output per patch; parameter ``proj`` of shape [D, 3, P, P])."""

    def __init__(self, patch_size: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, patch_size, patch_size)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)


class KCenterBackbone(nn.Module):
    """Base class: subclasses build ``blocks`` and implement ``run_blocks`` and ``embed``.

    ``time_table`` is the name of the learned time table ("time_embed" for ViT/TimeSformer,
    "temp_embed" for Motionformer)."""

    time_table = "time_embed"

    def __init__(self, plan: TokenPlan, num_classes: int, embed_dim: int, patch_size: int,
                 kcenter_ws: float = 1.0, kcenter_wt: float = 1.0):
        super().__init__()
        self.plan = plan
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, plan.positions + 1, embed_dim))
        self.register_parameter(self.time_table,
                                nn.Parameter(torch.zeros(1, plan.num_frames, embed_dim)))
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.sampler = KCenterSampler(plan.time_division, plan.space_division,
                                      plan.sort_indices, kcenter_ws,
                                      kcenter_wt) if plan.k else None

    @property
    def time_weight(self) -> nn.Parameter:
        return getattr(self, self.time_table)

    def build_head(self) -> None:
        self.norm = LayerNorm(self.embed_dim)
        self.head = nn.Linear(self.embed_dim, self.num_classes)

    def official_init(self) -> None:
        """The official random init before ImageNet loading: truncated-normal (std 0.02)
        position table, class token and Linear weights, zero biases, LayerNorm 1/0, the time
        table zero, PyTorch's default for the patch conv."""
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        nn.init.zeros_(self.time_weight)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", self.time_table, "cls_token"}

    def select(self, x: torch.Tensor, init: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> Tokens:
        """Tokens of ``x``: the dense grid [B, T, g, g, 3P^2 + 3], or frames [B, 3, T, H, W]
        (uint8 as the loader ships them, or normalised floats) cut into the grid here, on
        x's device."""
        with torch.no_grad():
            x = normalise_uint8(x) if x.dtype == torch.uint8 else x
            x = x.to(self.pos_embed.dtype)
            patch = self.patch_embed.patch_size
            if x.shape[-1] != 3 * patch * patch + 3:
                x = patch_grid(x, patch)
            return select_tokens(x, self.plan, self.sampler, init=init, generator=generator)

    def embed(self, tokens: Tokens) -> torch.Tensor:
        """[cls, patches] + position rows, then + time rows on the patches (ViT/TimeSformer)."""
        x = self.patch_embed(tokens.patches)
        B = x.shape[0]
        s_index = torch.cat([tokens.s_index.new_zeros(B, 1), tokens.s_index], 1)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1) + self.pos_embed[0, s_index]
        cls, patches = x[:, :1], x[:, 1:]
        return torch.cat([cls, patches + self.time_weight[0, tokens.t_index]], 1)

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_logits(self, x: torch.Tensor, init: torch.Tensor | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        tokens = self.select(x, init, generator)
        x = self.run_blocks(self.embed(tokens))
        return self.head(self.norm(x)[:, 0])

    def forward(self, x: torch.Tensor, init: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits; ``x`` the dense patch grid, ``init`` fixed first picks (see the sampler)."""
        return self.forward_logits(x, init, generator)
