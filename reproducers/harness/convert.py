"""``convert-checkpoint``: turn an official pickled checkpoint into a weights-only state dict.

Everything else in the project loads with ``torch.load(weights_only=True)``. Official
checkpoints (PySlowFast ``.pyth`` with ``model_state``, mmaction/mmdet ``state_dict``, plain
pickles) may need full unpickling, which can run arbitrary code: this is the one place that
does it, only for a file the user names, after saying so.
"""

from __future__ import annotations

import re
from pathlib import Path

from .atomic import write_atomic
from .errors import UserError

STATE_KEYS = ("model_state", "state_dict", "model", "module", "ema_state_dict")


CONVERT = "python -m reproducers convert-checkpoint"


def torch_error_line(exc: BaseException) -> str:
    """The informative part of a ``torch.load`` error in one line (torch's own messages run
    to ~8 lines of advice): the unpickler's complaint, else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\s+Please use|\n\n|$)", text, re.S)
    line = found.group(1).strip() if found else (lines[0] if lines else type(exc).__name__)
    line = " ".join(line.split()).rstrip(".")
    return line if len(line) <= 160 else line[:157] + "..."


def weights_only_refusal(path: Path, exc: BaseException) -> str:
    """One line for a --checkpoint that ``torch.load(weights_only=True)`` refuses."""
    why = torch_error_line(exc)
    if "Unsupported global" in why:
        return (f"{path}: a pickled checkpoint ({why}), which torch.load(weights_only=True) "
                f"refuses; convert it once with `{CONVERT} {path} "
                f"{Path(path).with_suffix('.weights.pt')}` and pass that file")
    return (f"{path}: cannot be loaded with torch.load(weights_only=True) ({why}); pass a .pt "
            f"state dict, or convert an official pickled checkpoint once with "
            f"`{CONVERT} SRC DST`")


def extract_state_dict(obj, key: str | None = None) -> tuple[dict, str]:
    """The tensor dict inside a loaded checkpoint, and the key path it came from."""
    import torch

    path = []
    if key is not None:
        for part in key.split("."):
            if not isinstance(obj, dict) or part not in obj:
                raise UserError(f"--key {key}: no {part!r} in the checkpoint "
                                f"(top-level keys: {sorted(obj) if isinstance(obj, dict) else '-'})")
            obj, path = obj[part], [*path, part]
    else:
        while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((k for k in STATE_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj, path = obj[inner], [*path, inner]
    if not isinstance(obj, dict):
        raise UserError(f"no state dict found (found {type(obj).__name__}); pass --key")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise UserError("no tensors found in the checkpoint; pass --key to name the state dict")
    return state, ".".join(path) or "<top level>"


def convert(src: Path, dst: Path, key: str | None = None, log=print) -> dict:
    import torch

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise UserError(f"{src} does not exist" if not src.exists() else
                        f"{src} is a folder; give the checkpoint file to convert")
    if dst.is_dir():
        raise UserError(f"destination {dst} is a folder; give a file name, e.g. "
                        f"{dst / (src.stem + '.weights.pt')}")
    if dst.resolve() == src.resolve():
        raise UserError(f"destination {dst} is the source; give another file name")
    log(f"loading {src} with full unpickling (weights_only=False): only do this for a file "
        f"from a source you trust, e.g. an official release")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated, not a torch file, a class that no longer exists
        raise UserError(f"{src}: not a readable checkpoint ({type(exc).__name__}: "
                        f"{torch_error_line(exc)}); check the download") from None
    state, where = extract_state_dict(obj, key)
    write_atomic(dst, lambda p: torch.save(state, p))
    torch.load(dst, map_location="cpu", weights_only=True)  # the point of the conversion
    n = sum(v.numel() for v in state.values())
    log(f"wrote {len(state)} tensors ({n:,} values) from {where} to {dst}; "
        f"it loads with weights_only=True")
    return {"src": str(src), "dst": str(dst), "from": where, "tensors": len(state),
            "values": n}
