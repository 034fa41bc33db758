"""The trainer every paper uses: one process or many (torch.distributed), exact resume.

``fit`` runs the epoch/step loop of ``TrainConfig`` on one process or under torchrun /
submitit / SLURM (``distributed.init_distributed``): DDP when more than one process
(``no_sync`` on all but the last micro-batch of a step), the recipe's global batch kept on
fewer GPUs by gradient accumulation (each micro-batch loss divided by ``accum``), AMP (bf16,
or fp16 with a GradScaler), gradient clipping, an EMA of the weights, optional torch.compile
and channels_last, per-step CSV/TensorBoard logs and a progress bar (rank 0; plain lines in
a captured log: ``progress``).

EMA (timm ``ModelEmaV3`` over the whole state dict, updated after every optimizer step):
``ema_mode="constant"``: ``ema = decay * ema + (1 - decay) * w`` from the initial weights
(the semantics of timm ``ModelEma``/``ModelEmaV2``, which DeiT-style scripts update once
per optimizer step); ``"timm"``: timm
train.py's ``update(model, step=global_step)``: the first update copies the weights, then the
constant decay; ``"timm_warmup"``: the same with ``use_warmup`` (decay ramps up to ``decay``);
``"yolox"``: mmdet's ``ExpMomentumEMAHook`` (YOLOX), the weight of the new value at optimizer
step ``it`` (0-based) is ``(1 - m) * exp(-(it + 1) / 2000) + m`` with ``m = 1 - ema_decay``.

Sequences (``Sequence``; mmtrack's ``SeqEpochBasedRunner`` that the Streaming Video Model
trains with): every sample is a clip of ``frames`` frames and each frame gets its own forward,
backward and optimizer step, in order; scheduler, EMA and step logs count these frame steps.
The hooks let a model with state across frames (S-ViT's memory) keep one state per
micro-batch when the global batch is accumulated, and reset it after each clip batch.

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
from .aux_stream import AuxStream, CyclingBatchSampler, aux_loader, plan_roles
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
from .progress import progress
from .schedules import (
    BatchPlan,
    param_groups,
    plan_batch,
    scaled_lr,
    warmup_cosine,
    warmup_step,
)

__all__ = ["AuxStream", "BatchPlan", "FitResult", "NonFiniteLoss", "Sequence", "TrainConfig",
           "distributed_evaluate", "yolox_ema_momentum",
           "fit", "param_groups", "plan_batch", "scaled_lr", "warmup_cosine", "warmup_step"]


class NonFiniteLoss(UserError, RuntimeError):
    """The loss became NaN or inf; the last good checkpoint is kept (one line, exit 2)."""


@dataclass
class Sequence:
    """Per-frame optimizer steps over clips (see the module doc).

    ``step_loss(model, batch, frame)`` is then called once per frame and micro-batch;
    ``enter(model, batch)`` before each such call (restore the micro-batch's state),
    ``leave(model, batch)`` after its backward (save it), ``end(model)`` after the clip batch's
    last optimizer step and before the first (clear the state)."""

    frames: int
    enter: Callable | None = None
    leave: Callable | None = None
    end: Callable | None = None


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
    ema_decay: float | None = None  # None: no EMA
    ema_mode: str = "constant"  # "constant" | "timm" | "timm_warmup" | "yolox" (module doc)
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
        step_loss: Callable[[torch.nn.Module, object], torch.Tensor], cfg: TrainConfig,
        out_dir: Path, *, scheduler=None, evaluate: Callable[[torch.nn.Module], dict] | None = None,
        after_epoch: Callable[[int, dict], None] | None = None, collate_fn=None,
        resume: str | Path | ck.Resume | None = None, dist: DistEnv | None = None,
        extra_state: Mapping[str, object] | None = None, aux: AuxStream | None = None,
        sequence: Sequence | None = None, log: Callable[[str], None] = print) -> FitResult:
    """Train ``model`` (see the module doc); returns the selected weights and the history.

    ``step_loss(model, batch) -> loss`` (a mean over the micro-batch) moves the batch to the
    device itself (``dist.device``; ``cfg.device`` only serves when ``dist`` is None); ``scheduler`` is stepped after every optimizer step; ``evaluate(model) ->
    {metric: float}`` runs on every rank (with the EMA model when the EMA is on) and must
    give the same values everywhere (rank 0's are used); ``extra_state``: objects with
    ``state_dict``/``load_state_dict`` (e.g. a ReduceLROnPlateau stepped in ``after_epoch``)
    stored in checkpoints and restored on resume. ``aux``: a second stream trained in the same
    optimizer steps (``aux_stream.AuxStream``: SViT's image rank), on dedicated ranks or on
    every rank; the reported step loss is then the weighted sum of both streams.
    ``sequence``: clips trained frame by frame (one optimizer step per frame; see
    ``Sequence``); not combined with ``aux``. ``resume``: "auto", a path, or a
    ``checkpointing.Resume`` carrying the run hash a resumed checkpoint must match.
    Weights and logs are written as ``*.partial.*`` and replace the finished files only when
    the run ends (``checkpointing.publish``): a failed or killed run keeps the last
    finished run's ``model_last.pt``, ``history.csv`` and ``steps.csv``.
    """
    dist = dist or DistEnv(device=cfg.device)
    if sequence is not None and aux is not None:
        raise UserError("a sequence (per-frame steps) and an aux stream cannot be combined")
    frames = sequence.frames if sequence is not None else 1
    roles = plan_roles(aux, dist.rank, dist.world_size)
    plan, out_dir, main = cfg.plan(roles.main_world), Path(out_dir), dist.is_main
    say = log if main else (lambda _msg: None)
    say(plan.summary())
    if aux is not None:
        say(roles.describe(aux.name) + f"; {aux.name} global batch {aux.global_batch}")
    if plan.mismatch:
        say(f"WARNING: {plan.mismatch}")
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    sampler = GlobalBatchSampler(len(train_set), plan.global_batch, rank=roles.main_rank,
                                 world_size=roles.main_world, accum=plan.accum, seed=cfg.seed,
                                 shuffle=cfg.shuffle, drop_last=cfg.drop_last)
    aux_sampler = None
    if aux is not None:
        aux_sampler = CyclingBatchSampler(len(aux.dataset), aux.global_batch,
                                          rank=roles.aux_rank, world=roles.aux_world,
                                          seed=cfg.seed)
    spe, accum = sampler.steps_per_epoch, plan.accum
    if spe == 0:
        raise UserError(f"{len(train_set)} training samples make no global batch of "
                        f"{plan.global_batch} (drop_last): lower the global batch")
    raw = model.to(dist.device)
    if cfg.channels_last:
        _channels_last(raw)
    ema = _make_ema(raw, cfg)
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
                          num_workers=cfg.num_workers,
                          pin_memory=cfg.pin_memory and dist.device.startswith("cuda"),
                          persistent_workers=cfg.persistent_workers,
                          prefetch_factor=cfg.prefetch_factor)
    aux_batches_loader = None
    if aux is not None and roles.trains_aux:
        aux_batches_loader = aux_loader(aux, aux_sampler, cfg.seed, pin_memory=cfg.pin_memory
                                        and dist.device.startswith("cuda"))
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
    steplog = ck.StepLog(out_dir, main, cfg.tensorboard, resumed and prog.global_step,
                         continue_final=partials != "other")

    def save_state():
        rngs = all_gather_object(ck.rng_state())
        if main:
            ck.save_training_state(last_path, ck.training_state(
                ck.cpu_state(raw), stateful, rngs, prog, setup))
        barrier()

    def micro_batches(batches, aux_batches):
        """(loss function, batch, scale) of this rank's micro-batches for one step."""
        if roles.trains_main:
            for _ in range(accum):
                yield step_loss, next(batches), roles.main_scale, accum
        if roles.trains_aux:
            yield aux.step_loss, next(aux_batches), roles.aux_scale, 1

    def train_step(batches, aux_batches, epoch: int) -> float:
        total = torch.zeros((), dtype=torch.float64, device=dist.device)
        count = accum * roles.trains_main + roles.trains_aux
        for m, (fn, batch, scale, div) in enumerate(micro_batches(batches, aux_batches)):
            sync = m == count - 1 or not dist.distributed
            with nullcontext() if sync else train_model.no_sync():
                with torch.autocast(dev_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = fn(train_model, batch)
                scaler.scale(loss * scale / div).backward()
            total += loss.detach().double() * scale / div
        return optimizer_step(total, epoch)

    def sequence_steps(batches, epoch: int):
        """One optimizer step per frame of this step's clip micro-batches (``Sequence``)."""
        clips = [next(batches) for _ in range(accum)]
        hooks = sequence
        if hooks.end is not None:
            hooks.end(raw)
        for frame in range(hooks.frames):
            total = torch.zeros((), dtype=torch.float64, device=dist.device)
            for m, batch in enumerate(clips):
                sync = m == accum - 1 or not dist.distributed
                with nullcontext() if sync else train_model.no_sync():
                    if hooks.enter is not None:
                        hooks.enter(raw, batch)
                    with torch.autocast(dev_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                        loss = step_loss(train_model, batch, frame)
                    scaler.scale(loss / accum).backward()
                    if hooks.leave is not None:
                        hooks.leave(raw, batch)
                total += loss.detach().double() / accum
            yield optimizer_step(total, epoch)
        if hooks.end is not None:
            hooks.end(raw)

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
            batches = iter(loader) if roles.trains_main else None
            aux_batches = None
            if aux_batches_loader is not None:
                aux_sampler.set_epoch(epoch)
                aux_sampler.set_start_step(prog.step_in_epoch)
                aux_batches = iter(aux_batches_loader)
            bar = progress(spe, f"epoch {epoch}/{cfg.epochs}", initial=prog.step_in_epoch,
                           enabled=cfg.progress and main, log=say)
            while prog.step_in_epoch < spe:
                t0, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
                if sequence is not None:
                    values = sequence_steps(batches, epoch)
                else:
                    values = [train_step(batches, aux_batches, epoch)]
                for value in values:
                    prog.global_step += 1
                    prog.loss_sum += value
                    if ema is not None:
                        ema.update(raw, step=None if cfg.ema_mode == "constant"
                                   else prog.global_step)
                    if scheduler is not None:
                        scheduler.step()
                    if prog.global_step % max(1, cfg.log_every_steps) == 0:
                        steplog.step(epoch, prog.global_step, value, lr,
                                     time.perf_counter() - t0)
                    t0, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
                prog.step_in_epoch += 1
                bar.update(1)
                bar.set_postfix(loss=f"{prog.loss_sum / (prog.step_in_epoch * frames):.4f}")
                every = cfg.checkpoint_every_steps
                if every and prog.global_step % every == 0 and prog.step_in_epoch < spe:
                    save_state()
            bar.close()
            del batches, aux_batches
            _end_epoch(prog, raw, ema, optimizer, cfg, evaluate, after_epoch, out_dir, main,
                       spe * frames, start, say)
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


def _make_ema(raw: torch.nn.Module, cfg: TrainConfig):
    if cfg.ema_decay is None:
        return None
    if cfg.ema_mode not in ("constant", "timm", "timm_warmup", "yolox"):
        raise UserError(f"ema_mode={cfg.ema_mode!r}: use constant, timm, timm_warmup or yolox")
    from timm.utils import ModelEmaV3

    if cfg.ema_mode == "yolox":
        return _YoloxEma(raw, decay=cfg.ema_decay)
    return ModelEmaV3(raw, decay=cfg.ema_decay, use_warmup=cfg.ema_mode == "timm_warmup")


def yolox_ema_momentum(it: int, momentum: float = 1e-4, total_iter: int = 2000) -> float:
    """mmdet ``ExpMomentumEMAHook``: weight of the new value at (0-based) iteration ``it``."""
    return (1 - momentum) * math.exp(-(it + 1) / total_iter) + momentum


def _YoloxEma(raw, decay: float):
    from timm.utils import ModelEmaV3

    class YoloxEma(ModelEmaV3):
        def get_decay(self, step=None):
            it = 0 if step is None else step - 1  # fit passes the 1-based optimizer step
            return 1.0 - yolox_ema_momentum(it, 1.0 - decay)

    return YoloxEma(raw, decay=decay)


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
