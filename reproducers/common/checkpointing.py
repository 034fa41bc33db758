"""What the trainer stores to resume exactly, and its step/epoch logs.

Everything here loads with ``torch.load(weights_only=True)``: RNG states are stored as
tensors, ints, floats and strings (no numpy objects), and files are written atomically by
``harness.atomic`` (temp file, fsync, rename), so a kill mid-write keeps the previous file.
"""

from __future__ import annotations

import csv
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from reproducers.harness.atomic import write_atomic
from reproducers.harness.errors import UserError

from .checkpoint import load_checkpoint, save_checkpoint

FORMAT = 1


@dataclass
class Progress:
    """Where a run stands; stored in ``checkpoint_last.pt`` as plain numbers and lists."""

    epoch: int = 1  # the epoch to run or continue
    step_in_epoch: int = 0  # optimizer steps done in it
    global_step: int = 0
    loss_sum: float = 0.0  # sum of the step losses of the epoch so far
    history: list[dict] = field(default_factory=list)
    best: float | None = None
    selected_epoch: int = 0


def rng_state() -> dict:
    """This process's python ``random``, numpy global, torch CPU and (when CUDA is in use)
    current-device CUDA RNG states."""
    version, mt, gauss = random.getstate()
    key, np_mt, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"key": key, "state": torch.from_numpy(np_mt.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()  # this rank's own (current) device
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["key"], nps["state"].numpy().astype(np.uint32), nps["pos"],
                         nps["has_gauss"], nps["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cpu_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def save_training_state(path: Path, state: dict) -> Path:
    return save_checkpoint(path, {"format": FORMAT, **state})


def load_training_state(path: Path) -> dict:
    try:
        state = load_checkpoint(path)
    except Exception as exc:  # truncated, corrupt, not a torch file, pickled objects
        why = " ".join(str(exc).split()).split(". ")[0][:160]  # torch's first sentence
        raise UserError(f"--resume {path}: not a readable training checkpoint "
                        f"({type(exc).__name__}: {why}); move it away or run without "
                        f"--resume") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        state = state if isinstance(state, dict) else {}
        raise UserError(f"{path} is not a checkpoint of reproducers.common.trainer (format "
                        f"{state.get('format')!r}): move it away or resume without it")
    missing = [k for k in ("model", "setup", "progress", "rng") if k not in state]
    if missing:
        raise UserError(f"--resume {path}: training checkpoint without {', '.join(missing)}: "
                        f"move it away or run without --resume")
    return state


def training_state(model: dict, stateful: dict, rngs: list[dict], progress: Progress,
                   setup: dict) -> dict:
    """The full state of a run: ``model`` (a CPU state dict), each stateful object's
    ``state_dict()`` under its key, every rank's RNG states, progress and ``setup`` (the
    global batch and seed that fix the data order, the world size and accumulation)."""
    return {"model": model, **{k: v.state_dict() for k, v in stateful.items()}, "rng": rngs,
            "progress": asdict(progress), "setup": setup}


@dataclass(frozen=True)
class Resume:
    """What ``fit(resume=...)`` gets from the harness: ``source`` ("auto", a path or None)
    and ``run_hash``, the hash of everything that changes the run's result (config with every
    --set, data fingerprint, code, seed, initial weights). The hash is stored in every
    ``checkpoint_last.pt``; a checkpoint is resumed only when its hash is this run's:
    "auto" otherwise starts fresh and says why in one line, an explicit path is refused."""

    source: str | Path | None = None
    run_hash: str | None = None


def resume_request(resume) -> Resume:
    return resume if isinstance(resume, Resume) else Resume(resume or None)


def read_resumable(path: Path, request: Resume, say) -> dict | None:
    """The training state to resume from ``path``, or None when "auto" must start fresh
    (a checkpoint of another configuration; said in one line). Corrupt files and explicit
    checkpoints of another configuration are a ``UserError``."""
    state = load_training_state(path)
    if request.run_hash is None:
        return state
    old = state.get("setup", {}).get("run_hash")
    if old == request.run_hash:
        return state
    what = (f"written by another configuration (run hash {old}, this run {request.run_hash})"
            if old else "written without a run hash (an older version)")
    if request.source == "auto":
        say(f"--resume auto: not resuming {path}: {what}; starting fresh")
        return None
    raise UserError(f"--resume {path}: {what}: its training would not be this run's; resume "
                    f"with the same --set/config, or drop --resume to start fresh")


def restore(path: Path, model: torch.nn.Module, stateful: dict, setup: dict, rank: int,
            world_size: int, say, state: dict | None = None) -> Progress:
    """Load ``path`` (or its already loaded ``state``) into ``model``, the stateful objects
    and this rank's RNGs.

    The global batch and seed must equal ``setup``'s (they fix the data order); a different
    world size is allowed (the data order does not depend on it) but RNG streams then restart
    from rank 0's, which ``say`` reports. A model of another architecture is a ``UserError``.
    """
    state = load_training_state(path) if state is None else state
    old = state["setup"]
    for key in ("global_batch", "seed"):
        if old[key] != setup[key]:
            raise UserError(f"{path} was written with {key} {old[key]}, this run has "
                            f"{setup[key]}: the data order would differ (resume with the same)")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UserError(f"--resume {path}: its model does not fit this architecture "
                        f"({' '.join(line.strip() for line in first[:2])[:300]}); resume "
                        f"with the same model config or start fresh") from None
    for key, obj in stateful.items():
        if key not in state:
            raise UserError(f"{path} holds no {key!r} state: resume with the same setup")
        try:
            obj.load_state_dict(state[key])
        except (ValueError, RuntimeError, KeyError) as exc:
            raise UserError(f"--resume {path}: its {key} state does not fit this run "
                            f"({str(exc).splitlines()[0][:200]}): resume with the same "
                            f"setup") from None
    rngs = state["rng"]
    if len(rngs) != world_size:
        say(f"WARNING: {path} was written by {len(rngs)} process(es), this run has "
            f"{world_size}: RNG streams (dropout) restart from rank 0's")
    set_rng_state(rngs[rank] if len(rngs) == world_size else rngs[0])
    progress = Progress(**state["progress"])
    say(f"resumed from {path}: epoch {progress.epoch}, step {progress.step_in_epoch} in it, "
        f"global step {progress.global_step}")
    return progress


def write_csv_atomic(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))

    def write(p: Path) -> None:
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)

    write_atomic(path, write)


PUBLISHED = ("model_last.pt", "model_best.pt", "history.csv", "steps.csv")


def partial_path(path: Path) -> Path:
    """Where a run writes ``path`` until it ends: ``steps.csv`` -> ``steps.partial.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


PARTIAL_OWNER = "partial.run_id"  # which run (``setup["run_id"]``) wrote the partial files


def publish(out_dir: Path, names=PUBLISHED) -> None:
    """A run that ended: its partial weights and logs replace the last finished run's."""
    for name in names:
        final = Path(out_dir) / name
        if partial_path(final).exists():
            partial_path(final).replace(final)
    (Path(out_dir) / PARTIAL_OWNER).unlink(missing_ok=True)


def discard_partials(out_dir: Path, names=PUBLISHED) -> None:
    """The partial files of an interrupted run that is not the one continuing now."""
    for name in names:
        partial_path(Path(out_dir) / name).unlink(missing_ok=True)
    (Path(out_dir) / PARTIAL_OWNER).unlink(missing_ok=True)


def claim_partials(out_dir: Path, run_id: str | None, fresh: bool) -> str:
    """Make the partial files ``run_id``'s before it writes any: a fresh run discards
    whatever is there; a resumed run keeps them only when its own run wrote them (a later
    run killed before its first checkpoint may have written others). Returns "fresh",
    "ours" (partial files of the resumed run), "none" (no partial files: the finished files
    are the resumed run's) or "other" (another run's, discarded: the step log restarts)."""
    owner_file = Path(out_dir) / PARTIAL_OWNER
    owner = owner_file.read_text().strip() if owner_file.exists() else None
    found = "fresh" if fresh else "ours" if owner == run_id else "none" if owner is None \
        else "other"
    if found != "ours":
        discard_partials(out_dir)
    if run_id is not None:
        write_atomic(owner_file, lambda p: p.write_text(run_id + "\n"))
    return found


class StepLog:
    """``steps.csv`` (epoch, global step, loss = mean over the global batch, lr of the first
    parameter group used by the step, step seconds) and optional TensorBoard, rank 0 only.

    The rows go to ``steps.partial.csv`` until the run ends (``publish``), so a failed or
    killed run never truncates the last finished run's ``steps.csv``. ``resume_step``: rows
    after this global step (written by a run killed after its last checkpoint) are dropped,
    so a resumed log reads like an uninterrupted one.
    """

    FIELDS = ("epoch", "step", "loss", "lr", "time")

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None,
                 continue_final: bool = True):
        self.enabled, self.writer, self.fh = enabled, None, None
        if not enabled:
            return
        final = Path(out_dir) / "steps.csv"
        path = partial_path(final)
        source = path if path.exists() or not continue_final else final
        kept = []
        if resume_step is not None and source.exists():
            with open(source, newline="") as fh:
                kept = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
        write_csv_atomic(path, kept) if kept else path.write_text(",".join(self.FIELDS) + "\n")
        self.fh = open(path, "a", newline="")  # noqa: SIM115 - closed in close()
        self.csv = csv.writer(self.fh)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = resume_step + 1 if resume_step is not None else None
            self.writer = SummaryWriter(str(Path(out_dir) / "tensorboard"), purge_step=purge)

    def step(self, epoch: int, step: int, loss: float, lr: float, seconds: float) -> None:
        if not self.enabled:
            return
        self.csv.writerow([epoch, step, repr(loss), repr(lr), f"{seconds:.4f}"])
        self.fh.flush()
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)

    def epoch(self, row: dict, step: int) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if k != "epoch" and isinstance(v, int | float):
                self.writer.add_scalar(f"epoch/{k}", v, step)
        self.writer.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        if self.writer is not None:
            self.writer.close()
