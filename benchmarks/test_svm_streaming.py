"""S-ViT backbone per frame at 800x1440 (the MOT17 test size), streaming, batch 1; and one
training iteration on a 2-frame clip (full model, fp16, on CUDA; the smoke model on CPU).

The memory is pre-filled to its steady state (``memory`` entries of the right shape: in eval
mode the oldest is merged away as each frame is written, so the length stays constant) and
one frame is timed. MACs per frame grow linearly with the memory: each entry adds
12 layers x 2 branches x 2 matmuls x 5,488 padded tokens x 14 keys x 768 MACs
(golden README: 2,832,334,848). fp32 memory for 32 entries is about 13 GB on the CPU, so CPU
runs time memory 1 and 8; CUDA runs (fp16 autocast, as the official test) add 32.

Run: pytest benchmarks/test_svm_streaming.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from reproducers.svm.backbone import SViT, SViTConfig

H, W = 800, 1440
PER_ENTRY_MACS = 12 * 2 * 2 * 5488 * 14 * 768
ONE_ENTRY_GMACS = 631.773646848  # fvcore, memory of 1 (golden README)
CUDA = torch.cuda.is_available()
MEMORIES = [1, 8] + ([32] if CUDA else [])


def _prefill(model: SViT, img: torch.Tensor, entries: int) -> None:
    """Run one frame for the entry shapes, then fill every layer's memory to ``entries``."""
    model.clear_memory()
    with torch.no_grad():
        model(img)
    for mem in model.memories:
        k, v = (t[:, :, 0] for t in mem.stacked())
        for frame in range(1, entries):
            mem.write(k, v, frame, training=False)
    model.frame_counter = entries


@pytest.mark.parametrize("memory", MEMORIES)
def test_backbone_frame_800x1440(benchmark, memory):
    device = "cuda" if CUDA else "cpu"
    torch.manual_seed(0)
    model = SViT(SViTConfig(memory_length=memory)).eval().to(device)
    img = torch.randn(1, 3, H, W, device=device)
    dtype = torch.float16 if CUDA else None

    def frame():
        with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            out = model(img)
        if CUDA:
            torch.cuda.synchronize()
        return out

    with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
        _prefill(model, img, memory)
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    benchmark.pedantic(frame, rounds=3 if not CUDA else 20, warmup_rounds=1, iterations=1)
    assert model.memory_lengths() == [memory] * 12
    stats = benchmark.stats.stats
    benchmark.extra_info.update({
        "input": f"1x3x{H}x{W}", "memory_entries": memory, "device": device,
        "device_name": torch.cuda.get_device_name() if CUDA else "cpu",
        "dtype": "fp16 autocast" if CUDA else "fp32",
        "gmacs_per_frame": ONE_ENTRY_GMACS + (memory - 1) * PER_ENTRY_MACS / 1e9,
        "frames_per_s": 1.0 / stats.median,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if CUDA else None,
    })


def _train_setup(device: str):
    """Full model at 800x1440 on CUDA (fp16 autocast + GradScaler, as official); on CPU the
    reduced smoke model at its own size, so the path is exercised everywhere."""
    from reproducers.svm import FULL_MODEL, SMOKE_MODEL, build_svm
    from reproducers.svm.optim import build_optimizer

    cfg = FULL_MODEL if CUDA else SMOKE_MODEL
    h, w = cfg.get("input_size", (H, W))
    torch.manual_seed(0)
    model = build_svm(**cfg).to(device).train()
    model.backbone.set_memory_length(2)  # svm_base.py num_frames
    opt = build_optimizer(model)
    batch = 2  # samples_per_gpu
    clip = torch.randn(2, batch, 3, h, w, device=device)  # 2 frames
    gen = torch.Generator().manual_seed(0)
    boxes = []
    for _ in range(batch):
        xy = torch.rand(12, 2, generator=gen) * torch.tensor([w * 0.8, h * 0.6])
        wh = torch.rand(12, 2, generator=gen) * torch.tensor([w * 0.1, h * 0.3]) + 8
        boxes.append(torch.cat([xy, xy + wh], 1).to(device))
    labels = [torch.zeros(12, dtype=torch.long, device=device) for _ in range(batch)]
    return model, opt, clip, boxes, labels, cfg


def test_train_iteration_2frame_clip(benchmark):
    """One SeqEpochBasedRunner iteration: 2 frames, each forward + backward + AdamW step,
    memory cleared after the clip (released memory behaviour, activation checkpointing)."""
    device = "cuda" if CUDA else "cpu"
    model, opt, clip, boxes, labels, cfg = _train_setup(device)
    scaler = torch.amp.GradScaler(device, init_scale=512.0, enabled=CUDA)
    dtype = torch.float16 if CUDA else None

    def iteration():
        for frame in clip:
            with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
                losses = model(frame, boxes, labels)
            scaler.scale(sum(losses.values())).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
        model.clear_memory()
        if CUDA:
            torch.cuda.synchronize()

    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    benchmark.pedantic(iteration, rounds=5 if CUDA else 3, warmup_rounds=1, iterations=1)
    benchmark.extra_info.update({
        "model": "full (800x1440)" if CUDA else "smoke (192x320)",
        "input": f"2 frames x batch 2 x {tuple(clip.shape[-2:])}", "device": device,
        "device_name": torch.cuda.get_device_name() if CUDA else "cpu",
        "dtype": "fp16 autocast + GradScaler" if CUDA else "fp32",
        "frame_steps_per_s": 2.0 / benchmark.stats.stats.median,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if CUDA else None,
        "train_memory": cfg["train_memory"], "checkpoint": cfg["checkpoint"],
    })
