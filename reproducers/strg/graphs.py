"""The space-time (IoU) graphs of STRG, built by batched tensor code on the boxes' device.

Nodes are numbered ``t * boxes_per_frame + i``. The forward graph joins box i of frame t to
box j of frame t+1 with weight IoU(i, j); the backward graph is the transpose of the
*un-normalised* forward graph (the same IoUs, seen from t+1 towards t); each is then divided by
its row sums, all-zero rows staying zero (paper Eq. 3-4; jd730/STRG @ 0df179c
``module/roi_graph.py::get_st_graph``, which builds the same matrices in a Python loop over
frames and boxes on the CPU, then moves them to the device).

``plus_one=True`` is jd730's IoU convention (widths and heights counted as x2 - x1 + 1, so two
boxes 0.5 px apart still overlap); ``False`` is the usual continuous IoU
(``torchvision.ops.box_iou``). Boxes are (x1, y1, x2, y2); IoU is symmetric in x/y, so jd730's
y/x column names do not matter. A pair whose union is not positive (two empty padding boxes)
gets IoU 0, never NaN.
"""

from __future__ import annotations

import torch


def pairwise_iou(a: torch.Tensor, b: torch.Tensor, plus_one: bool = False) -> torch.Tensor:
    """IoU of every box of ``a`` (..., N, 4) with every box of ``b`` (..., M, 4): (..., N, M)."""
    one = 1.0 if plus_one else 0.0
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = (rb - lt + one).clamp_min(0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0] + one) * (a[..., 3] - a[..., 1] + one)
    area_b = (b[..., 2] - b[..., 0] + one) * (b[..., 3] - b[..., 1] + one)
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def row_normalise(graph: torch.Tensor) -> torch.Tensor:
    """Rows divided by their sums; all-zero rows stay zero (jd730 sets its 0/0 NaNs to 0)."""
    total = graph.sum(-1, keepdim=True)
    return torch.where(total > 0, graph / total.clamp_min(1e-30), torch.zeros_like(graph))


def space_time_graphs(rois: torch.Tensor, plus_one: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``rois`` (B, T, N, 4) -> row-normalised (front, back) graphs, each (B, T·N, T·N)."""
    b, t, n, _ = rois.shape
    iou = pairwise_iou(rois[:, :-1], rois[:, 1:], plus_one)  # (B, T-1, N, N): t -> t+1
    iou = torch.cat([iou, iou.new_zeros(b, 1, n, n)], 1)  # frame T-1 has no successor
    successor = torch.diag(rois.new_ones(t - 1), 1) if t > 1 else rois.new_zeros(1, 1)
    # front[b, t, i, s, j] = iou[b, t, i, j] if s == t + 1 else 0
    front = iou[:, :, :, None, :] * successor[None, :, None, :, None]
    front = front.reshape(b, t * n, t * n)
    return row_normalise(front), row_normalise(front.transpose(1, 2))
