"""Weights in one place: load, convert, initialise.

- **load**: every file is read with ``torch.load(weights_only=True)`` (``load_file``); a file
  that needs full unpickling stops with a one-line error pointing at the explicit
  ``convert-checkpoint`` command (``convert``, the one place that unpickles, see convert.py).
  ``load_weights`` finds the state dict inside the usual wrappers (model_state, state_dict,
  model, ...); ``weights_only_file`` writes a training checkpoint's weights once to a cache.
- **load into a model**: ``load_strict`` (evaluation: every key and shape must fit) and
  ``load_matching`` (initialisation: tensors whose name and shape match; the rest stays at
  its initialisation and is listed).
- **initial weights of a training run**: a reproduction declares ``init = InitFile(...)`` (a
  user file) or ``InitFrom(...)`` (another reproduction's checkpoint); ``harness/chain.py``
  resolves it for a run and ``initialise`` loads it into the freshly built model. Paper-
  specific key renaming enters as the declared ``adapt`` hook (same signature as
  ``ModelSpec.adapt_state_dict``), never here.

Only base modules (errors, atomic, convert) are imported, so ``common`` may use this too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .atomic import write_atomic
from .convert import convert, extract_state_dict, weights_only_refusal
from .errors import UserError

__all__ = ["InitFile", "InitFrom", "Adapt", "convert", "extract_state_dict", "load_file",
           "save_file", "load_weights", "weights_only_file", "load_strict", "load_matching",
           "load_for_evaluation", "initialise", "sha256"]

# adapt(state) -> (state, notes): a paper's key renaming / dropping before the load
Adapt = Callable[[dict], tuple[dict, list[str]]]


@dataclass(frozen=True)
class InitFile:
    """Start training from a user file. ``path`` is relative to ``--data-root`` (or absolute;
    ``{data_root}`` is expanded). Smoke runs skip it unless ``smoke`` (their synthetic data
    root holds no such file); ``run --init FILE`` gives a file on the command line instead."""

    path: str
    strict: bool = False  # False: name + shape matches load, the rest keeps its init
    adapt: Adapt | None = None
    smoke: bool = False


@dataclass(frozen=True)
class InitFrom:
    """Start training from another reproduction's checkpoint (same smoke/full mode), read from
    its train record. ``pick``: "best" (``model_best.pt``), "last" (``model_last.pt``) or
    "selected" (the checkpoint its train stage selected, the one its evaluate scores)."""

    reproduction: str
    pick: Literal["best", "last", "selected"] = "best"
    strict: bool = False
    adapt: Adapt | None = None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_file(path: Path, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` (a ``.safetensors`` file: safetensors' loader);
    a one-line ``UserError`` when the file is absent or needs full unpickling."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file as load_safetensors

            return load_safetensors(str(path), device=str(map_location))
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle-only files, corrupt files
        raise UserError(weights_only_refusal(path, exc)) from None


def save_file(path: Path, obj) -> Path:
    """``torch.save`` atomically (no half-written file on a crash)."""
    import torch

    return write_atomic(Path(path), lambda p: torch.save(obj, p))


def _state_of(obj, path: Path) -> tuple[dict, str]:
    try:
        return extract_state_dict(obj)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def load_weights(path: Path) -> dict:
    """A state dict from a weights-only checkpoint: a raw state dict, or one nested under the
    usual keys (model, model_state, state_dict, ...; see convert.extract_state_dict)."""
    return _state_of(load_file(path), Path(path))[0]


def weights_only_file(path: Path, cache_dir: Path, log=print) -> tuple[Path, dict, bool]:
    """(file, state dict, converted): ``path`` itself when it is a bare state dict; otherwise
    (an official training checkpoint: model_state + optimizer_state + cfg ..., loadable with
    weights_only=True) its state dict written once to ``cache_dir/<stem>.<sha12>.weights.pt``
    and reused after. The checkpoint is read once."""
    import torch

    path = Path(path)
    obj = load_file(path)
    state, where = _state_of(obj, path)
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return path, state, False
    target = Path(cache_dir) / f"{path.stem}.{sha256(path)[:12]}.weights.pt"
    if not target.is_file():
        save_file(target, state)
        log(f"converted {path} ({where}, {len(state)} tensors) once to weights-only {target}")
    return target, state, True


def _few(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def load_strict(model, state: dict, source: Path) -> None:
    """``load_state_dict(strict=True)`` with a one-line error naming what does not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise UserError(f"{source}: does not fit the model: missing [{_few(missing)}], "
                        f"unexpected [{_few(unexpected)}], shape mismatch [{_few(shapes)}]; "
                        f"pass the checkpoint of this reproduction's architecture")
    model.load_state_dict(state, strict=True)


def load_matching(model, state: dict, source: Path) -> dict:
    """Load the tensors of ``state`` whose name and shape match ``model``; the others keep
    their initialisation. Returns the account {loaded, total, mismatched, missing,
    unexpected}; a one-line error when nothing matches."""
    own = model.state_dict()
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not kept:
        raise UserError(f"{source}: no tensor matches the model by name and shape "
                        f"(model keys like {_few(sorted(own), 3)}; file keys like "
                        f"{_few(sorted(state), 3)}); is it a checkpoint of this architecture?")
    model.load_state_dict(kept, strict=False)
    return {"loaded": len(kept), "total": len(own),
            "mismatched": sorted(k for k in state if k in own and own[k].shape != state[k].shape),
            "missing": sorted(k for k in own if k not in kept),
            "unexpected": sorted(k for k in state if k not in own)}


def load_for_evaluation(model, checkpoint: Path, cache_dir: Path, adapt: Adapt | None = None,
                        log=print) -> dict:
    """Load the checkpoint an evaluation scores: weights-only (a training checkpoint's weights
    cached once, see ``weights_only_file``), the paper's ``adapt`` hook, strict. Returns what
    the evaluate record stores under ``weights``."""
    weights, state, converted = weights_only_file(checkpoint, cache_dir, log)
    notes: list[str] = []
    if adapt is not None:
        state, notes = adapt(state)
    load_strict(model, state, checkpoint)
    return {"file": str(weights), "converted_from": str(checkpoint) if converted else None,
            "notes": notes}


def initialise(model, state: dict, source: Path, strict: bool = False,
               adapt: Adapt | None = None) -> dict:
    """Initialise ``model`` from ``state`` (after the paper's ``adapt`` hook): strictly, or by
    name + shape match. Returns the account stored in the train record."""
    notes: list[str] = []
    if adapt is not None:
        state, notes = adapt(state)
    if strict:
        load_strict(model, state, source)
        own = len(model.state_dict())
        account = {"loaded": own, "total": own, "mismatched": [], "missing": [],
                   "unexpected": []}
    else:
        account = load_matching(model, state, source)
    return {**account, "strict": strict, "notes": notes}
