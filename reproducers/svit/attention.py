"""MViTv2 pooling attention with SViT object tokens.

Reproduces eladb3/SViT @ bf0ab3e ``slowfast/models/attention.py`` (``attention_pool``,
``get_rel_pos``, ``cal_rel_pos_spatial``, ``cal_rel_pos_temporal``, ``MultiScaleAttention``,
``MultiScaleBlock``), itself a modification of facebookresearch/SlowFast's file of the same
name. Only the configuration used by MViTv2 / SViT is implemented: fused qkv, ``mode="conv"``
(shared depthwise Conv3d pooling), pooling after the projection (POOL_FIRST false).

Token layout everywhere: ``[cls | T*H*W patch tokens in (t, h, w) order | O object tokens]``.
With ``O == 0`` (plain MViTv2, upstream SlowFast) the same code runs without object tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.init import trunc_normal_


def _triple(v: Sequence[int] | None) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if v else ()


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth per sample (SlowFast ``slowfast/models/common.py::drop_path``)."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
    return x.div(keep) * (mask + keep).floor()


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)


class Mlp(nn.Module):
    """fc1 -> GELU (erf) -> fc2 (SlowFast ``common.Mlp``; dropout 0 in all configs here)."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim_in, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim_out)
        self.drop = nn.Dropout(drop) if drop > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def pool_tokens(
    x: torch.Tensor,
    pool: nn.Module | None,
    thw: Sequence[int],
    has_cls: bool = True,
    norm: nn.Module | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """Pool the patch tokens of ``x`` ([B, N, L, C] or [B, L, C]) on their (t, h, w) grid.

    Reproduces SViT's ``attention_pool``: cls stays as is; the trailing ``L - 1 - T*H*W``
    object tokens are, for a Conv3d pool, each tiled into a constant kT x kH x kW cube, run
    through the same conv (same stride, zero padding) and averaged over the conv's output
    positions; for a max-pool (the skip path) they pass unchanged. The norm then acts on all
    tokens. The official function asserts ``O > 0``; with ``O == 0`` this is upstream
    SlowFast's ``attention_pool``.
    """
    if pool is None:
        return x, list(thw)
    squeeze = x.ndim == 3
    if squeeze:
        x = x.unsqueeze(1)
    if has_cls:
        cls_tok, x = x[:, :, :1], x[:, :, 1:]
    B, N, L, C = x.shape
    T, H, W = thw
    n_patch = T * H * W
    n_obj = L - n_patch
    assert n_obj >= 0, (L, thw)
    patches, obj = x[:, :, :n_patch], x[:, :, n_patch:]

    grid = patches.reshape(B * N, T, H, W, C).permute(0, 4, 1, 2, 3).contiguous()
    grid = pool(grid)
    new_thw = [grid.shape[2], grid.shape[3], grid.shape[4]]
    patches = grid.reshape(B, N, C, -1).transpose(2, 3)

    if n_obj > 0 and isinstance(pool, nn.Conv3d):
        kt, kh, kw = pool.weight.shape[-3:]
        cube = obj.reshape(B * N * n_obj, C, 1, 1, 1).expand(-1, -1, kt, kh, kw).contiguous()
        obj = pool(cube).mean(dim=(-3, -2, -1)).reshape(B, N, n_obj, -1)

    parts = ([cls_tok] if has_cls else []) + [patches] + ([obj] if n_obj > 0 else [])
    x = torch.cat(parts, dim=2)
    if norm is not None:
        x = norm(x)
    if squeeze:
        x = x.squeeze(1)
    return x, new_thw


def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """``get_rel_pos``: 1-D linear resampling (align_corners False) of a [L, C] table."""
    if table.shape[0] == length:
        return table
    out = F.interpolate(table.reshape(1, table.shape[0], -1).permute(0, 2, 1), size=length,
                        mode="linear")
    return out.reshape(-1, length).permute(1, 0)


def _rel_index(nq: int, nk: int) -> torch.Tensor:
    """Index into a length-(2*max(nq, nk)-1) table for query i, key j (float32, truncated).

    Same arithmetic as the official ``dist_h`` / ``dist_w`` / ``dist_t`` (int arange times a
    Python float -> default float32 tensor, then ``.long()``).
    """
    q_ratio = max(nk / nq, 1.0)
    k_ratio = max(nq / nk, 1.0)
    dist = torch.arange(nq)[:, None] * q_ratio - torch.arange(nk)[None, :] * k_ratio
    dist += (nk - 1) * k_ratio
    return dist.long()


def _patch_block(attn, s, qe, ke, q_thw, k_thw):
    """The patch-query x patch-key block of ``attn`` as a [B, heads, qt, qh, qw, kt, kh, kw]
    *view* (splitting the two sliced token dims is always a view), so adds land in place."""
    return attn[:, :, s:qe, s:ke].view(*attn.shape[:2], *q_thw, *k_thw)


def add_rel_pos_spatial(attn, q, has_cls, q_thw, k_thw, rel_pos_h, rel_pos_w):
    """Decomposed h/w relative positions on the patch x patch block (``cal_rel_pos_spatial``).

    ``q`` is the pooled, normalised, unscaled query [B, heads, Nq, C]. Object and cls rows /
    columns are untouched. Adds in place into ``attn`` and returns it, as official: ``attn``
    is a matmul output, which autograd does not keep (the matmul saves its inputs), so the
    in-place add is backward-safe and saves two copies of the logits per block.
    """
    qt, qh, qw = q_thw
    kt, kh, kw = k_thw
    s = 1 if has_cls else 0
    qe, ke = s + qt * qh * qw, s + kt * kh * kw
    Rh = resize_rel_pos(rel_pos_h, 2 * max(qh, kh) - 1)[_rel_index(qh, kh)]
    Rw = resize_rel_pos(rel_pos_w, 2 * max(qw, kw) - 1)[_rel_index(qw, kw)]
    B, nh, _, C = q.shape
    rq = q[:, :, s:qe].reshape(B, nh, qt, qh, qw, C)
    rel_h = torch.einsum("bythwc,hkc->bythwk", rq, Rh)
    rel_w = torch.einsum("bythwc,wkc->bythwk", rq, Rw)
    block = _patch_block(attn, s, qe, ke, q_thw, k_thw)
    block += rel_h[:, :, :, :, :, None, :, None]
    block += rel_w[:, :, :, :, :, None, None, :]
    return attn


def add_rel_pos_temporal(attn, q, has_cls, q_thw, k_thw, rel_pos_t):
    """Temporal relative positions on the patch x patch block (``cal_rel_pos_temporal``), in
    place into ``attn`` (see ``add_rel_pos_spatial``)."""
    qt, qh, qw = q_thw
    kt, kh, kw = k_thw
    s = 1 if has_cls else 0
    qe, ke = s + qt * qh * qw, s + kt * kh * kw
    Rt = resize_rel_pos(rel_pos_t, 2 * max(qt, kt) - 1)[_rel_index(qt, kt)]
    B, nh, _, C = q.shape
    rq = q[:, :, s:qe].reshape(B, nh, qt, qh, qw, C)
    rel_t = torch.einsum("bythwc,tkc->bythwk", rq, Rt)
    _patch_block(attn, s, qe, ke, q_thw, k_thw).add_(rel_t[:, :, :, :, :, :, None, None])
    return attn


class MultiScaleAttention(nn.Module):
    """Pooling attention (official ``MultiScaleAttention``, fused-qkv / conv-pool variant).

    Parameter names: ``qkv``, ``proj``, ``pool_{q,k,v}``, ``norm_{q,k,v}``, ``rel_pos_{h,w,t}``.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        input_size: Sequence[int],
        num_heads: int,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        kernel_q: Sequence[int] = (),
        kernel_kv: Sequence[int] = (),
        stride_q: Sequence[int] = (),
        stride_kv: Sequence[int] = (),
        has_cls: bool = True,
        rel_pos_spatial: bool = True,
        rel_pos_temporal: bool = True,
        rel_pos_zero_init: bool = False,
        residual_pooling: bool = True,
        eps: float = 1e-6,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.dim_out = dim_out
        head_dim = dim_out // num_heads
        self.scale = head_dim ** -0.5
        self.has_cls = has_cls
        self.drop_rate = drop_rate
        self.residual_pooling = residual_pooling
        kernel_q, kernel_kv = _triple(kernel_q), _triple(kernel_kv)
        stride_q, stride_kv = _triple(stride_q), _triple(stride_kv)

        # Rel-pos tables, created first so the state-dict order matches the official one
        # (rel_pos_* right after the block's norm1).
        self.rel_pos_spatial = rel_pos_spatial
        self.rel_pos_temporal = rel_pos_temporal
        if rel_pos_spatial:
            assert input_size[1] == input_size[2]
            size = input_size[1]
            q_size = size // stride_q[1] if stride_q else size
            kv_size = size // stride_kv[1] if stride_kv else size
            length = 2 * max(q_size, kv_size) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(length, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(length, head_dim))
            if not rel_pos_zero_init:
                trunc_normal_(self.rel_pos_h, std=0.02)
                trunc_normal_(self.rel_pos_w, std=0.02)
        if rel_pos_temporal:
            self.rel_pos_t = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            if not rel_pos_zero_init:
                trunc_normal_(self.rel_pos_t, std=0.02)

        self.qkv = nn.Linear(dim, 3 * dim_out, bias=qkv_bias)
        self.proj = nn.Linear(dim_out, dim_out)
        self.proj_drop = nn.Dropout(drop_rate) if drop_rate > 0.0 else nn.Identity()

        # A (1,1,1) kernel with (1,1,1) stride means "no pooling" (official rule).
        if math.prod(kernel_q) == 1 and math.prod(stride_q) == 1:
            kernel_q = ()
        if math.prod(kernel_kv) == 1 and math.prod(stride_kv) == 1:
            kernel_kv = ()

        def conv(kernel, stride):
            if not kernel:
                return None
            return nn.Conv3d(head_dim, head_dim, kernel, stride=stride,
                             padding=[k // 2 for k in kernel], groups=head_dim, bias=False)

        def ln(kernel):
            return nn.LayerNorm(head_dim, eps=eps) if kernel else None

        self.pool_q, self.norm_q = conv(kernel_q, stride_q), ln(kernel_q)
        self.pool_k, self.norm_k = conv(kernel_kv, stride_kv), ln(kernel_kv)
        self.pool_v, self.norm_v = conv(kernel_kv, stride_kv), ln(kernel_kv)

    def forward(self, x: torch.Tensor, thw: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, q_thw = pool_tokens(q, self.pool_q, thw, self.has_cls, self.norm_q)
        k, k_thw = pool_tokens(k, self.pool_k, thw, self.has_cls, self.norm_k)
        v, _ = pool_tokens(v, self.pool_v, thw, self.has_cls, self.norm_v)

        attn = (q * self.scale) @ k.transpose(-2, -1)
        if self.rel_pos_spatial:
            attn = add_rel_pos_spatial(attn, q, self.has_cls, q_thw, k_thw,
                                       self.rel_pos_h, self.rel_pos_w)
        if self.rel_pos_temporal:
            attn = add_rel_pos_temporal(attn, q, self.has_cls, q_thw, k_thw, self.rel_pos_t)
        attn = attn.softmax(dim=-1)
        out = attn @ v
        if self.residual_pooling:
            if self.has_cls:
                out = torch.cat([out[:, :, :1], out[:, :, 1:] + q[:, :, 1:]], dim=2)
            else:
                out = out + q
        out = out.transpose(1, 2).reshape(B, -1, self.dim_out)
        return self.proj_drop(self.proj(out)), q_thw


class MultiScaleBlock(nn.Module):
    """Official ``MultiScaleBlock``: norm1 -> attn; skip = max-pool(proj(norm1 x) or x);
    x = skip + attn; x = x + mlp(norm2 x). Parameter names: ``norm1``, ``attn``, ``norm2``,
    ``mlp.fc1``, ``mlp.fc2`` and (when dim != dim_out) ``proj``."""

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        input_size: Sequence[int],
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        drop_path: float = 0.0,
        kernel_q: Sequence[int] = (),
        kernel_kv: Sequence[int] = (),
        stride_q: Sequence[int] = (),
        stride_kv: Sequence[int] = (),
        has_cls: bool = True,
        rel_pos_spatial: bool = True,
        rel_pos_temporal: bool = True,
        rel_pos_zero_init: bool = False,
        residual_pooling: bool = True,
        dim_mul_in_att: bool = True,
        eps: float = 1e-6,
    ):
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.dim_mul_in_att = dim_mul_in_att
        self.has_cls = has_cls
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        att_dim = dim_out if dim_mul_in_att else dim
        self.attn = MultiScaleAttention(
            dim, att_dim, input_size, num_heads, qkv_bias=qkv_bias, drop_rate=drop_rate,
            kernel_q=kernel_q, kernel_kv=kernel_kv, stride_q=stride_q, stride_kv=stride_kv,
            has_cls=has_cls, rel_pos_spatial=rel_pos_spatial, rel_pos_temporal=rel_pos_temporal,
            rel_pos_zero_init=rel_pos_zero_init, residual_pooling=residual_pooling, eps=eps)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(att_dim, eps=eps)
        self.mlp = Mlp(att_dim, int(att_dim * mlp_ratio), dim_out, drop=drop_rate)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)
        stride_q = _triple(stride_q)
        kernel_skip = [s + 1 if s > 1 else s for s in stride_q]
        self.pool_skip = (
            nn.MaxPool3d(kernel_skip, stride_q, [k // 2 for k in kernel_skip], ceil_mode=False)
            if kernel_skip else None)

    def forward(self, x: torch.Tensor, thw: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        x_norm = self.norm1(x)
        x_attn, thw_new = self.attn(x_norm, thw)
        if self.dim_mul_in_att and self.dim != self.dim_out:
            x = self.proj(x_norm)
        x_res, _ = pool_tokens(x, self.pool_skip, thw, self.has_cls)
        x = x_res + self.drop_path(x_attn)
        x_norm = self.norm2(x)
        x_mlp = self.mlp(x_norm)
        if not self.dim_mul_in_att and self.dim != self.dim_out:
            x = self.proj(x_norm)
        return x + self.drop_path(x_mlp), thw_new
