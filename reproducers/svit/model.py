"""SViT (MViTv2 + object prompts + HAOG heads) and the plain MViTv2 baseline.

Reproduces eladb3/SViT @ bf0ab3e ``slowfast/models/video_model_builder.py`` (classes ``SViT``
and ``SViTHead``; ``slowfast/models/stem_helper.py::PatchEmbed``;
``slowfast/models/utils.py::round_width``). With ``num_objects=0`` the same module is
facebookresearch/SlowFast's ``MViT`` (``video_model_builder.py``) with its
``TransformerBasicHead`` (``head_helper.py``), in the configuration used by MViTv2-S
(USE_ABS_POS false, CLS_EMBED_ON true, conv pooling, rel-pos, residual pooling).

Call convention: ``model(x)`` or ``model([x])`` (official) with ``x`` a video [B,3,T,H,W] or an
image batch [B,3,H,W]. SViT returns ``(class_output, extra)`` where class_output is softmax
probabilities in eval mode and logits in train mode, and ``extra`` has the official entries
``obj_desc`` [B,Tx,O,C], ``pred_bboxes`` [B,Tx,O,5] (existence, cx, cy, w, h) and
``pred_contact_state`` [B,Tx,2,5], plus (not in the official dict) ``logits``,
``existence_logits`` and ``contact_logits`` before the eval-time activations. The baseline
returns the class output only. ``return_intermediates=True`` adds a third (SViT) / second
(baseline) value: ``patch_embed``, ``block{i}``, ``final_norm`` and ``thw_after_block``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn.init import trunc_normal_

from .attention import MultiScaleBlock


def round_width(width: float, multiplier: float, min_width: int = 1, divisor: int = 1) -> int:
    """Channel rounding of SlowFast ``slowfast/models/utils.py::round_width``."""
    if not multiplier:
        return int(width)
    width = width * multiplier
    min_width = min_width or divisor
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def _mvitv2s_q_strides(depth: int = 16, stride_blocks=(1, 3, 14)) -> list[list[int]]:
    return [[1, 2, 2] if i in stride_blocks else [1, 1, 1] for i in range(depth)]


@dataclass
class SViTConfig:
    """Architecture settings, named after the official cfg keys (MVIT.*, DATA.*, SVIT.O).

    Defaults: the released SSv2 config (configs/ssv2.yaml) = MViTv2-S 16x224, 174 classes.
    """

    num_frames: int = 16  # DATA.NUM_FRAMES
    crop_size: int = 224  # DATA.TRAIN_CROP_SIZE
    in_chans: int = 3
    num_classes: int = 174
    embed_dim: int = 96
    num_heads: int = 1
    depth: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    # MVIT.DIM_MUL / HEAD_MUL as {block: multiplier}
    dim_mul: dict[int, float] = field(default_factory=lambda: {1: 2.0, 3: 2.0, 14: 2.0})
    head_mul: dict[int, float] = field(default_factory=lambda: {1: 2.0, 3: 2.0, 14: 2.0})
    # MVIT.POOL_Q_STRIDE: per block [t,h,w] stride, or None/[] = block not listed (no q pool)
    q_strides: list = field(default_factory=_mvitv2s_q_strides)
    pool_kvq_kernel: tuple[int, int, int] | None = (3, 3, 3)
    kv_stride_adaptive: tuple[int, int, int] | None = (1, 8, 8)
    kv_strides: list | None = None  # MVIT.POOL_KV_STRIDE (used only if adaptive is None)
    patch_kernel: tuple[int, int, int] = (3, 7, 7)
    patch_stride: tuple[int, int, int] = (2, 4, 4)
    patch_padding: tuple[int, int, int] = (1, 3, 3)
    rel_pos_spatial: bool = True
    rel_pos_temporal: bool = True
    rel_pos_zero_init: bool = False
    residual_pooling: bool = True
    dim_mul_in_att: bool = True
    cls_embed_on: bool = True
    drop_path_rate: float = 0.4  # MVIT.DROPPATH_RATE
    block_dropout: float = 0.0  # MVIT.DROPOUT_RATE
    head_dropout: float = 0.5  # MODEL.DROPOUT_RATE
    head_act: str = "softmax"  # MODEL.HEAD_ACT
    layernorm_eps: float = 1e-6
    num_objects: int = 4  # SVIT.O; 0 = plain MViTv2 (no object tokens, no HAOG heads)

    def block_specs(self) -> list[dict]:
        """Per-block dims/heads/kernels/strides exactly as the official constructor derives them."""
        d = self.depth
        dim_mul = [1.0] * (d + 1)
        head_mul = [1.0] * (d + 1)
        for i, m in self.dim_mul.items():
            dim_mul[int(i)] = float(m)
        for i, m in self.head_mul.items():
            head_mul[int(i)] = float(m)
        stride_q = [list(s) if s else [] for s in self.q_strides] + [[]] * (d - len(self.q_strides))
        kernel = list(self.pool_kvq_kernel) if self.pool_kvq_kernel is not None else None
        pool_q = [(kernel if kernel is not None else [x + 1 if x > 1 else x for x in s]) if s
                  else [] for s in stride_q]
        if self.kv_stride_adaptive is not None:
            cur = list(self.kv_stride_adaptive)
            stride_kv = []
            for i in range(d):
                if stride_q[i]:
                    cur = [max(cur[j] // stride_q[i][j], 1) for j in range(len(cur))]
                stride_kv.append(list(cur))
        else:
            stride_kv = [list(s) if s else [] for s in (self.kv_strides or [])]
            stride_kv += [[]] * (d - len(stride_kv))
        pool_kv = [(kernel if kernel is not None else [x + 1 if x > 1 else x for x in s]) if s
                   else [] for s in stride_kv]

        specs = []
        embed, heads = self.embed_dim, self.num_heads
        size = [self.num_frames // self.patch_stride[0], self.crop_size // self.patch_stride[1],
                self.crop_size // self.patch_stride[2]]
        dpr = torch.linspace(0, self.drop_path_rate, d).tolist()
        for i in range(d):
            heads = round_width(heads, head_mul[i])
            if self.dim_mul_in_att:
                dim_out = round_width(embed, dim_mul[i], divisor=round_width(heads, head_mul[i]))
            else:
                dim_out = round_width(embed, dim_mul[i + 1],
                                      divisor=round_width(heads, head_mul[i + 1]))
            specs.append(dict(dim=embed, dim_out=dim_out, num_heads=heads, input_size=list(size),
                              kernel_q=pool_q[i], kernel_kv=pool_kv[i], stride_q=stride_q[i],
                              stride_kv=stride_kv[i], drop_path=dpr[i]))
            if stride_q[i]:
                size = [s // st for s, st in zip(size, stride_q[i], strict=True)]
            embed = dim_out
        return specs


class PatchEmbed(nn.Module):
    """``stem_helper.PatchEmbed``: Conv3d, flattened to [B, T*H*W, C] in (t, h, w) order."""

    def __init__(self, dim_in, dim_out, kernel, stride, padding):
        super().__init__()
        self.proj = nn.Conv3d(dim_in, dim_out, kernel, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor):
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), x.shape


class SViTHead(nn.Module):
    """``SViTHead`` (classification branch only; the DETECTION path is not reproduced).

    Input [B, 1 + Tx*O, C] = [cls, object tokens]. Dropout on all of it, then
    ``projection`` on cls, and on the object tokens [B, Tx, O, C]: ``boxes_mlp`` (Linear +
    sigmoid), ``boxes_bce_mlp`` (existence logit), ``contact_mlp`` on slots 0 and 1.
    """

    def __init__(self, dim_in: int, num_classes: int, dropout: float = 0.0, act: str = "softmax"):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0.0 else nn.Identity()
        self.projection = nn.Linear(dim_in, num_classes)
        if act == "softmax":
            self.act = nn.Softmax(dim=1)
        elif act == "sigmoid":
            self.act = nn.Sigmoid()
        else:
            raise NotImplementedError(act)
        self.boxes_mlp = nn.Sequential(nn.Linear(dim_in, 4), nn.Sigmoid())
        self.boxes_bce_mlp = nn.Linear(dim_in, 1)
        self.contact_mlp = nn.Linear(dim_in, 5)

    def forward(self, x: torch.Tensor, T: int):
        x = self.dropout(x)
        B = x.shape[0]
        # Official: add 0 * (sum of head parameters) "to avoid gradient issues" (DDP).
        x = x + sum(p.sum() for p in self.parameters()) * 0
        cls, obj = x[:, 0], x[:, 1:]
        obj = obj.reshape(B, T, -1, obj.shape[-1])
        logits = self.projection(cls)
        boxes = self.boxes_mlp(obj)
        exist_logits = self.boxes_bce_mlp(obj)
        contact_logits = self.contact_mlp(obj[:, :, :2])
        if self.training:
            out, exist, contact = logits, exist_logits, contact_logits
        else:
            out = self.act(logits)
            exist, contact = exist_logits.sigmoid(), contact_logits.softmax(dim=-1)
        extra = {
            "obj_desc": obj,
            "pred_bboxes": torch.cat((exist, boxes), dim=-1),
            "pred_contact_state": contact,
            "logits": logits,
            "existence_logits": exist_logits,
            "contact_logits": contact_logits,
        }
        return out, extra


class TransformerBasicHead(nn.Module):
    """SlowFast ``head_helper.TransformerBasicHead``: dropout -> projection -> act (eval)."""

    def __init__(self, dim_in: int, num_classes: int, dropout: float = 0.0, act: str = "softmax"):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0.0 else nn.Identity()
        self.projection = nn.Linear(dim_in, num_classes)
        self.act = nn.Softmax(dim=1) if act == "softmax" else nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection(self.dropout(x))
        return x if self.training else self.act(x)


class SViT(nn.Module):
    """SViT / MViTv2 video model with official parameter names (see module docstring)."""

    def __init__(self, config: SViTConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = SViTConfig(**kwargs)
        elif kwargs:
            config = SViTConfig(**{**asdict(config), **kwargs})
        self.config = cfg = config
        assert cfg.cls_embed_on, "CLS_EMBED_ON false (mean pooling) is not implemented"
        self.cls_embed_on = cfg.cls_embed_on
        self.patch_stride = list(cfg.patch_stride)
        self.num_objects = cfg.num_objects
        self.patch_embed = PatchEmbed(cfg.in_chans, cfg.embed_dim, cfg.patch_kernel,
                                      cfg.patch_stride, cfg.patch_padding)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        if self.num_objects > 0:
            # One temporal row per *input* frame, only used for the object tokens.
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, cfg.num_frames, cfg.embed_dim))
            self.object_queries = nn.Parameter(torch.zeros(1, self.num_objects, cfg.embed_dim))
        self.pos_drop = nn.Dropout(cfg.block_dropout) if cfg.block_dropout > 0 else nn.Identity()

        specs = cfg.block_specs()
        self.blocks = nn.ModuleList(
            MultiScaleBlock(
                s["dim"], s["dim_out"], s["num_heads"], s["input_size"], mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias, drop_rate=cfg.block_dropout, drop_path=s["drop_path"],
                kernel_q=s["kernel_q"], kernel_kv=s["kernel_kv"], stride_q=s["stride_q"],
                stride_kv=s["stride_kv"], has_cls=cfg.cls_embed_on,
                rel_pos_spatial=cfg.rel_pos_spatial, rel_pos_temporal=cfg.rel_pos_temporal,
                rel_pos_zero_init=cfg.rel_pos_zero_init, residual_pooling=cfg.residual_pooling,
                dim_mul_in_att=cfg.dim_mul_in_att, eps=cfg.layernorm_eps)
            for s in specs)
        dim = specs[-1]["dim_out"]
        self.norm = nn.LayerNorm(dim, eps=cfg.layernorm_eps)
        if self.num_objects > 0:
            self.head = SViTHead(dim, cfg.num_classes, cfg.head_dropout, cfg.head_act)
        else:
            self.head = TransformerBasicHead(dim, cfg.num_classes, cfg.head_dropout, cfg.head_act)

        trunc_normal_(self.cls_token, std=0.02)
        if self.num_objects > 0:
            trunc_normal_(self.pos_embed_temporal, std=0.02)
            trunc_normal_(self.object_queries, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> list[str]:
        """MVIT.ZERO_DECAY_POS_CLS is false in the released config: nothing is exempted."""
        return []

    def forward(self, x, return_intermediates: bool = False):
        if isinstance(x, (list, tuple)):
            x = x[0]
        if x.ndim == 4:  # image batch [B,3,H,W] -> one frame
            x = x.unsqueeze(2)
        Tx = x.shape[2]
        inter: dict = {}
        x, bcthw = self.patch_embed(x)
        if return_intermediates:
            inter["patch_embed"] = x
        if self.num_objects > 0:
            # SViT: the patch grid's time length comes from the config, not from the input.
            T = self.config.num_frames // self.patch_stride[0] if Tx > 1 else Tx
        else:
            T = bcthw[-3]  # upstream MViT
        H, W = bcthw[-2], bcthw[-1]
        B = x.shape[0]
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)

        n_obj = 0
        if self.num_objects > 0:
            objs = self.object_queries.unsqueeze(1).expand(B, Tx, -1, -1)  # [B, Tx, O, C]
            if Tx > 1:
                t_emb = self.pos_embed_temporal.unsqueeze(2).expand(B, -1, self.num_objects, -1)
            else:
                t_emb = self.pos_embed_temporal.sum() * 0  # keeps it in the autograd graph
            objs = (objs + t_emb).flatten(1, 2)  # frame-major: token f*O + o
            n_obj = objs.shape[1]
            x = torch.cat((x, objs), dim=1)
        x = self.pos_drop(x)

        thw = [T, H, W]
        thw_after = []
        for i, blk in enumerate(self.blocks):
            x, thw = blk(x, thw)
            thw_after.append(list(thw))
            if return_intermediates:
                inter[f"block{i}"] = x
        x = self.norm(x)
        if return_intermediates:
            inter["final_norm"] = x
            inter["thw_after_block"] = thw_after

        if self.num_objects == 0:
            out = self.head(x[:, 0])
            return (out, inter) if return_intermediates else out
        out, extra = self.head(torch.cat((x[:, :1], x[:, -n_obj:]), dim=1), T=Tx)
        return (out, extra, inter) if return_intermediates else (out, extra)


def build_svit(**kwargs) -> SViT:
    """SViT; defaults = released SSv2 config (MViTv2-S 16x224, 174 classes, 4 prompts)."""
    kwargs.setdefault("num_objects", 4)
    return SViT(SViTConfig(**kwargs))


def build_mvitv2s(**kwargs) -> SViT:
    """PySlowFast MViTv2-S (configs/SSv2/MVITv2_S_16x4.yaml): no object tokens, no HAOG."""
    kwargs.setdefault("num_objects", 0)
    return SViT(SViTConfig(**kwargs))


# SViT-only parameters (absent from PySlowFast MViTv2-S).
SVIT_ONLY_PREFIXES = ("pos_embed_temporal", "object_queries", "head.boxes_mlp.",
                      "head.boxes_bce_mlp.", "head.contact_mlp.")
