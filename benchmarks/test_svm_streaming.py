"""S-ViT backbone per frame at 800x1440 (the MOT17 test size), streaming, batch 1.

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
