"""Chained reproductions: the initial weights a training run starts from.

A reproduction declares ``init``: None (its own initialisation), ``weights.InitFile`` (a
user file under ``--data-root``) or ``weights.InitFrom`` (another reproduction's best / last
checkpoint, e.g. STRG's GCN stage starting from the I3D fine-tune); ``run --init FILE``
replaces it with a file on the command line. ``resolve`` turns it into a file for one run:

- a file must exist (one-line error otherwise);
- another reproduction's checkpoint is read from that reproduction's train record in the
  same smoke/full mode. Absent, the run stops with a one-line error giving the command that
  produces it; with ``--with-deps`` that dependency is run first (train + evaluate, same
  options, recursively, skipped as usual when its records are current).

The source (reproduction, pick, its train record's inputs hash, the file's content hash) goes
into the train stage's config, hence its inputs hash: a changed dependency makes the
dependent stage stale. The model is initialised where the paper's task builds it: the
run's ``RunContext.reproduction`` carries a model factory that loads the weights into every
model it builds (``ResolvedInit.apply``), so papers need no code for it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from .declarations import Reproduction
from .errors import UserError
from .portable import Roots
from .provenance import REPO_ROOT
from .records import DEFAULT_RECORDS_DIR, read_record, record_path
from .registry import get
from .weights import Adapt, InitFile, InitFrom, initialise, load_weights, sha256

PICK_FILES = {"best": "model_best.pt", "last": "model_last.pt"}


@dataclasses.dataclass(frozen=True)
class ResolvedInit:
    file: Path
    source: dict  # what the train record (and its inputs hash) stores
    strict: bool = False
    adapt: Adapt | None = None

    def apply(self, rep: Reproduction, accounts: list[dict]) -> Reproduction:
        """``rep`` whose model factory initialises every model it builds from ``file`` (the
        file is read once); each load's account is appended to ``accounts``."""
        build, cache = rep.model.factory, {}

        def factory(*args, **kwargs):
            model = build(*args, **kwargs)
            if "state" not in cache:
                cache["state"] = load_weights(self.file)
            accounts.append(initialise(model, cache["state"], self.file, self.strict,
                                       self.adapt))
            return model

        return dataclasses.replace(rep, model=dataclasses.replace(rep.model, factory=factory))


def declared(rep: Reproduction, opts) -> InitFile | InitFrom | None:
    """The init of this run: ``--init FILE`` if given, else the declaration (an ``InitFile``
    not meant for smoke runs is skipped in them)."""
    flag = getattr(opts, "init_file", None)
    if flag is not None:
        return InitFile(str(Path(flag).resolve()), smoke=True)
    init = getattr(rep, "init", None)
    if isinstance(init, InitFile) and opts.smoke and not init.smoke:
        return None
    return init


def resolve(rep: Reproduction, opts, data_root: Path,
            run_dependency: Callable[[Reproduction, object], None]) -> ResolvedInit | None:
    """The initial weights of ``rep``'s train stage in this run (see the module docstring).
    ``run_dependency(dep, dep_opts)`` runs a dependency's stages (``--with-deps``)."""
    init = declared(rep, opts)
    if init is None:
        return None
    roots = Roots.of(opts, data_root)  # the source's file as records store it (portable.py)
    if isinstance(init, InitFile):
        path = Path(init.path.format(data_root=data_root))
        if not path.is_absolute():
            path = Path(data_root) / path
        origin = "--init" if getattr(opts, "init_file", None) is not None else \
            f"{rep.name}'s declared init"
        if not path.is_file():
            raise UserError(f"{origin} {path}: no such file; put the initial weights there "
                            f"(see the paper's DATA.md) or pass --init FILE")
        return ResolvedInit(path, {"file": roots.portable(path), "sha256": sha256(path),
                                   "strict": init.strict}, init.strict, init.adapt)
    if not isinstance(init, InitFrom):
        raise UserError(f"{rep.name}: init must be weights.InitFile or weights.InitFrom, "
                        f"not {type(init).__name__}")
    _no_cycle(rep, get)
    dep = get(init.reproduction)
    if getattr(opts, "with_deps", False):
        run_dependency(dep, dependency_options(opts))
    rec = read_record(opts.records_dir, dep.name, "train", opts.smoke)
    path = _checkpoint(rec, init.pick, roots)
    if path is None:
        where = record_path(opts.records_dir, dep.name, "train", opts.smoke)
        mode = "smoke " if opts.smoke else ""
        if rec is None or rec.get("status") != "ok":
            raise UserError(
                f"{rep.name} starts from {dep.name}'s {init.pick} checkpoint, but there is no "
                f"successful {mode}train record {where}: run `{command_for(dep.name, opts)}` "
                f"first, or add --with-deps")
        raise UserError(
            f"{rep.name} starts from {dep.name}'s {init.pick} checkpoint, but its {mode}train "
            f"record {where} has no such file (deleted, or a recipe that keeps no "
            f"{init.pick} checkpoint): run `{command_for(dep.name, opts)} --force`")
    source = {"reproduction": dep.name, "pick": init.pick, "file": roots.portable(path),
              "sha256": sha256(path), "train_inputs_hash": rec.get("inputs_hash"),
              "strict": init.strict}
    return ResolvedInit(path, source, init.strict, init.adapt)


def describe(init) -> dict | None:
    """A declared init as ``list --json`` shows it (hooks by name)."""
    if init is None:
        return None
    out = {k: v for k, v in dataclasses.asdict(init).items() if k != "adapt"}
    out["adapt"] = getattr(init.adapt, "__qualname__", None) if init.adapt else None
    return {"kind": type(init).__name__, **out}


def dependency_options(opts):
    """The options a dependency runs with: the same flags, minus those naming this run's own
    files (--init, --checkpoint, --resume)."""
    return dataclasses.replace(opts, init_file=None, checkpoint=None, resume=None)


def _checkpoint(rec: dict | None, pick: str, roots: Roots | None = None) -> Path | None:
    if rec is None or rec.get("status") != "ok":
        return None
    result = rec.get("result") or {}
    chosen = result.get("checkpoint")
    if pick == "selected":
        candidates = [chosen]
    else:
        candidates = [result.get(f"{pick}_checkpoint"),
                      chosen and str(Path(chosen).with_name(PICK_FILES[pick]))]
    for c in candidates:
        if c:
            for path in ((roots or Roots()).resolve(c), REPO_ROOT / c):
                if path.is_file():
                    return path
    return None


def _no_cycle(rep: Reproduction, get) -> None:
    seen, cur = [rep.name], rep
    while isinstance(getattr(cur, "init", None), InitFrom):
        cur = get(cur.init.reproduction)
        if cur.name in seen:
            raise UserError(f"{rep.name}: init chain {' -> '.join([*seen, cur.name])} is a "
                            f"cycle; fix the InitFrom declarations")
        seen.append(cur.name)


def command_for(name: str, opts) -> str:
    """The ``run`` command producing ``name``'s checkpoint with this run's options."""
    parts = ["python -m reproducers run", name]
    if opts.smoke:
        parts.append("--smoke")
    if opts.data_root is not None:
        parts.append(f"--data-root {opts.data_root}")
    if Path(opts.records_dir).resolve() != DEFAULT_RECORDS_DIR.resolve():
        parts.append(f"--records-dir {opts.records_dir}")
    if Path(opts.output_dir).resolve() != (REPO_ROOT / "runs").resolve():
        parts.append(f"--output-dir {opts.output_dir}")
    for key, value in (opts.overrides or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"--set {key}={shown}")
    return " ".join(parts)
