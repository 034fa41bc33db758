"""Official checkpoints into our SViT / MViTv2 modules (same parameter names).

- ``adapt_state_dict``: the released SSv2 file (``model_state``) loads as it is; copies that
  PySlowFast's test-time ``split_qkv`` adds next to the fused ``qkv``
  (``blocks.N.attn.{q,k,v}.{weight,bias}``) are dropped, since the model uses ``qkv``
  (eladb3/SViT ``slowfast/utils/checkpoint.py``).
- ``load_pretrained``: the K400 MViTv2-S initialisation as the official loader does it: keep
  the tensors whose name *and* shape match, leave the rest at their initialisation
  (``head.projection`` 400 vs 174 classes; SViT's object prompts, temporal embedding and
  HAOG heads, which K400 MViTv2-S does not have), and say which.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from reproducers.harness.errors import UserError
from reproducers.harness.weights import load_matching, load_weights

_SPLIT_QKV = re.compile(r"^blocks\.\d+\.attn\.[qkv]\.(weight|bias)$")


def adapt_state_dict(state: dict) -> tuple[dict, list[str]]:
    """(state without split_qkv copies, notes)."""
    dropped = sorted(k for k in state if _SPLIT_QKV.match(k))
    out = {k: v for k, v in state.items() if k not in dropped}
    notes = [f"dropped {len(dropped)} split_qkv copies (attn.q/k/v) of the fused qkv"] \
        if dropped else []
    return out, notes


def load_pretrained(model: torch.nn.Module, path) -> str:
    """Initialise ``model`` from an official checkpoint (name + shape match); returns a
    one-paragraph account of what was loaded and what was not."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--set init_checkpoint={path}: no such file; download the K400 "
                        f"MViTv2-S checkpoint (see reproducers/svit/DATA.md)")
    state, notes = adapt_state_dict(load_weights(path))
    a = load_matching(model, state, path)
    missing = a["missing"]
    return (f"init from {path.name}: {a['loaded']}/{a['total']} tensors loaded; shape-mismatched "
            f"(kept at init): {a['mismatched'] or 'none'}; not in the checkpoint: "
            f"{missing if len(missing) <= 12 else missing[:12] + ['...']}; unexpected: "
            f"{a['unexpected'] or 'none'}" + (f"; {'; '.join(notes)}" if notes else ""))
