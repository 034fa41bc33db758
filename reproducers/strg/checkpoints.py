"""Initial weights from files: a stage-1 I3D checkpoint into STRG, a Kinetics I3D into I3D.

jd730/STRG @ 0df179c ``main.py::save_checkpoint`` writes ``save_<epoch>.pth`` =
{"epoch", "arch", "state_dict", "optimizer", "scheduler"}, the state dict unwrapped from
DataParallel (old files carry a "module." prefix, which ``util_scripts/remove_dataparallel.py``
strips; so does ``read_state``). Its stage 2 loads the stage-1 backbone with ``--pretrain_path``
into the bare backbone, then wraps it; here ``load_backbone`` does that for ``STRG.base_model``
or for a bare ``I3DResNet`` (the paper's Kinetics-pretrained init): every backbone tensor must
be present with its shape (a strict load), while ``fc`` is taken only where its shape matches
(Kinetics' 400 classes do not) and non-local blocks absent from the file keep their init
(an ImageNet/Kinetics I3D without them, as the Non-local paper initialises its blocks).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from reproducers.harness.errors import UserError


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint file (plain, or under "state_dict"/"model"), without a
    DataParallel "module." prefix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"checkpoint {path}: cannot be read with weights_only=True ({e}); "
                        f"convert it to a plain state dict first") from e
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise UserError(f"checkpoint {path}: no state dict of tensors found")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> dict:
    """Load an I3D backbone state (bare names, or ``base_model.``-prefixed from a STRG file)
    into ``model`` (an ``I3DResNet``, or a ``STRG`` whose ``base_model`` receives it)."""
    target = model.base_model if hasattr(model, "base_model") else model
    if any(k.startswith("base_model.") for k in state):
        state = {k[len("base_model."):]: v for k, v in state.items()
                 if k.startswith("base_model.")}
    own = target.state_dict()
    new, kept = {}, []
    for key, value in own.items():
        if key.startswith("fc.") or ".nonlocal_block." in key:
            if key in state and state[key].shape == value.shape:
                new[key] = state[key]
            else:
                kept.append(key)
            continue
        if key not in state:
            raise UserError(f"{source}: missing {key!r}; not an I3D of this depth/width")
        if state[key].shape != value.shape:
            raise UserError(f"{source}: {key} has shape {tuple(state[key].shape)}, the model "
                            f"{tuple(value.shape)} (inflation or depth differs?)")
        new[key] = state[key]
    unused = sorted(set(state) - set(own))
    target.load_state_dict(new, strict=False)
    return {"loaded": len(new), "kept_init": kept, "unused": unused}


def i3d_as_strg(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The chained init's ``adapt`` hook (harness/weights.py) from an I3D checkpoint into
    STRG: the backbone's tensors under ``base_model.`` (jd730 stage 2 loads its stage-1 file
    into the bare backbone, then wraps it), the I3D ``fc`` dropped (STRG's classifier takes
    the 2 x d concatenation); a STRG state passes unchanged."""
    if any(k.startswith("base_model.") for k in state):
        return state, []
    out = {f"base_model.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    return out, [f"I3D backbone -> base_model.* ({len(out)} tensors); I3D fc dropped, the "
                 f"STRG head (reducer, graph, classifier) keeps its initialisation"]
