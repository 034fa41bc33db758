"""A plain re-statement of the official K-center algorithm, the baseline of tests and benchmarks.

kami93/kcenter_video @ ef7a40a, ``KCenterSampler.forward``: the full pairwise distance matrix
per (sample, segment) with ``torch.cdist``, diagonal -1, a running minimum from 5e4, then one
Python step per pick (row gather, minimum, optional cell exclusion, argmax). Not used by the
models; :mod:`reproducers.kcenter.sampler` gives the same picks without the full matrix.
"""

from __future__ import annotations

import torch

from .sampler import RUNNING_MIN_START, spatial_cells


@torch.no_grad()
def reference_kcenter(points: torch.Tensor, k: int, first: torch.Tensor,
                      cells: torch.Tensor | None = None) -> torch.Tensor:
    """Picks [P, k] in greedy order for ``points`` [P, n, C] (see ``greedy_kcenter``)."""
    P, n, _ = points.shape
    distances = torch.cdist(points, points)
    distances.diagonal(dim1=1, dim2=2).fill_(-1.0)
    running = torch.full((P, n), RUNNING_MIN_START, dtype=torch.get_default_dtype(),
                         device=points.device)
    batch = torch.arange(P, device=points.device)
    last = first
    picks = [last]
    for _ in range(k - 1):
        running = torch.minimum(distances[batch, last].to(running.dtype), running)
        if cells is not None:
            running.masked_fill_(cells[None, :] == cells[last][:, None], -1.0)
        last = running.argmax(-1)
        picks.append(last)
    return torch.stack(picks, -1)


@torch.no_grad()
def reference_sampler(x: torch.Tensor, k: int, time_division: int = 1,
                      space_division: int = 1, sort_indices: bool = False,
                      init: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The official sampler's forward on x [B, T, H, W, C] (unit coordinate weights):
    (patches [B, k, C - 3], indices [B, k])."""
    B, T, H, W, C = x.shape
    S = time_division
    n = (T // S) * H * W
    flat = x.reshape(B, T * H * W, C)
    first = (torch.randint(0, n, (B * S,), device=x.device) if init is None
             else torch.remainder(init, n))
    cells = spatial_cells(T // S, H, W, space_division, x.device) if space_division != 1 \
        else None
    order = reference_kcenter(flat.reshape(B * S, n, C), k // S, first, cells)
    if sort_indices and cells is not None:
        order = torch.gather(order, 1, cells[order].argsort(dim=-1))
    indices = (order + torch.arange(S, device=x.device).repeat(B)[:, None] * n).reshape(B, k)
    patches = torch.gather(flat[..., :-3], 1, indices[..., None].expand(-1, -1, C - 3))
    return patches, indices
