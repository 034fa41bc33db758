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

from dataclasses import dataclass

import torch


def pairwise_iou(a: torch.Tensor, b: torch.Tensor, plus_one: bool = False) -> torch.Tensor:
    """IoU of every box of ``a`` (..., N, 4) with every box of ``b`` (..., M, 4): (..., N, M)."""
    return _iou_coords_first(a.movedim(-1, 0).contiguous(), b.movedim(-1, 0).contiguous(),
                             plus_one)


def _iou_coords_first(ca: torch.Tensor, cb: torch.Tensor, plus_one: bool,
                      pairs_last: bool = False) -> torch.Tensor:
    """IoU with the coordinates first: (4, ..., N) and (4, ..., M) give (..., N, M) (a
    trailing axis of 4 makes CPU kernels several times slower); with ``pairs_last`` the inputs
    are already broadcastable, e.g. (4, N, 1, K) and (4, 1, M, K), giving (N, M, K).
    ``plus_one`` counts widths as x2 - x1 + 1."""
    one = 1.0 if plus_one else 0.0
    if not pairs_last:
        ca, cb = ca[..., :, None], cb[..., None, :]
    lo = torch.maximum(ca[:2], cb[:2])  # x1, y1 of the overlap
    hi = torch.minimum(ca[2:], cb[2:])  # x2, y2
    wh = (hi - lo + one).clamp_min(0)
    inter = wh[0] * wh[1]
    size_a, size_b = ca[2:] - ca[:2] + one, cb[2:] - cb[:2] + one
    union = size_a[0] * size_a[1] + size_b[0] * size_b[1] - inter
    return inter / union.clamp_min(_tiny(union))  # inter <= union: an empty union gives 0


def _tiny(x: torch.Tensor) -> float:
    return torch.finfo(x.dtype).tiny


def row_normalise(graph: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Divided by the sums along ``dim``; all-zero rows stay zero (jd730 sets its 0/0 NaNs to
    0). The weights are non-negative, so a zero sum means an all-zero row."""
    total = graph.sum(dim, keepdim=True)
    return graph / total.clamp_min(_tiny(total))


@dataclass(frozen=True)
class SpaceTimeGraphs:
    """The non-zero blocks of the row-normalised forward and backward graphs.

    ``front[:, t, i, j]`` is the forward edge (t, i) -> (t+1, j), normalised over j;
    ``back[:, t, j, i]`` the backward edge (t+1, j) -> (t, i), normalised over i. Every other
    entry of the (T·N)×(T·N) matrices is zero, so the GCN multiplies by the blocks
    (``propagate_*``) and ``dense()`` gives the matrices jd730 builds.
    """

    front: torch.Tensor  # (B, T-1, N, N)
    back: torch.Tensor  # (B, T-1, N, N)

    def dense(self) -> tuple[torch.Tensor, torch.Tensor]:
        b, t1, n, _ = self.front.shape
        t = t1 + 1
        front, back = self.front.new_zeros(2, b, t, n, t, n).unbind(0)
        # diagonal(offset, 1, 3) views m[:, s, :, s + offset, :] as (B, N, N, T - |offset|)
        front.diagonal(1, 1, 3).copy_(self.front.permute(0, 2, 3, 1))
        back.diagonal(-1, 1, 3).copy_(self.back.permute(0, 2, 3, 1))
        return front.view(b, t * n, t * n), back.view(b, t * n, t * n)

    def propagate_front(self, y: torch.Tensor) -> torch.Tensor:
        """front_graph @ y for y (B, T·N, C): frame t gathers from frame t+1."""
        b, t1, n, _ = self.front.shape
        y = y.view(b, t1 + 1, n, -1)
        out = self.front @ y[:, 1:]
        return torch.cat([out, out.new_zeros(b, 1, n, out.shape[-1])], 1).view(b, -1,
                                                                                out.shape[-1])

    def propagate_back(self, y: torch.Tensor) -> torch.Tensor:
        """back_graph @ y: frame t+1 gathers from frame t."""
        b, t1, n, _ = self.back.shape
        y = y.view(b, t1 + 1, n, -1)
        out = self.back @ y[:, :-1]
        return torch.cat([out.new_zeros(b, 1, n, out.shape[-1]), out], 1).view(b, -1,
                                                                                out.shape[-1])


def space_time_blocks(rois: torch.Tensor, plus_one: bool = False) -> SpaceTimeGraphs:
    """``rois`` (B, T, N, 4) -> the graphs' non-zero blocks. Every row's weights lie in one
    block, so normalising the blocks (front: over the boxes of t+1; back: over those of t)
    normalises the rows of the full matrices."""
    b, t, n, _ = rois.shape
    # boxes as (4, N, B·(T-1)): the pairwise ops then broadcast over a long contiguous axis
    coords = rois.permute(3, 2, 0, 1)
    ca = coords[..., :-1].reshape(4, n, 1, b * (t - 1))  # frame t
    cb = coords[..., 1:].reshape(4, 1, n, b * (t - 1))  # frame t+1
    iou = _iou_coords_first(ca, cb, plus_one, pairs_last=True)  # (N, N, B·(T-1))
    iou = iou.view(n, n, b, t - 1).permute(2, 3, 0, 1)  # (B, T-1, N, N): [t, i, j]
    return SpaceTimeGraphs(row_normalise(iou, -1), row_normalise(iou, -2).transpose(-1, -2))


def space_time_graphs(rois: torch.Tensor, plus_one: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``rois`` (B, T, N, 4) -> row-normalised dense (front, back) graphs, (B, T·N, T·N)."""
    return space_time_blocks(rois, plus_one).dense()
