"""ImageNet initialisation of the I3D ResNet from a torchvision 2-D ResNet state dict.

The paper (following the Non-local paper) initialises I3D by inflating ImageNet 2-D weights.
Modes, declared in a run's record:

* ``mean`` (default): each of the t planes of a t×k×k kernel is the k×k weight divided by t,
  the Non-local paper's rule (its §4, "rescaled by 1/t"); a static clip then gives the 2-D
  network's conv responses.
* ``centre``: the k×k weight in the centre plane, zeros elsewhere.
* ``jd730_noop``: jd730/STRG's ``ResNet.load_imagenet_pretrained`` (models/resnet_strg.py)
  writes into a dict returned by ``state_dict()`` and never loads it, so nothing changes and
  training starts from the random init. Offered to reproduce the jd730 rows.

The key names are torchvision's (jd730 chose them so), so the copy is by name; ``fc`` (1000
ImageNet classes) and non-local blocks (absent in 2-D) keep their init.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from reproducers.harness.errors import UserError

MODES = ("mean", "centre", "jd730_noop")


def read_torchvision_resnet(path: str | Path) -> dict[str, torch.Tensor]:
    """A torchvision ResNet state dict from ``path`` (plain, or under "state_dict"/"model")."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ImageNet weights {path}: no such file; pass a torchvision ResNet "
                        f"state dict (e.g. resnet50-11ad3fa6.pth)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"ImageNet weights {path}: not a readable torch file ({e})") from e
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise UserError(f"ImageNet weights {path}: no 'conv1.weight'; expected a torchvision "
                        f"ResNet state dict")
    return state


def inflate_imagenet(model: nn.Module, state_2d: dict[str, torch.Tensor],
                     mode: str = "mean", source: str = "ImageNet weights") -> dict:
    """Copy ``state_2d`` into the I3D ``model`` by name, inflating convs; returns a report
    {"mode", "copied", "kept_init"} for the run record."""
    if mode not in MODES:
        raise UserError(f"--imagenet-inflation {mode!r}: choose one of {', '.join(MODES)}")
    own = model.state_dict()
    if mode == "jd730_noop":
        return {"mode": mode, "copied": 0, "kept_init": len(own),
                "note": "jd730's loader never calls load_state_dict: random init kept"}
    new, kept = {}, []
    for key, target in own.items():
        if key.startswith("fc.") or ".nonlocal_block." in key:
            kept.append(key)
            continue
        if key not in state_2d:
            raise UserError(f"{source}: missing {key!r}; is it a ResNet of the same depth?")
        new[key] = _inflate(key, state_2d[key], target, mode, source)
    model.load_state_dict(new, strict=False)
    return {"mode": mode, "copied": len(new), "kept_init": len(kept)}


def _inflate(key: str, w2d: torch.Tensor, target: torch.Tensor, mode: str,
             source: str) -> torch.Tensor:
    w2d = w2d.to(target.dtype)
    if target.dim() == 5 and w2d.dim() == 4:
        o, i, t, h, w = target.shape
        if tuple(w2d.shape) != (o, i, h, w):
            raise UserError(f"{source}: {key} has shape {tuple(w2d.shape)}, expected "
                            f"{(o, i, h, w)} to inflate to {tuple(target.shape)}")
        if mode == "mean":
            return w2d.unsqueeze(2).expand(o, i, t, h, w) / t
        out = torch.zeros_like(target)
        out[:, :, t // 2] = w2d
        return out
    if w2d.shape != target.shape:
        raise UserError(f"{source}: {key} has shape {tuple(w2d.shape)}, expected "
                        f"{tuple(target.shape)}")
    return w2d.clone()
