"""SVM training (sequential runner, per-frame steps) and MOT17 half-val tracking evaluation.

Training (yuzhms/Streaming-Video-Model ``configs/mot/svm/svm_base.py``,
``mmtrack/core/runner/seq_runner.py``, ``tools/train.py``):

- each batch holds clips of 2 frames; every frame gets its own forward, backward and AdamW
  step, in order (``common.steps.PerFrameSequenceStep``); the backbone memory is cleared after every
  clip batch; with accumulation (fewer GPUs than declared) each micro-batch keeps its own
  memory between its frames;
- AdamW 2.5e-4, wd 0.05, the first-match ``custom_keys`` groups (``optim.param_groups``),
  YOLOX schedule (exp warmup one epoch of frame steps, cosine to 0.05, constant over the last
  loader length), fp16 autocast with a GradScaler (init scale 512) on CUDA, the YOLOX EMA
  (momentum 1e-4, per frame step) whose weights are saved and evaluated;
- ``train_memory``: ``"released"`` (activation checkpointing that writes the memory twice: a
  frame never sees the previous one, as the released model was trained) or ``"intended"``
  (previous + current frame); per-epoch validation with memory length 2 and the checkpoint
  with the best HOTA kept (``save_best='HOTA'``);
- CLIP ViT-B/16 initialisation from ``options.clip_weights`` (the official
  ``--cfg-options model.detector.backbone.pretrain=./pretrain/ViT-B-16.pt``).

Evaluation (``tools/test.py``, ``mmtrack/apis/test.py``, ``svm_test.py``,
``mot_challenge_dataset_video.py``): every half-val sequence frame by frame with batch 1,
memory length 32 (cleared per video), fp16 autocast on CUDA, ByteTrack with SVM's thresholds,
linear interpolation (min 5 / max 20 frames), MOTChallenge result files, TrackEval
(``common.mot.evaluate``) for MOTA, HOTA, IDF1 and the counts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from reproducers.common.distributed import all_gather_object, broadcast_object
from reproducers.common.mot.evaluate import evaluate_mot
from reproducers.common.mot.motchallenge import write_results
from reproducers.common.recipe import fit_summary, train_config
from reproducers.common.tracking import (
    ByteTracker,
    ByteTrackerConfig,
    interpolate_tracks,
    stack_track_results,
)
from reproducers.common.trainer import PerFrameSequenceStep, YoloxEma, fit
from reproducers.harness.errors import UserError

from .backbone import load_clip_visual
from .clip_data import collate_clips
from .optim import build_optimizer, schedule_lengths, yolox_scheduler

METRIC_KEYS = {"mota": "MOTA", "hota": "HOTA", "idf1": "IDF1", "fp": "FP", "fn": "FN",
               "idsw": "IDSW"}


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


def _amp(device: str, opts) -> str | None:
    return opts.amp if device.startswith("cuda") else None


# ---------------------------------------------------------------- tracking inference


@torch.no_grad()
def track_sequence(model, frames, device: str, tracker_cfg: ByteTrackerConfig,
                   amp: str | None = None, num_workers: int = 0) -> np.ndarray:
    """Run detector + ByteTrack over one sequence, frame by frame in order (decoding and
    resizing prefetched by ``num_workers`` loader processes); (N, 7) rows (frame index from
    0, id, x1, y1, x2, y2, score) before interpolation."""
    from torch.utils.data import DataLoader

    model.clear_memory()
    tracker = ByteTracker(tracker_cfg)
    per_frame = []
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)
    dev_type = torch.device(device).type
    loader = DataLoader(frames, batch_size=None, shuffle=False, num_workers=num_workers,
                        pin_memory=dev_type == "cuda")
    for item in loader:
        img = item["img"].unsqueeze(0).to(device, non_blocking=True)
        sf = item["scale_factor"]
        with torch.autocast(dev_type, dtype=dtype, enabled=dtype is not None):
            (boxes, scores), = model.detector.predict(img, [(float(sf[0]), float(sf[1]))])
        out = tracker.update(item["frame_id"], boxes.float().cpu().numpy(),
                             scores.float().cpu().numpy())
        per_frame.append(out)
    model.clear_memory()
    return stack_track_results(per_frame)


def to_mot_rows(rows: np.ndarray, first_frame: int) -> np.ndarray:
    """(frame index, id, x1, y1, x2, y2, score) -> (MOT frame, id, x, y, w, h, score)."""
    out = rows.copy()
    out[:, 0] = rows[:, 0] + first_frame
    out[:, 4] = rows[:, 4] - rows[:, 2]
    out[:, 5] = rows[:, 5] - rows[:, 3]
    return out


def run_tracking(ctx, model, dataset, out_dir: Path, memory_length: int, log=print) -> dict:
    """Track every sequence (split across ranks by sequence), write result files on rank 0,
    score them with TrackEval. Returns evaluate_mot's dict plus timing."""
    opts, device = ctx.recipe.options, _device(ctx)
    dist = ctx.extras.get("dist")
    rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
    model.eval().to(device)
    model.backbone.set_memory_length(memory_length)
    tracker_cfg = ByteTrackerConfig(**opts.tracker)
    interp = opts.interpolate
    amp = _amp(device, opts)
    mine, frames_done, start = {}, 0, time.perf_counter()
    for k, seq in enumerate(dataset.sequences):
        if k % world != rank:
            continue
        frames = dataset.frames(seq)
        rows = track_sequence(model, frames, device, tracker_cfg, amp,
                              opts.num_workers if opts.eval_workers is None
                              else opts.eval_workers)
        if interp:
            rows = interpolate_tracks(rows, **interp)
        mine[seq.name] = to_mot_rows(rows, seq.frame_range[0])
        frames_done += len(frames)
    elapsed = time.perf_counter() - start
    gathered = all_gather_object((mine, frames_done, elapsed))
    results = {name: rows for part, _, _ in gathered for name, rows in part.items()}
    n_frames = sum(n for _, n, _ in gathered)
    fps = n_frames / max(sum(t for *_, t in gathered), 1e-9)
    out = None
    if rank == 0:
        out_dir = Path(out_dir)
        for name, rows in results.items():
            write_results(out_dir / f"{name}.txt", rows)
        seqs = [s.name for s in dataset.sequences]
        out = evaluate_mot(dataset.gt_root, out_dir, gt_file=dataset.sequences[0].gt_file,
                           seqs=seqs, log=lambda m: None, predictions=True)
        out["results_dir"] = str(out_dir)
        out["frames"] = n_frames
        out["frames_per_s"] = round(fps, 3)
        out["memory_length"] = memory_length
        out["tracker"] = {k: getattr(tracker_cfg, k) for k in tracker_cfg.__dataclass_fields__}
        out["interpolation"] = interp
        out["amp"] = amp
        log(f"tracked {n_frames} frames at {fps:.2f} frames/s (memory {memory_length}): "
            f"MOTA {out['combined']['MOTA']:.2f} HOTA {out['combined']['HOTA']:.2f} "
            f"IDF1 {out['combined']['IDF1']:.2f}")
    return broadcast_object(out)


def _metrics(result: dict) -> dict:
    comb = result["combined"]
    return {ours: float(comb[theirs]) for ours, theirs in METRIC_KEYS.items()}


def evaluate(ctx, model, dataset) -> dict:
    opts = ctx.recipe.options
    memory = opts.test_memory
    res = run_tracking(ctx, model, dataset, ctx.output_dir / "results" / "test", memory,
                       ctx.log)
    return {
        "metrics": _metrics(res),
        "eval_size": res["frames"],
        "per_sequence": {name: {k: m[v] for k, v in METRIC_KEYS.items()}
                         for name, m in res["sequences"].items()},
        "combined": res["combined"],
        "trackeval_settings": res["settings"],
        "memory_length": memory,
        "frames_per_s": res["frames_per_s"],
        "device": _device(ctx),
        "tracker": res["tracker"],
        "interpolation": res["interpolation"],
        "amp": res["amp"],
        "results_dir": res["results_dir"],
        "predictions": res["predictions"],  # per-sequence TrackEval fields (harness stores)
    }


# ---------------------------------------------------------------- training


def _step_loss(model, batch, frame: int):
    device = next(model.parameters()).device
    f = batch["frames"][frame]
    img = f["img"].to(device, non_blocking=True)
    boxes = [b.to(device) for b in f["gt_bboxes"]]
    labels = [lab.to(device) for lab in f["gt_labels"]]
    losses = model(img, boxes, labels)
    return sum(v.sum() if isinstance(v, torch.Tensor) else sum(v) for v in losses.values())


def _enter(model, batch):
    state = batch["state"].get("memory")
    if state is None:
        model.clear_memory()
    else:
        model.backbone.load_memory_state(state)


def _leave(model, batch):
    batch["state"]["memory"] = model.backbone.memory_state()


def _collate(items):
    return {"frames": collate_clips(items), "state": {}}


def _clip_init(ctx, model) -> dict | None:
    path = ctx.recipe.options.clip_weights
    if not path:
        return None
    path = Path(str(path).format(data_root=ctx.data_root))
    if not path.is_file():
        raise UserError(f"CLIP weights {path} not found (recipe option clip_weights): download "
                        "ViT-B-16.pt as reproducers/svm/DATA.md says, or --set "
                        "clip_weights=PATH (clip_weights= to train from scratch)")
    return load_clip_visual(model.backbone, path, ctx.log)


def train(ctx) -> dict:
    rep, opts, recipe = ctx.reproduction, ctx.recipe.options, ctx.recipe
    dist = ctx.extras.get("dist")
    device = _device(ctx)
    train_set = ctx.extras["datasets"][rep.dataset.train_split]
    val_set = ctx.extras["datasets"][rep.protocol.eval_split]
    torch.manual_seed(ctx.seed)
    model = rep.model.factory(**ctx.model_config)
    init = _clip_init(ctx, model)
    num_frames = opts.num_frames
    model.backbone.set_memory_length(opts.train_memory_length)
    if dist is not None and dist.distributed and device.startswith("cuda"):
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # official SyncBN
    optimizer = build_optimizer(model, recipe.lr, recipe.weight_decay)
    cfg = train_config(
        ctx, device=device, select_metric="hota", amp=_amp(device, opts),
        scaler_init_scale=512.0,  # mmcv Fp16OptimizerHook loss_scale init_scale
        find_unused_parameters=False)
    lengths = schedule_lengths(cfg.steps_per_epoch(len(train_set)), recipe.epochs, num_frames,
                               warmup_epochs=opts.warmup_epochs,
                               num_last_epochs=opts.num_last_epochs)
    scheduler = yolox_scheduler(optimizer, lengths["total"], lengths["warmup"], lengths["last"],
                                opts.min_lr_ratio)
    val_memory = opts.val_memory
    epoch_dir = ctx.output_dir / "results"

    def per_epoch_eval(m):
        return _metrics(run_tracking(ctx, m, val_set, epoch_dir / "last_epoch", val_memory,
                                     ctx.log))
    step = PerFrameSequenceStep(_step_loss, frames=num_frames, enter=_enter, leave=_leave,
                                end=lambda m: m.clear_memory())
    res = fit(model, optimizer, train_set, step, cfg, ctx.output_dir, scheduler=scheduler,
              ema=YoloxEma(momentum=opts.ema_momentum), evaluate=per_epoch_eval,
              collate_fn=_collate, resume=ctx.extras.get("resume"), dist=dist, log=ctx.log)
    return {
        **fit_summary(res, cfg),
        "frame_steps": res.steps,
        "schedule": lengths,
        "train_sources": getattr(train_set, "sizes", None),
        "clip_init": None if init is None else {"loaded": len(init["loaded"]),
                                                "skipped": init["skipped"]},
        "train_memory": model.backbone.cfg.train_memory if hasattr(model, "backbone") else None,
    }
