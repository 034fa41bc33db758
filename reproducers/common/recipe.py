"""Recipe -> trainer: the knobs every paper's training shares, declared once, and the one
function that turns a run's recipe into ``common.trainer.TrainConfig``.

A paper's typed options subclass ``TrainerOptions`` (adding its own knobs, or redeclaring a
default the paper's official code uses); each field is a ``--set`` key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reproducers.harness.knobs import knob

from .trainer import TrainConfig


@dataclass(frozen=True)
class TrainerOptions:
    eval_every: int | None = knob(1, ge=1)  # epochs between evaluations (None: last epoch only)
    eval_batch_size: int | None = knob(None, ge=1)  # None: the paper's default
    select: Literal["best", "last"] = "last"  # checkpoint kept: best evaluation or last epoch
    per_device_batch: int | None = knob(None, ge=1)  # None: global batch / processes
    amp: Literal["fp16", "bf16"] | None = None  # autocast dtype (fp16 adds a GradScaler)
    grad_clip: float | None = knob(None, gt=0)  # max gradient norm (None: no clipping)
    checkpoint_every_steps: int | None = knob(None, ge=1)  # None: at epoch ends only
    log_every_steps: int = knob(1, ge=1)  # steps.csv / progress interval
    tensorboard: bool = False  # also write TensorBoard scalars
    drop_last: bool = True  # drop the short last global batch of an epoch
    num_workers: int = knob(0, ge=0)  # DataLoader worker processes per rank
    persistent_workers: bool | None = None  # None: when num_workers > 0


def train_config(ctx, *, device: str, select_metric: str | None = None,
                 select_higher: bool = True, declared_gpus: int | None = None,
                 **extra) -> TrainConfig:
    """The trainer's config for ``ctx.recipe`` (generic fields + ``TrainerOptions``).

    ``device`` is the process's device (its rank's under torchrun); ``declared_gpus``
    defaults to the recipe's (None when it declares none); ``extra`` passes paper-specific
    trainer settings (EMA, find_unused_parameters, ...) or replaces a derived one (e.g. amp
    only on CUDA)."""
    recipe, opts = ctx.recipe, ctx.recipe.options
    workers = opts.num_workers
    persistent = opts.persistent_workers
    kwargs = dict(
        epochs=recipe.epochs,
        global_batch=recipe.batch_size,
        device=device,
        per_device_batch=opts.per_device_batch,
        declared_gpus=declared_gpus if declared_gpus is not None else (recipe.gpus or None),
        eval_every=opts.eval_every if opts.eval_every is not None else recipe.epochs,
        grad_clip=opts.grad_clip,
        amp=opts.amp,
        select=opts.select,
        select_metric=select_metric,
        select_higher=select_higher,
        checkpoint_every_steps=opts.checkpoint_every_steps,
        log_every_steps=opts.log_every_steps,
        tensorboard=opts.tensorboard,
        progress=ctx.progress,
        seed=ctx.seed,
        drop_last=opts.drop_last,
        num_workers=workers,
        pin_memory=device.startswith("cuda"),
        persistent_workers=workers > 0 if persistent is None else persistent,
    )
    return TrainConfig(**{**kwargs, **extra})


def fit_summary(result, cfg: TrainConfig) -> dict:
    """The train-record keys every paper reports for a ``trainer.fit`` result."""
    selection = (f"best by {cfg.select_metric}" if cfg.select == "best" else "last epoch")
    return {
        "checkpoint": result.checkpoint,
        "last_checkpoint": result.last,
        "selected_epoch": result.selected_epoch,
        "selection": selection,
        "steps": result.steps,
        "world_size": result.world_size,
        "accum": result.accum,
        "per_device_batch": result.per_device_batch,
        "setup_mismatch": result.mismatch,
        "resumed_from": result.resumed_from,
        "history": result.history,
    }
