"""STRG space-time (IoU) graphs: batched tensor code vs jd730's per-box Python loops.

The baseline re-states jd730/STRG @ 0df179c ``module/roi_graph.py::get_st_graph`` (a loop over
frames and boxes, each step one box against the next frame's boxes, on the CPU, then moved to
the device) in plain torch. Candidates, built where the boxes live:

* ``vectorised_blocks``: ``space_time_blocks``, the graphs' non-zero (t, t+1) blocks, which is
  what the head's GCN multiplies by (target: at least 50x faster than the loops);
* ``vectorised_dense``: ``space_time_graphs``, the same written into dense (B, 160, 160)
  matrices as jd730 builds them (its time is mostly zero-filling the dense memory).

Size: the paper's Something-Something setting, batch 8, 16 box frames x 10 boxes (160 nodes),
jd730's +1-pixel IoU. Every candidate's graphs equal the loops' (asserted, densified outside
the timing). ``extra_info["speedup_vs_loops"]`` is the baseline's median over the candidate's,
both measured in this run.

Run: pytest benchmarks/test_strg_graphs.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from reproducers.strg.graphs import space_time_blocks, space_time_graphs

BATCH, FRAMES, BOXES = 8, 16, 10
MEDIANS: dict[str, float] = {}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def jd730_loops(rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """jd730's ``get_st_graph`` as written: per (frame, box) Python steps on the CPU."""
    device = rois.device
    rois = rois.cpu()
    b, t, n, _ = rois.shape
    m = t * n
    front = torch.zeros((b, m, m), dtype=rois.dtype)
    areas = (rois[..., 2] - rois[..., 0] + 1) * (rois[..., 3] - rois[..., 1] + 1)
    for f in range(t - 1):
        for i in range(n):
            box, nxt = rois[:, f, i], rois[:, f + 1]
            x1 = torch.max(box[:, 0:1], nxt[:, :, 0])
            y1 = torch.max(box[:, 1:2], nxt[:, :, 1])
            x2 = torch.min(box[:, 2:3], nxt[:, :, 2])
            y2 = torch.min(box[:, 3:4], nxt[:, :, 3])
            w = x2 - x1 + 1
            h = y2 - y1 + 1
            w[w < 0] = 0
            h[h < 0] = 0
            inter = w * h
            iou = inter / (areas[:, f + 1] + areas[:, f, i:i + 1] - inter)
            front[:, f * n + i, (f + 1) * n:(f + 2) * n] = iou
    back = front.transpose(1, 2)
    front = front / front.sum(-1, keepdim=True)
    back = back / back.sum(-1, keepdim=True)
    front[front != front] = 0
    back[back != back] = 0
    return front.to(device), back.to(device)


def _boxes(device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    start = torch.rand(BATCH, 1, BOXES, 2, generator=g) * 160
    step = torch.randn(BATCH, 1, BOXES, 2, generator=g) * 4
    frames = torch.arange(FRAMES, dtype=torch.float32).view(1, FRAMES, 1, 1)
    xy = start + step * frames + torch.randn(BATCH, FRAMES, BOXES, 2, generator=g)
    wh = torch.rand(BATCH, 1, BOXES, 2, generator=g) * 50 + 10
    return torch.cat([xy, xy + wh], -1).to(device)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["jd730_loops", "vectorised_blocks", "vectorised_dense"])
def test_strg_iou_graphs(benchmark, impl, device):
    rois = _boxes(device)
    fn = {"jd730_loops": jd730_loops,
          "vectorised_blocks": lambda r: space_time_blocks(r, plus_one=True),
          "vectorised_dense": lambda r: space_time_graphs(r, plus_one=True)}[impl]

    def run():
        out = fn(rois)
        _sync(device)
        return out

    benchmark.group = f"strg_iou_graphs_{device}"
    out = benchmark.pedantic(run, rounds=50, warmup_rounds=5, iterations=1)
    front, back = out.dense() if impl == "vectorised_blocks" else out
    ref_front, ref_back = jd730_loops(rois)
    torch.testing.assert_close(front, ref_front, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(back, ref_back, rtol=1e-6, atol=1e-7)
    median = benchmark.stats.stats.median
    MEDIANS[f"{impl}/{device}"] = median
    info = {"batch": BATCH, "frames": FRAMES, "boxes": BOXES, "device": device}
    baseline = MEDIANS.get(f"jd730_loops/{device}")
    if impl != "jd730_loops" and baseline is not None:
        info["speedup_vs_loops"] = baseline / median
        print(f"\nSTRG IoU graphs on {device}: loops {baseline * 1e3:.2f} ms, {impl} "
              f"{median * 1e3:.3f} ms, {baseline / median:.0f}x")
        if impl == "vectorised_blocks":
            assert baseline / median >= 50, f"only {baseline / median:.1f}x faster than loops"
    benchmark.extra_info.update(info)
