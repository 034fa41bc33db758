"""SVM's optimizer groups and YOLOX learning-rate schedule.

Parameter groups reproduce yuzhms/Streaming-Video-Model
``mmdet_ext/runner/optimizer_constructor.py::CustomOptimizerConstructor`` with the
``svm_base.py`` ``paramwise_cfg``: ``custom_keys`` are matched as substrings of the full
parameter name in dict order and the **first** match wins (not the longest, whatever the
docstring says), so every backbone parameter that is not in a residual block, the FPN adaptor
or ``ln_post_out*`` gets x0.1 (CLIP weights and the new stream parameters alike); custom-matched
parameters keep weight decay 0.05 even when they are norms or biases; elsewhere (neck and
head) norm and bias parameters get no weight decay.

The schedule is mmdet 2.26 ``YOLOXLrUpdaterHook`` (policy 'YOLOX', by iteration) as the
config sets it: exponential warmup ``lr * ((it + 1) / W) ** 2`` over ``W`` iterations, cosine
decay to ``min_lr_ratio * lr``, then that constant for the last ``last`` iterations. With the
sequential runner an iteration is one frame step; the official config's ``W = 1 * num_frames``
epochs counts loader batches, i.e. one epoch of frame steps, while ``last`` is one loader
length (half an epoch of frame steps): ``schedule_lengths`` returns both as the official code
computes them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

CUSTOM_KEYS = (  # svm_base.py paramwise_cfg.custom_keys, in dict order: (substring, lr_mult)
    ("residual_block", 1.0),
    ("backbone.fpn_adaptor", 1.0),
    ("backbone.ln_post_", 1.0),
    ("backbone", 0.1),
)
NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
         nn.GroupNorm, nn.LayerNorm)


def param_groups(model: nn.Module, lr: float, weight_decay: float,
                 custom_keys=CUSTOM_KEYS, norm_decay_mult: float = 0.0,
                 bias_decay_mult: float = 0.0) -> list[dict]:
    """One optimizer group per parameter kind: {"params", "lr", "weight_decay", "group_name"}.

    Names are those of the official ``ByteTrack`` model (``detector.backbone...``)."""
    groups: dict[tuple[float, float], dict] = {}
    for mod_name, module in model.named_modules():
        is_norm = isinstance(module, NORMS) or type(module).__name__ == "LayerNormChannelFirst"
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            full = f"{mod_name}.{pname}" if mod_name else pname
            mult = next((m for key, m in custom_keys if key in full), None)
            if mult is not None:
                g_lr, g_wd = lr * mult, weight_decay
            else:
                g_lr, g_wd = lr, weight_decay
                if is_norm:
                    g_wd = weight_decay * norm_decay_mult
                elif pname == "bias":
                    g_wd = weight_decay * bias_decay_mult
            group = groups.setdefault((g_lr, g_wd), {
                "params": [], "names": [], "lr": g_lr, "weight_decay": g_wd,
                "group_name": f"lr_{g_lr:g}_wd_{g_wd:g}"})
            group["params"].append(p)
            group["names"].append(full)
    return list(groups.values())


def build_optimizer(model: nn.Module, lr: float = 2.5e-4, weight_decay: float = 0.05,
                    betas=(0.9, 0.999)) -> torch.optim.AdamW:
    groups = param_groups(model, lr, weight_decay)
    for g in groups:
        g["initial_lr"] = g["lr"]
    return torch.optim.AdamW(
        [{k: v for k, v in g.items() if k != "names"} for g in groups], lr=lr, betas=betas,
        weight_decay=weight_decay)


def schedule_lengths(loader_len: int, epochs: int, num_frames: int,
                     warmup_epochs: float = 1.0, num_last_epochs: int = 1) -> dict:
    """Iteration counts of the official run: {"total", "warmup", "last"} in frame steps."""
    return {"total": epochs * loader_len * num_frames,
            "warmup": round(warmup_epochs * num_frames * loader_len),
            "last": loader_len * num_last_epochs}


def yolox_lr_factor(it: int, total: int, warmup: int, last: int,
                    min_lr_ratio: float = 0.05) -> float:
    """Multiplier of the base LR at (0-based) iteration ``it``."""
    if it < warmup:
        return ((it + 1) / warmup) ** 2
    progress = it + 1
    if progress >= total - last:
        return min_lr_ratio
    frac = (progress - warmup) / (total - warmup - last)
    return min_lr_ratio + (1 - min_lr_ratio) * (1 + math.cos(math.pi * frac)) / 2


def yolox_scheduler(optimizer, total: int, warmup: int, last: int,
                    min_lr_ratio: float = 0.05) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per optimizer (frame) step, like ``fit`` does."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: yolox_lr_factor(it, total, warmup, last, min_lr_ratio))
