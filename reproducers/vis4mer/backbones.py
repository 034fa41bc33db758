"""Frozen feature backbones of ViS4mer's prepare stage, built without network access.

* LVU: timm ViT-L/16 IN-21k (``vit_large_patch16_224.augreg_in21k``, num_classes=0);
  ``forward_features`` gives the 197 x 1024 tokens after the final LayerNorm
  (official: extract_features/extract_features_lvu_vit.py, timm 0.6.6 name
  ``vit_large_patch16_224_in21k``).
* Breakfast/COIN: Video Swin-B (patch 2x4x4, window 8x7x7, depths 2-2-18-2, embed 128) as
  torchvision ``swin3d_b``, which has the same layout as the official
  ``swin_base_patch244_window877_kinetics600_22k`` backbone; ``SwinFeatures`` returns the
  backbone output before pooling, (B, 1024, T/2, H/32, W/32) (official: mmaction
  ``model.extract_feat`` in extract_features/extract_features_{breakfast,coin}_swin_*.py).

Weights are a user-supplied file, loaded with ``torch.load(weights_only=True)`` (or
safetensors; or a timm/big_vision ``.npz`` for the ViT). An mmaction/Video-Swin checkpoint
(``state_dict`` with ``backbone.*`` keys) is renamed to torchvision's names on the fly
(``convert_mmaction_swin``). A checkpoint that needs pickle is converted once, explicitly:
``python -m reproducers.vis4mer.backbones convert SRC DST`` (see DATA.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import torch
from torch import nn

from reproducers.harness.errors import UserError
from reproducers.harness.weights import load_weights

VIT_NAME = "vit_large_patch16_224.augreg_in21k"
VIT_MEAN, VIT_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
# Kinetics config of Video Swin, 0-255 statistics expressed on the [0, 1] scale
SWIN_MEAN = (123.675 / 255, 116.28 / 255, 103.53 / 255)
SWIN_STD = (58.395 / 255, 57.12 / 255, 57.375 / 255)


class SwinFeatures(nn.Module):
    """A torchvision SwinTransformer3d without its pooling and head: (B,3,T,H,W) -> (B,C,T',H',W')."""

    def __init__(self, swin: nn.Module):
        super().__init__()
        self.swin = swin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.swin
        x = s.norm(s.features(s.pos_drop(s.patch_embed(x))))  # B, T', H', W', C
        return x.permute(0, 4, 1, 2, 3)


class ViTFeatures(nn.Module):
    """A timm ViT's ``forward_features``: (B,3,H,W) -> (B, tokens, C)."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit.forward_features(x)


def _read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"--weights {path} not found")
    try:
        return load_weights(path)  # weights-only or .safetensors; state dict unwrapped
    except UserError as exc:
        raise UserError(f"--weights {exc}") from None


def convert_mmaction_swin(state: dict) -> dict:
    """Rename Video-Swin/mmaction keys (``backbone.layers.i.blocks.j...``) to torchvision
    swin3d names (``features.2i.j...``); drops the classifier and relative-position indices."""
    out = {}
    for key, value in state.items():
        if not key.startswith("backbone.") or "relative_position_index" in key:
            continue
        k = key[len("backbone."):]
        k = re.sub(r"^layers\.(\d+)\.blocks\.", lambda m: f"features.{2 * int(m[1])}.", k)
        k = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"features.{2 * int(m[1]) + 1}.", k)
        k = k.replace(".mlp.fc1.", ".mlp.0.").replace(".mlp.fc2.", ".mlp.3.")
        out[k] = value
    return out


def _load(module: nn.Module, state: dict, path: Path, ignore: tuple[str, ...]) -> None:
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys
               if not k.startswith(ignore) and "relative_position_index" not in k]
    if missing or result.unexpected_keys:
        raise UserError(f"--weights {path} does not fit the backbone: missing "
                        f"{missing[:3]} ({len(missing)}), unexpected "
                        f"{result.unexpected_keys[:3]} ({len(result.unexpected_keys)})")


def build_vit(weights: Path) -> nn.Module:
    import timm

    path = Path(weights)
    state = None if path.suffix == ".npz" else _read_state_dict(path)
    model = timm.create_model(VIT_NAME, pretrained=False, num_classes=0)
    if state is None:
        if not path.is_file():
            raise UserError(f"--weights {path} not found")
        model.load_pretrained(str(path))  # timm's big_vision .npz reader (numpy, no pickle)
    else:
        _load(model, state, path, ignore=("head.",))
    return ViTFeatures(model).eval()


def build_swin(weights: Path) -> nn.Module:
    from torchvision.models.video import swin3d_b

    path = Path(weights)
    state = _read_state_dict(path)
    model = swin3d_b(weights=None)
    model.head = nn.Identity()
    if any(k.startswith("backbone.") for k in state):
        state = convert_mmaction_swin(state)
    _load(model, state, path, ignore=("head.", "cls_head."))
    return SwinFeatures(model).eval()


def main(argv: list[str]) -> int:
    """``convert SRC DST``: load a pickled checkpoint you trust (weights_only=False, explicit)
    and save its tensors as a plain state dict that loads with weights_only=True."""
    if len(argv) != 3 or argv[0] != "convert":
        print("usage: python -m reproducers.vis4mer.backbones convert SRC DST", file=sys.stderr)
        return 2
    from reproducers.harness.convert import extract_state_dict

    print(f"loading {argv[1]} with full unpickling (weights_only=False): trusted files only")
    obj = torch.load(argv[1], map_location="cpu", weights_only=False)  # explicit, documented
    state, _ = extract_state_dict(obj)
    if any(k.startswith("backbone.") for k in state):
        state = convert_mmaction_swin(state)
    torch.save(state, argv[2])
    print(f"wrote {len(state)} tensors to {argv[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
