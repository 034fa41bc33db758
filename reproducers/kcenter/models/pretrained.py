"""Initialisation from the ImageNet ViT-B/16 file the user supplies, as the official builders do.

The official builders (kcenter_transformer/models/kcenter_{vit,timesformer}/helpers.py
``load_pretrained`` with each model's ``checkpoint_filter_fn``; kcenter_motionformer/
vit_helper.py ``load_pretrained`` with ``_conv_filter``) download
``jx_vit_base_p16_224-80ecf9dd.pth`` (timm key names, 1000-class head) and:
- drop the 1000-class head (the class count differs);
- reshape a flat patch weight to the conv layout;
- ViT/TimeSformer: resize the position table bicubically when the grid differs;
- TimeSformer: copy every block's ``attn.*`` to ``temporal_attn.*`` and ``norm1`` to
  ``temporal_norm1``;
- load non-strictly (Motionformer: every tensor whose name and shape match).
Everything the file does not fill keeps the official random init: the time table (zero),
the head, TimeSformer's zero ``temporal_fc``, Motionformer's ``proj_q``/``proj_kv``.
timm's own file for ViT-B/16 (``.pth``/``.bin`` or ``.safetensors``) has the same names.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from reproducers.harness.errors import UserError

from .base import KCenterBackbone


def read_image_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in an ImageNet ViT file (plain, or under "model"/"state_dict")."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ImageNet ViT-B/16 file not found: {path} (pass the official "
                        f"jx_vit_base_p16_224-80ecf9dd.pth or timm's vit_base_patch16_224 file)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"cannot read ImageNet ViT file {path}: {reason}") from e
    for key in ("model", "state_dict", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if isinstance(state, dict):
        state = {str(k).removeprefix("module."): v for k, v in state.items()}
    if not isinstance(state, dict) or "pos_embed" not in state:
        raise UserError(f"{path} is not a ViT state dict (no pos_embed); pass the ImageNet "
                        f"ViT-B/16 file")
    return state


def resize_pos_embed(table: torch.Tensor, grid: int) -> torch.Tensor:
    """[1, 1 + g*g, D] -> [1, 1 + grid*grid, D], bicubic on the grid (class row kept)."""
    old = int(math.sqrt(table.shape[1] - 1))
    rows = table[0, 1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
    rows = F.interpolate(rows, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([table[:, :1], rows.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], 1)


def adapt_image_state(model: KCenterBackbone, state: dict[str, torch.Tensor]
                      ) -> dict[str, torch.Tensor]:
    """The official filters: what each model loads from an ImageNet state dict."""
    kind = model.plan.kind
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("head."):
            continue  # the 1000-class head is discarded (class counts differ)
        if key == "patch_embed.proj.weight" and value.dim() < 4:
            value = value.reshape(own[key].shape)
        if key == "pos_embed" and kind != "motionformer" and value.shape != own[key].shape:
            value = resize_pos_embed(value, model.plan.grid)
        if kind == "timesformer" and key.startswith("blocks."):
            if ".attn." in key:
                out.setdefault(key.replace(".attn.", ".temporal_attn."), value)
            elif ".norm1." in key:
                out.setdefault(key.replace(".norm1.", ".temporal_norm1."), value)
        out[key] = value
    return out


@torch.no_grad()
def load_image_checkpoint(model: KCenterBackbone, state: dict[str, torch.Tensor] | str | Path
                          ) -> list[str]:
    """Fill ``model`` from an ImageNet ViT state dict (or file); returns the keys loaded."""
    if not isinstance(state, dict):
        state = read_image_checkpoint(state)
    own = model.state_dict()
    loaded = []
    for key, value in adapt_image_state(model, state).items():
        if key in own and own[key].shape == value.shape:
            own[key].copy_(value)
            loaded.append(key)
    return loaded
