"""SVM's steps in the device self-test (``harness/selftest.py``), as ``task`` runs them.

- training: one 2-frame clip batch, one forward + backward + AdamW step per frame
  (``task._step_loss``, the paper's optimizer groups), the backbone memory set to the training
  length and cleared after the clip; fp16 autocast + GradScaler on CUDA (the recipe's ``amp``);
- evaluation: one test frame (batch 1, the official test's streaming batch) through
  ``detector.predict`` with the test-time memory (32 at full size);
- ``svm_streaming``: the backbone alone over 32 consecutive frames at 800x1440, memory of 32
  entries filling up (smoke: 4 frames of the reduced backbone), per-frame time and memory.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import fields

import torch

from reproducers.harness.declarations import SelfTestHooks
from reproducers.harness.knobs import option

from . import task
from .backbone import SViT, SViTConfig
from .model_configs import FULL_MODEL, SMOKE_MODEL
from .optim import build_optimizer

STREAM_FRAMES = 32
SMOKE_STREAM_FRAMES = 4


def _frame(cfg, batch: int, device, seed: int) -> dict:
    h, w = cfg.get("input_size", (800, 1440))
    g = torch.Generator().manual_seed(seed)
    boxes, labels = [], []
    for _ in range(batch):
        xy = torch.rand(12, 2, generator=g) * torch.tensor([w * 0.8, h * 0.6])
        wh = torch.rand(12, 2, generator=g) * torch.tensor([w * 0.1, h * 0.3]) + 8
        boxes.append(torch.cat([xy, xy + wh], 1))
        labels.append(torch.zeros(12, dtype=torch.long))
    return {"img": torch.randn(batch, 3, h, w, generator=g), "gt_bboxes": boxes,
            "gt_labels": labels}


def train_steps(model, cfg, recipe, batch: int, device) -> list:
    frames = int(option(recipe.options, "num_frames", 2))
    model.backbone.set_memory_length(int(option(recipe.options, "train_memory_length", frames)))
    clip = {"frames": [_frame(cfg, batch, device, seed) for seed in range(frames)], "state": {}}
    return [[lambda m, f=f: task._step_loss(m, clip, f)] for f in range(frames)]


def optimizer(model, recipe):
    return build_optimizer(model, recipe.lr, recipe.weight_decay)


def eval_batch(model, cfg, batch: int, views: int, device):
    img = _frame(cfg, 1, device, 0)["img"].to(device)
    return (lambda: model.detector.predict(img, [(1.0, 1.0)])), 1


def streaming(device: str, smoke: bool, log) -> dict:
    """Backbone over consecutive frames with the test memory (module doc)."""
    cfg = SMOKE_MODEL if smoke else FULL_MODEL
    names = {f.name for f in fields(SViTConfig)}
    backbone_cfg = SViTConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in cfg.items() if k in names})
    n = SMOKE_STREAM_FRAMES if smoke else STREAM_FRAMES
    memory = min(backbone_cfg.memory_length, n)
    h, w = cfg.get("input_size", (800, 1440))
    cuda = torch.device(device).type == "cuda"
    dtype = torch.float16 if cuda else None
    torch.manual_seed(0)
    model = SViT(backbone_cfg).eval().to(device)
    model.set_memory_length(memory)
    frames = torch.randn(n, 1, 3, h, w, device=device)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    with torch.no_grad(), torch.autocast(torch.device(device).type, dtype=dtype,
                                         enabled=dtype is not None):
        model.clear_memory()
        for x in frames:
            t0 = time.perf_counter()
            feats = model(x)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    lengths = model.memory_lengths()
    if not all(torch.isfinite(f).all() for f in feats):
        raise FloatingPointError("non-finite backbone features after streaming")
    if max(lengths) != memory:
        raise AssertionError(f"memory holds {lengths} entries after {n} frames, not {memory}")
    steady = times[len(times) // 2:]
    out = {"frames": n, "input": f"1x3x{h}x{w}", "memory_entries": memory,
           "dtype": "fp16 autocast" if cuda else "fp32", "config": "smoke" if smoke else "full",
           "first_frame_ms": round(1e3 * times[0], 2),
           "last_frame_ms": round(1e3 * times[-1], 2),
           "frames_per_s": round(len(steady) / sum(steady), 3),
           "median_frame_ms": round(1e3 * statistics.median(times), 2),
           "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)
           if cuda else None}
    return out


SELFTEST = SelfTestHooks(train_steps=train_steps, optimizer=optimizer, eval_batch=eval_batch,
                         reset=lambda m: m.clear_memory(), checks={"svm_streaming": streaming},
                         grad_scaler_init=512.0)  # mmcv Fp16OptimizerHook, as task.train
