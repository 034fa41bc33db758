"""The trainer every paper uses: one process or many (torch.distributed), exact resume.

``fit`` runs the epoch/step loop of ``TrainConfig`` on one process or under torchrun /
submitit / SLURM (``distributed.init_distributed``): DDP when more than one process
(``no_sync`` on all but the last micro-batch of a step), the recipe's global batch kept on
fewer GPUs by gradient accumulation (each micro-batch loss divided by ``accum``), AMP (bf16,
or fp16 with a GradScaler), gradient clipping, optional torch.compile and channels_last,
per-step CSV/TensorBoard logs and a progress bar (rank 0; plain lines in a captured log:
``progress``).

The loop is the same for every paper; what differs enters as parts:

- the step strategy (``steps``): how one global batch becomes backward passes and optimizer
  steps: ``PlainStep(step_loss)`` (a bare ``step_loss`` function means that),
  ``PerFrameSequenceStep`` (one optimizer step per clip frame: the Streaming Video Model),
  ``aux_stream.AuxStreamStep(inner, stream)`` (SViT's auxiliary image stream added to
  ``inner``'s steps); scheduler, EMA and step logs count optimizer steps;
- the EMA (``ema``: ``Ema``, ``TimmEma``, ``YoloxEma``), updated after every optimizer step
  with its 1-based global index.

Data: ``distributed.train_loader`` over a ``GlobalBatchSampler`` (one permutation per epoch
from ``seed + epoch``, independent of the world size) with every sample's randomness seeded
from (seed, epoch, index), so augmentations depend neither on the worker count nor on where a
run resumed. Dropout etc. draw from the global RNGs, seeded with ``seed + rank`` at a fresh
start and stored (every rank's) in each checkpoint.

Checkpoints (rank 0 writes, every rank then waits at a barrier): ``checkpoint_last.pt``
(model, optimizer, scheduler, scaler, EMA, ``extra_state``, every rank's RNG states, next
epoch and step in it, global step, history, best value) every ``checkpoint_every_steps`` and
at each epoch end; ``model_last.pt`` / ``model_best.pt``: weights-only state dicts (EMA weights
when the EMA is on: evaluation and selection then use the EMA model). ``resume="auto"``
continues from ``checkpoint_last.pt`` exactly (bit-for-bit on CPU; every rank reads it, so
multi-node runs need a shared ``out_dir``), also on another world size with the same global
batch (only the dropout RNG streams then restart from rank 0's). A NaN/inf step loss
(after the all-reduce, so every rank stops) raises ``NonFiniteLoss`` before the optimizer
step; the last good checkpoint is left untouched.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from reproducers.harness.errors import UserError

from . import checkpointing as ck
from .aux_stream import AuxStream, AuxStreamStep
from .distributed import (
    DistEnv,
    GlobalBatchSampler,
    all_gather_object,
    all_reduce_sum,
    barrier,
    broadcast_object,
    distributed_evaluate,
    train_loader,
)
from .ema import Ema, TimmEma, YoloxEma
from .progress import progress
from .schedules import (
    BatchPlan,
    param_groups,
    plan_batch,
    scaled_lr,
    warmup_cosine,
    warmup_step,
)
from .steps import Binding, MicroBatch, PerFrameSequenceStep, PlainStep, StepStrategy, as_strategy

__all__ = ["AuxStream", "AuxStreamStep", "BatchPlan", "Ema", "FitResult", "NonFiniteLoss",
           "PerFrameSequenceStep", "PlainStep", "StepStrategy", "TimmEma", "TrainConfig",
           "YoloxEma", "distributed_evaluate", "fit", "param_groups", "plan_batch", "scaled_lr",
           "warmup_cosine", "warmup_step"]


class NonFiniteLoss(UserError, RuntimeError):
    """The loss became NaN or inf; the last good checkpoint is kept (one line, exit 2)."""


@dataclass
class TrainConfig:
    epochs: int
    global_batch: int
    device: str = "cpu"
    per_device_batch: int | None = None
    accum: int | None = None
    declared_gpus: int | None = None
    eval_every: int = 1
    grad_clip: float | None = None
    amp: str | None = None  # None | "bf16" | "fp16"
    scaler_init_scale: float = 65536.0  # fp16 GradScaler's initial scale (torch default)
    compile: bool = False
    channels_last: bool = False
    select: str = "last"  # "last" | "best"
    select_metric: str | None = None
    select_higher: bool = True
    checkpoint_every_steps: int | None = None  # None: at epoch ends only
    log_every_steps: int = 1
    tensorboard: bool = False
    progress: bool = True
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = True  # see GlobalBatchSampler
    find_unused_parameters: bool = False
    num_workers: int = 0
    pin_memory: bool = True
    persistent_workers: bool = False
    prefetch_factor: int | None = None

    def plan(self, world_size: int) -> BatchPlan:
        if self.amp not in (None, "bf16", "fp16"):
            raise UserError(f"amp={self.amp!r}: use None, 'bf16' or 'fp16'")
        if self.select not in ("last", "best"):
            raise UserError(f"select={self.select!r}: use 'last' or 'best'")
        return plan_batch(self.global_batch, world_size, per_device_batch=self.per_device_batch,
                          accum=self.accum, declared_gpus=self.declared_gpus)

    def steps_per_epoch(self, n_samples: int) -> int:
        g = self.global_batch
        return n_samples // g if self.drop_last else math.ceil(n_samples / g)


@dataclass
class FitResult:
    checkpoint: Path  # weights-only state dict of the selected epoch (EMA weights if EMA)
    last: Path  # checkpoint_last.pt (full training state)
    history: list[dict]
    selected_epoch: int
    steps: int
    world_size: int
    accum: int
    per_device_batch: int
    mismatch: str | None = None
    resumed_from: dict | None = None  # {"epoch", "step_in_epoch", "global_step"} when resumed


def _channels_last(model: torch.nn.Module) -> None:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.dim() in (4, 5):
            fmt = torch.channels_last if t.dim() == 4 else torch.channels_last_3d
            t.data = t.data.contiguous(memory_format=fmt)


def _resume_file(resume, out_dir: Path) -> Path | None:
    if resume is None or resume is False:
        return None
    if resume == "auto":
        path = out_dir / "checkpoint_last.pt"
        return path if path.exists() else None
    path = Path(resume)
    if not path.exists():
        raise UserError(f"--resume {path}: no such checkpoint")
    return path


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_set,
        step: StepStrategy | Callable[[torch.nn.Module, object], torch.Tensor], cfg: TrainConfig,
        out_dir: Path, *, scheduler=None, ema: Ema | None = None,
        evaluate: Callable[[torch.nn.Module], dict] | None = None,
        after_epoch: Callable[[int, dict], None] | None = None, collate_fn=None,
        resume: str | Path | ck.Resume | None = None, dist: DistEnv | None = None,
        extra_state: Mapping[str, object] | None = None,
        log: Callable[[str], None] = print) -> FitResult:
    """Train ``model`` (see the module doc); returns the selected weights and the history.

    ``step``: a step strategy (``steps.PlainStep``, ``steps.PerFrameSequenceStep``,
    ``aux_stream.AuxStreamStep``) or a bare ``step_loss(model, batch) -> loss`` (a mean over
    the micro-batch; ``PlainStep``). Loss functions move the batch to the device themselves
    (``dist.device``; ``cfg.device`` only serves when ``dist`` is None). ``scheduler`` is
    stepped after every optimizer step; ``ema`` (``ema.Ema`` and its kin) is updated after
    every optimizer step and then serves evaluation and the saved weights; ``evaluate(model)
    -> {metric: float}`` runs on every rank and must give the same values everywhere (rank
    0's are used); ``extra_state``: objects with ``state_dict``/``load_state_dict`` (e.g. a
    ReduceLROnPlateau stepped in ``after_epoch``) stored in checkpoints and restored on
    resume. ``resume``: "auto", a path, or a ``checkpointing.Resume`` carrying the run hash a
    resumed checkpoint must match. Weights and logs are written as ``*.partial.*`` and
    replace the finished files only when the run ends (``checkpointing.publish``): a failed or
    killed run keeps the last finished run's ``model_last.pt``, ``history.csv`` and
    ``steps.csv``.
    """
    dist = dist or DistEnv(device=cfg.device)
    strategy, out_dir, main = as_strategy(step), Path(out_dir), dist.is_main
    say = log if main else (lambda _msg: None)
    pin = cfg.pin_memory and dist.device.startswith("cuda")
    notes: list[str] = []  # the strategy's lines, logged after the batch plan
    shard = strategy.bind(Binding(dist.rank, dist.world_size, cfg.seed, pin, notes.append))
    plan = cfg.plan(shard.world)
    for line in [plan.summary(), *notes]:
        say(line)
    if plan.mismatch:
        say(f"WARNING: {plan.mismatch}")
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    sampler = GlobalBatchSampler(len(train_set), plan.global_batch, rank=shard.rank,
                                 world_size=shard.world, accum=plan.accum, seed=cfg.seed,
                                 shuffle=cfg.shuffle, drop_last=cfg.drop_last)
    spe, accum, per_batch = sampler.steps_per_epoch, plan.accum, strategy.steps_per_batch
    if spe == 0:
        raise UserError(f"{len(train_set)} training samples make no global batch of "
                        f"{plan.global_batch} (drop_last): lower the global batch")
    raw = model.to(dist.device)
    if cfg.channels_last:
        _channels_last(raw)
    if ema is not None:
        ema.attach(raw)
    dev_type = torch.device(dist.device).type
    scaler = torch.amp.GradScaler(dev_type, init_scale=cfg.scaler_init_scale,
                                  enabled=cfg.amp == "fp16")
    stateful = {"optimizer": optimizer, "scheduler": scheduler, "scaler": scaler, "ema": ema,
                **{f"extra.{k}": v for k, v in (extra_state or {}).items()}}
    stateful = {k: v for k, v in stateful.items() if v is not None}
    request = ck.resume_request(resume)
    setup = {"global_batch": plan.global_batch, "seed": cfg.seed,
             "world_size": dist.world_size, "accum": accum}
    if request.run_hash is not None:
        setup["run_hash"] = request.run_hash
    last_path, resume_file = out_dir / "checkpoint_last.pt", _resume_file(request.source,
                                                                          out_dir)
    state = ck.read_resumable(resume_file, request, say) if resume_file is not None else None
    if state is not None:
        prog = ck.restore(resume_file, raw, stateful, setup, dist.rank, dist.world_size, say,
                          state=state)
        resumed = {"epoch": prog.epoch, "step_in_epoch": prog.step_in_epoch,
                   "global_step": prog.global_step}
        setup["run_id"] = state["setup"].get("run_id")
    else:
        prog, resumed = ck.Progress(), None
        ck.seed_all(cfg.seed + dist.rank)
        setup["run_id"] = broadcast_object(uuid.uuid4().hex if main else None)
    partials = ck.claim_partials(out_dir, setup["run_id"], state is None) if main else None
    del state
    start_step = prog.global_step
    train_model = raw
    if dist.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [torch.device(dist.device).index] if dev_type == "cuda" else None
        train_model = DDP(raw, device_ids=ids, find_unused_parameters=cfg.find_unused_parameters)
    if cfg.compile:
        train_model = torch.compile(train_model)
    loader = train_loader(train_set, sampler, seed=cfg.seed, collate_fn=collate_fn,
                          num_workers=cfg.num_workers, pin_memory=pin,
                          persistent_workers=cfg.persistent_workers,
                          prefetch_factor=cfg.prefetch_factor)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
    steplog = ck.StepLog(out_dir, main, cfg.tensorboard, resumed and prog.global_step,
                         continue_final=partials != "other")

    def save_state():
        rngs = all_gather_object(ck.rng_state())
        if main:
            ck.save_training_state(last_path, ck.training_state(
                ck.cpu_state(raw), stateful, rngs, prog, setup))
        barrier()

    def backward(micro: list[MicroBatch]) -> torch.Tensor:
        """Back-propagate one optimizer step's micro-batches; their summed scaled loss."""
        total = torch.zeros((), dtype=torch.float64, device=dist.device)
        for m, mb in enumerate(micro):
            sync = m == len(micro) - 1 or not dist.distributed
            with nullcontext() if sync else train_model.no_sync():
                if mb.before is not None:
                    mb.before(raw)
                with torch.autocast(dev_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = mb.loss(train_model)
                scaler.scale(loss * mb.scale / mb.div).backward()
                if mb.after is not None:
                    mb.after(raw)
            total += loss.detach().double() * mb.scale / mb.div
        return total

    def optimizer_step(total: torch.Tensor, epoch: int) -> float:
        value = all_reduce_sum(total).item() / dist.world_size
        if not math.isfinite(value):
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(
                f"loss became {value} at epoch {epoch} step {prog.step_in_epoch + 1} (global "
                f"step {prog.global_step + 1}); stopped, last good checkpoint kept at "
                f"{last_path if last_path.exists() else '(none written yet)'}")
        if cfg.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return value

    try:
        while prog.epoch <= cfg.epochs:
            epoch, start = prog.epoch, time.time()
            train_model.train()
            sampler.set_epoch(epoch)
            sampler.set_start_step(prog.step_in_epoch)
            batches = iter(loader) if shard.trains else None
            strategy.start_epoch(epoch, prog.step_in_epoch)
            bar = progress(spe, f"epoch {epoch}/{cfg.epochs}", initial=prog.step_in_epoch,
                           enabled=cfg.progress and main, log=say)
            while prog.step_in_epoch < spe:
                t0, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
                micro_batches = [next(batches) for _ in range(accum)] if shard.trains else []
                for micro in strategy.steps(raw, micro_batches):
                    value = optimizer_step(backward(micro), epoch)
                    prog.global_step += 1
                    prog.loss_sum += value
                    if ema is not None:
                        ema.update(raw, step=prog.global_step)
                    if scheduler is not None:
                        scheduler.step()
                    if prog.global_step % max(1, cfg.log_every_steps) == 0:
                        steplog.step(epoch, prog.global_step, value, lr,
                                     time.perf_counter() - t0)
                    t0, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
                del micro_batches
                prog.step_in_epoch += 1
                bar.update(1)
                bar.set_postfix(loss=f"{prog.loss_sum / (prog.step_in_epoch * per_batch):.4f}")
                every = cfg.checkpoint_every_steps
                if every and prog.global_step % every == 0 and prog.step_in_epoch < spe:
                    save_state()
            bar.close()
            del batches
            strategy.end_epoch()
            _end_epoch(prog, raw, ema, optimizer, cfg, evaluate, after_epoch, out_dir, main,
                       spe * per_batch, start, say)
            steplog.epoch(prog.history[-1], prog.global_step)
            prog.epoch, prog.step_in_epoch, prog.loss_sum = epoch + 1, 0, 0.0
            save_state()
    finally:
        steplog.close()
    if main and (prog.global_step > start_step or partials == "ours"):
        ck.publish(out_dir)
    elif main:  # no step made and no partial files of its own: nothing of this run to publish
        ck.discard_partials(out_dir)
    barrier()
    if cfg.select == "best" and prog.selected_epoch == 0:
        raise UserError(f"select=best needs metric {cfg.select_metric!r} from evaluate()")
    chosen = out_dir / ("model_best.pt" if cfg.select == "best" else "model_last.pt")
    return FitResult(chosen, last_path, prog.history,
                     prog.selected_epoch if cfg.select == "best" else cfg.epochs,
                     prog.global_step, dist.world_size, accum, plan.per_device_batch,
                     plan.mismatch, resumed)


def _end_epoch(prog, raw, ema, optimizer, cfg, evaluate, after_epoch, out_dir, main, spe,
               start, say) -> None:
    epoch = prog.epoch
    row = {"epoch": epoch, "train_loss": prog.loss_sum / spe,
           "lr": optimizer.param_groups[0]["lr"], "time_s": round(time.time() - start, 2)}
    final = ema.module if ema is not None else raw
    if evaluate is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
        metrics = broadcast_object(evaluate(final))
        row.update({k: v.item() if hasattr(v, "item") else v for k, v in metrics.items()})
    prog.history.append(row)
    say("  " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in row.items()))
    if after_epoch is not None:
        after_epoch(epoch, row)
    weights = ck.cpu_state(final) if main else None
    if main:
        ck.save_checkpoint(ck.partial_path(out_dir / "model_last.pt"), weights)
    value = row.get(cfg.select_metric) if cfg.select_metric else None
    if cfg.select == "best" and value is not None:
        if prog.best is None or (value > prog.best if cfg.select_higher else value < prog.best):
            prog.best, prog.selected_epoch = float(value), epoch
            if main:
                ck.save_checkpoint(ck.partial_path(out_dir / "model_best.pt"), weights)
    if main:
        ck.write_csv_atomic(ck.partial_path(out_dir / "history.csv"), prog.history)
