"""S-ViT: the streaming CLIP ViT-B/16 backbone of the Streaming Video Model (CVPR 2023).

Reproduces yuzhms/Streaming-Video-Model @ 46989d2 ``mmdet_ext/backbones/SViT.py``
(``Attention``, ``ResidualAttentionBlock``, ``Transformer``, ``SViT``) and
``mmdet_ext/backbones/modules.py`` (``resize_abs_pos``, ``window_partition``/``reverse``,
``FPNAdapter``, ``ResBottleneckBlock``, ``LayerNormChannelFirst``), with the official
parameter names so ``detector.backbone.*`` of the released checkpoint loads as is.

Frames go through one at a time. Every layer keeps its own memory of the windowed keys and
values of past frames (``StreamMemory``); the streaming "T2D" branch lets each token attend to
the memory along its window column (T-H) and its window row (T-W). Quirks kept on purpose:
the memory write happens before the cross-frame branch (the memory always holds the current
frame), window padding has no attention mask, eval mode merges the oldest entry 50/50 into the
next one when full while training clears it, and ``alpha`` gates the branch per channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from reproducers.harness.errors import UserError

from .memory import StreamMemory


class LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: half-precision inputs are normalised in float32 and cast back
    (official ``modules.LayerNorm`` casts every input to float32; float64 stays float64 here
    so double-precision golden checks are exact)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.float16, torch.bfloat16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


class LayerNormChannelFirst(nn.Module):
    """LayerNorm over dim 1 of [B, C, H, W], biased variance, eps 1e-6 (ViTDet style)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def _c2_msra_fill(conv: nn.Conv2d) -> None:
    """fvcore ``c2_msra_fill``: kaiming-normal (fan_out, relu), zero bias."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ResBottleneckBlock(nn.Module):
    """1x1 -> LN -> GELU -> 3x3 -> LN -> GELU -> 1x1 -> LN, plus the input; starts as identity
    (last LN zero-initialised). Inserted after the layers in ``residual_block_index``."""

    def __init__(self, channels: int, bottleneck: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, bottleneck, 1, bias=False)
        self.norm1 = LayerNormChannelFirst(bottleneck)
        self.conv2 = nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False)
        self.norm2 = LayerNormChannelFirst(bottleneck)
        self.conv3 = nn.Conv2d(bottleneck, channels, 1, bias=False)
        self.norm3 = LayerNormChannelFirst(channels)
        for conv in (self.conv1, self.conv2, self.conv3):
            _c2_msra_fill(conv)
        nn.init.zeros_(self.norm3.weight)
        nn.init.zeros_(self.norm3.bias)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        m = x.transpose(1, 2).reshape(b, c, *hw)
        y = F.gelu(self.norm1(self.conv1(m)))
        y = F.gelu(self.norm2(self.conv2(y)))
        y = self.norm3(self.conv3(y))
        return (m + y).flatten(2).transpose(1, 2)


def window_partition(x: torch.Tensor, hw: tuple[int, int], ws: int):
    """[B, H*W, C] -> [B*nh*nw, ws*ws, C], zero-padded at the bottom/right (no mask)."""
    (h, w), b, c = hw, x.shape[0], x.shape[-1]
    ph, pw = (-h) % ws, (-w) % ws
    x = F.pad(x.view(b, h, w, c), (0, 0, 0, pw, 0, ph))
    nh, nw = (h + ph) // ws, (w + pw) // ws
    x = x.view(b, nh, ws, nw, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b * nh * nw, ws * ws, c), (nh, nw)


def window_reverse(x: torch.Tensor, hw: tuple[int, int], ws: int, grid: tuple[int, int]):
    (h, w), (nh, nw), c = hw, grid, x.shape[-1]
    b = x.shape[0] // (nh * nw)
    x = x.view(b, nh, nw, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, nh * ws, nw * ws, c)
    return x[:, :h, :w].reshape(b, h * w, c)


def _attend(q, k, v):
    """softmax(q k^T) v with q already scaled (the official ``Attention.attention``)."""
    return F.scaled_dot_product_attention(q, k, v, scale=1.0)


class StreamAttention(nn.Module):
    """Windowed multi-head self-attention plus the streaming cross-frame branch.

    ``attn_type="space"`` is the frame-based baseline (``mmdet_ext/backbones/ViT.py``): the
    same module without ``*_t``/``alpha`` parameters and without memory.
    """

    def __init__(self, dim: int, heads: int, attn_type: str, memory: StreamMemory | None):
        super().__init__()
        if attn_type not in ("space", "stream"):
            raise ValueError(f"attn_type={attn_type!r}: use 'space' or 'stream'")
        self.heads, self.attn_type, self.memory = heads, attn_type, memory
        self.scale = (dim // heads) ** -0.5
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)
        if attn_type == "stream":
            self.in_proj_weight_t = nn.Parameter(torch.empty(dim, dim))
            self.in_proj_bias_t = nn.Parameter(torch.zeros(dim))
            self.out_proj_t = nn.Linear(dim, dim)
            self.alpha = nn.Parameter(torch.full((dim,), 1e-4))
            nn.init.xavier_uniform_(self.in_proj_weight_t)
            nn.init.zeros_(self.out_proj_t.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        return x.view(n, t, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, hw: tuple[int, int], ws: int, frame: int) -> torch.Tensor:
        grid = None
        if ws > 0:
            x, grid = window_partition(x, hw, ws)
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = self._heads(q) * self.scale, self._heads(k), self._heads(v)
        o = _attend(q, k, v).transpose(1, 2).flatten(2)
        out = self.out_proj(o)
        if self.attn_type == "stream":
            if ws <= 0:
                raise ValueError("the streaming branch works in windowed layers only")
            self.memory.write(k.detach(), v.detach(), frame, self.training)
            out = out + self.alpha * self._cross_frame(x, ws)
        if grid is not None:
            out = window_reverse(out, hw, ws, grid)
        return out

    def _cross_frame(self, x: torch.Tensor, ws: int) -> torch.Tensor:
        """T-H and T-W attention of this frame's queries over the memory, summed."""
        nwin = x.shape[0]
        q = self._heads(F.linear(x, self.in_proj_weight_t, self.in_proj_bias_t)) * self.scale
        d = q.shape[-1]
        q = q.view(nwin, self.heads, ws, ws, d)  # (window, head, row h, col w, d)
        col_k, col_v, row_k, row_v = self.memory.attend_views()  # [win, ws, head, T*ws, d]
        # T-H: query (h, w) attends to (t, h') of its window column w
        oh = _attend(q.permute(0, 3, 1, 2, 4), col_k, col_v)  # (win, w, head, h, d)
        # T-W: query (h, w) attends to (t, w') of its window row h
        ow = _attend(q.permute(0, 2, 1, 3, 4), row_k, row_v)  # (win, h, head, w, d)
        o = oh.permute(0, 3, 1, 2, 4) + ow.permute(0, 1, 3, 2, 4)  # (win, h, w, head, d)
        return self.out_proj_t(o.reshape(nwin, ws * ws, self.heads * d))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, dim: int, heads: int, attn_type: str, window: int, residual: bool,
                 memory: StreamMemory | None):
        super().__init__()
        self.attn = StreamAttention(dim, heads, attn_type, memory)
        self.ln_1 = LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(dim, dim * 4))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(dim * 4, dim))
        self.ln_2 = LayerNorm(dim)
        self.window = window
        if residual:
            self.residual_block = ResBottleneckBlock(dim, dim // 2)
        else:
            self.residual_block = None

    def forward(self, x: torch.Tensor, hw: tuple[int, int], frame: int) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), hw, self.window, frame)
        x = x + self.mlp(self.ln_2(x))
        if self.residual_block is not None:
            x = self.residual_block(x, hw)
        return x


class Transformer(nn.Module):
    def __init__(self, blocks: list[ResidualAttentionBlock]):
        super().__init__()
        self.resblocks = nn.Sequential(*blocks)


class FPNAdapter(nn.Module):
    """Three stride-16 maps -> strides 8/16/32 with widths C/2, C, 2C (no activations)."""

    def __init__(self, dim: int, scales: Sequence[float]):
        super().__init__()
        for i, s in enumerate(scales):
            out = int(dim / s)
            if s == 2.0:
                head, mid = [nn.ConvTranspose2d(dim, dim // 2, 2, stride=2)], dim // 2
            elif s == 1.0:
                head, mid = [], dim
            elif s == 0.5:
                head, mid = [nn.MaxPool2d(2, 2)], dim
            else:
                raise ValueError(f"fpn scale {s} is not one of 2.0, 1.0, 0.5")
            layers = head + [nn.Conv2d(mid, out, 1, bias=False), LayerNormChannelFirst(out),
                             nn.Conv2d(out, out, 3, padding=1, bias=False),
                             LayerNormChannelFirst(out)]
            self.add_module(f"fpn_adaptor_{i}", nn.Sequential(*layers))
        self.levels = len(scales)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [getattr(self, f"fpn_adaptor_{i}")(x) for i, x in enumerate(xs)]


@dataclass(frozen=True)
class SViTConfig:
    """Defaults: ``configs/mot/svm/svm_test.py`` (the released model at test time)."""

    width: int = 768
    layers: int = 12
    heads: int = 12
    patch: int = 16
    window: int = 14
    window_layers: tuple[int, ...] | None = None  # None: all layers
    residual_layers: tuple[int, ...] = (2, 5, 8, 11)
    stage_layers: tuple[int, ...] = (2, 5, 8, 11)
    out_indices: tuple[int, ...] = (1, 2, 3)
    fpn_scales: tuple[float, ...] = (2.0, 1.0, 0.5)
    input_resolution: int = 224
    attn_type: str = "stream"
    memory_length: int = 32  # num_frames: 2 in svm_base.py (training), 32 in svm_test.py
    checkpoint: bool = False  # enable_checkpoint (per-block activation checkpointing)
    train_memory: str = "released"  # "released" | "intended" (see memory.StreamMemory)


class SViT(nn.Module):
    """The S-ViT backbone: ``forward(frame [B,3,H,W]) -> [stride 8, 16, 32 maps]``.

    Call ``clear_memory()`` between videos (and, in training, after every clip batch).
    """

    def __init__(self, cfg: SViTConfig = SViTConfig()):
        super().__init__()
        if len(cfg.stage_layers) != 4:
            raise ValueError("stage_layers needs 4 layer indices (official stage_segment)")
        self.cfg = cfg
        c = cfg.width
        self.conv1 = nn.Conv2d(3, c, cfg.patch, stride=cfg.patch, bias=False)
        grid = cfg.input_resolution // cfg.patch
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid, c))
        nn.init.normal_(self.positional_embedding, std=0.02)
        self.ln_pre = LayerNorm(c)
        windowed = range(cfg.layers) if cfg.window_layers is None else cfg.window_layers
        stream = cfg.attn_type == "stream"
        self.memories = [StreamMemory(cfg.memory_length, cfg.train_memory) if stream else None
                         for _ in range(cfg.layers)]
        self.transformer = Transformer([
            ResidualAttentionBlock(c, cfg.heads, cfg.attn_type,
                                   cfg.window if i in windowed else 0,
                                   i in cfg.residual_layers, self.memories[i])
            for i in range(cfg.layers)])
        self.ln_post = LayerNorm(c)
        for i in range(3):
            setattr(self, f"ln_post_out{i}", LayerNorm(c) if i in cfg.out_indices else None)
        self.fpn_adaptor = FPNAdapter(c, cfg.fpn_scales)
        self.frame_counter = 0

    # -- memory ---------------------------------------------------------------------------
    def clear_memory(self) -> None:
        for m in self.memories:
            if m is not None:
                m.clear()

    def set_memory_length(self, n: int) -> None:
        """num_frames: 2 for training and per-epoch validation, 32 for the final test."""
        for m in self.memories:
            if m is not None:
                m.length = n

    def memory_lengths(self) -> list[int]:
        return [m.last_attended for m in self.memories if m is not None]

    def memory_state(self) -> list:
        return [m.state() for m in self.memories if m is not None]

    def load_memory_state(self, state: list) -> None:
        for m, s in zip([m for m in self.memories if m is not None], state, strict=True):
            m.load_state(s)

    # -- forward --------------------------------------------------------------------------
    def pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        """Official ``resize_abs_pos``: bicubic (align_corners False) to the token grid."""
        pos = self.positional_embedding
        g = int(math.isqrt(pos.shape[0]))
        if pos.shape[0] == hw[0] * hw[1]:  # official: no resize whenever the count matches
            return pos.unsqueeze(0)
        table = pos.t().reshape(1, -1, g, g)
        table = F.interpolate(table, size=hw, mode="bicubic", align_corners=False)
        return table.flatten(2).transpose(1, 2)

    def forward_features(self, img: torch.Tensor) -> list[torch.Tensor]:
        frame = self.frame_counter
        self.frame_counter += 1
        x = self.conv1(img)
        hw = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2) + self.pos_embed(hw).to(x.dtype)
        x = self.ln_pre(x)
        stages = []
        for i, block in enumerate(self.transformer.resblocks):
            if self.cfg.checkpoint and self.training and torch.is_grad_enabled():
                # released: reentrant, as torch 1.12's default the official code ran with
                # (its recomputation sees the doubled memory); intended: the recomputation
                # is identical, so the non-reentrant variant's shape check holds
                x = checkpoint(block, x, hw, frame,
                               use_reentrant=self.cfg.train_memory == "released")
            else:
                x = block(x, hw, frame)
            if i in self.cfg.stage_layers:
                stages.append(x)
        norms = [self.ln_post_out0, self.ln_post_out1, self.ln_post_out2, self.ln_post]
        b = img.shape[0]
        return [norms[i](stages[i]).transpose(1, 2).reshape(b, -1, *hw)
                for i in self.cfg.out_indices]

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        return self.fpn_adaptor(self.forward_features(img))


def load_clip_visual(model: SViT, path, log=print) -> dict:
    """Initialise from OpenAI CLIP ViT-B/16 as ``SViT._load_pretrain`` does.

    ``path`` is the official ``ViT-B-16.pt`` (a TorchScript archive; its ``visual`` state
    dict is read) or a plain state dict of the visual tower (keys ``conv1.weight`` ... with or
    without a ``visual.`` prefix, or under ``model``). The class-token row of the positional
    table is dropped; every key whose name and shape match is loaded, the rest (class
    embedding, projection) is skipped. Returns {"loaded": [...], "skipped": [...]}.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CLIP weights {path} not found: download ViT-B-16.pt (see "
                        "reproducers/svm/DATA.md) and pass its path")
    try:
        visual = torch.jit.load(str(path), map_location="cpu").visual.state_dict()
    except (RuntimeError, AttributeError):
        obj = torch.load(path, map_location="cpu", weights_only=True)
        obj = obj.get("model", obj) if isinstance(obj, dict) else obj
        if any(k.startswith("visual.") for k in obj):
            obj = {k[len("visual."):]: v for k, v in obj.items() if k.startswith("visual.")}
        visual = dict(obj)
    if "positional_embedding" not in visual:
        raise UserError(f"{path}: no positional_embedding: not a CLIP visual tower state dict")
    visual["positional_embedding"] = visual["positional_embedding"][1:]
    own = model.state_dict()
    take = {k: v for k, v in visual.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(take, strict=False)
    skipped = sorted(set(visual) - set(take))
    log(f"CLIP init from {path}: {len(take)} tensors loaded, skipped {skipped}")
    return {"loaded": sorted(take), "skipped": skipped}
