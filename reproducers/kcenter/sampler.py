"""Greedy K-center (farthest-point) patch sampler of K-centered Patch Sampling (ECCV 2022).

Reproduces ``KCenterSampler`` of kami93/kcenter_video @ ef7a40a
(kcenter_transformer/models/patch_sampler/kcenter_sampler.py) decision for decision:

- distance: Euclidean over the 768 pixel values plus the (t, h, w) coordinates, those scaled
  by (w_t, w_s, w_s) when the weights are not 1 (in place on the caller's tensor as an option,
  ``scale_in_place``, as released);
- per (sample, temporal segment): a running minimum starting at 5e4 (kept in the default
  dtype, as released), the pick's own entry -1, the first pick ``init mod n`` (random per
  sample and segment when no init is given, as released; a ``torch.Generator`` makes it
  deterministic), every next pick the first argmax;
- spatial division: once a cell is picked, every candidate of that cell in the segment is -1;
- sorting by spatial cell; segment offsets; patches gathered without the coordinates.

How it differs from the official code (same picks, no n x n matrix): the official code
builds the full distance matrix per segment (``torch.cdist``) and reads one row per pick.
Here only what can decide a pick is computed, with ``torch.cdist``'s own values:
- "bounded" (the CPU default, :mod:`.bounded`): int8 sketch bounds skip the entries that
  cannot lower a running minimum, estimates with a rounding tolerance decide most updates,
  and the few undecided entries are computed with cdist's norms and matrix-product
  summation order (restated in :mod:`.orders`, checked on the machine for the size). Per
  pick on the released batches: about 20 (segments) to 40 (ViT) estimated and 0.8 to 1.7
  exact entries;
- "lookahead" (the CPU fallback where that order does not check out, :mod:`.lookahead`): the
  official loop compiled (numba); the picks predicted on int8-rounded points from the exact
  state; their rows one-thread matrix products of at least 16 rows, whose entries are the
  full matrix's bit for bit, clamped and square-rooted by torch, so even exact ties fall as
  released. About 1.2 rows per pick;
- "incremental" (the GPU default): each step computes the last pick's row against all
  candidates, for the whole batch at once, with no host synchronisation. Its one-row
  products may round differently from the full matrix, which can only swing an exact tie;
- "matrix": the official full matrix (``torch.cdist``, one row read per pick), the CPU
  choice when there are fewer than half as many problems (samples x segments) as threads,
  or no numba: bounded and lookahead run one problem per thread, the matrix product uses
  them all.
Against the full-matrix restatement (benchmarks/test_kcenter_sampler.py, batch 2): on one
thread the 784-candidate segments run 3.1-3.5x faster once the allocator serves the official
matrix without page faults (a warm training process) and 3.9-4.8x in a fresh process, the
ViT 4.8-5.7x; on two threads the segments 2.7-3.2x warm and 3.6-4.6x fresh, the ViT 4.5-5.6x.
The greedy loop runs once for all samples and segments together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import bounded, lookahead

RUNNING_MIN_START = 5e4  # official initial value of the running minimum
STRATEGIES = ("bounded", "lookahead", "incremental", "matrix")


@dataclass
class KCenterSelection:
    """The sampler's output: ``indices`` [B, k] into the input flattened (frame, row, column)
    (segment offsets included, sorted per segment when sorting is on); ``selection_order``
    the same picks in greedy order; ``patches`` [B, k, C - 3] the picked pixel vectors."""

    patches: torch.Tensor
    indices: torch.Tensor
    selection_order: torch.Tensor


def spatial_cells(frames: int, height: int, width: int, space_division: int,
                  device=None) -> torch.Tensor:
    """Cell id (cell row * division + cell column) of every candidate of a (frames, height,
    width) segment flattened in that order."""
    if height % space_division or width % space_division:
        raise ValueError(f"space division {space_division} must divide the {height}x{width} "
                         f"patch grid")
    rows = torch.arange(height, device=device) // (height // space_division)
    cols = torch.arange(width, device=device) // (width // space_division)
    cell = rows[:, None] * space_division + cols[None, :]
    return cell.flatten().repeat(frames)


def greedy_kcenter(points: torch.Tensor, k: int, first: torch.Tensor,
                   cells: torch.Tensor | None = None, strategy: str = "auto") -> torch.Tensor:
    """Greedy K-center over ``points`` [P, n, C], independently per problem p.

    ``first`` [P] holds the first picks (already reduced mod n); ``cells`` [n] the spatial
    cell of each candidate (one pick per cell) or None. Returns the picks [P, k] in greedy
    order. ``strategy``: "bounded" (CPU, float32/float64, numba, the machine's summation
    order checked for this size), "lookahead" (CPU, float32/float64, numba), "incremental"
    (any device), "matrix" (the official full matrix) or "auto": on the CPU bounded where
    it is available, else lookahead, while there are at least half as
    many problems as threads (both run one problem per thread), else the matrix, whose
    product uses every thread; incremental elsewhere (see the module docstring). The
    strategy changes the work, never the picks (bar exact ties, incremental).
    """
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"k-center needs 1 <= k <= candidates, got k={k}, "
                         f"n={points.shape[1]}")
    if strategy not in STRATEGIES + ("auto",):
        raise ValueError(f"unknown k-center strategy {strategy!r}; use one of "
                         f"{', '.join(STRATEGIES)} or auto")
    P, n, C = points.shape
    runs_lookahead = (points.device.type == "cpu" and lookahead.available()
                      and points.dtype in (torch.float32, torch.float64))
    if strategy == "lookahead" and not runs_lookahead:
        raise ValueError("the lookahead k-center strategy needs float32/float64 points on the "
                         "CPU and numba installed; use strategy='matrix' (the official full "
                         "matrix) or 'incremental'")
    if strategy == "bounded" and not (runs_lookahead and bounded.available(n, C, points.dtype)):
        raise ValueError(f"the bounded k-center strategy needs float32/float64 points on the "
                         f"CPU, numba, and this machine's matrix-product order checked for "
                         f"{n} candidates of {C} channels; use strategy='lookahead' or "
                         f"'matrix'")
    if strategy == "auto":
        if points.device.type != "cpu":
            strategy = "incremental"
        elif not runs_lookahead or 2 * P < torch.get_num_threads():
            strategy = "matrix"
        else:
            strategy = "bounded" if bounded.available(n, C, points.dtype) else "lookahead"
    with torch.autocast(points.device.type, enabled=False), torch.no_grad():
        first = first.to(points.device)
        if strategy == "matrix":
            return _matrix(points, k, first, cells)
        if strategy == "bounded":
            return bounded.bounded_greedy(points, k, first.cpu(),
                                          None if cells is None else cells.cpu(),
                                          RUNNING_MIN_START, torch.get_default_dtype())
        if strategy == "lookahead":
            return lookahead.lookahead_greedy(points, k, first.cpu(),
                                              None if cells is None else cells.cpu(),
                                              _running_start(points))
        return _incremental(points, k, first, cells)


def _augmented(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cdist's operands: distance^2(i, j) = [-2x_i, |x_i|^2, 1] . [x_j, 1, |x_j|^2]."""
    norms = points.pow(2).sum(-1, keepdim=True)
    ones = torch.ones_like(norms)
    return torch.cat([points.mul(-2), norms, ones], -1), torch.cat([points, ones, norms], -1)


def _running_start(points: torch.Tensor) -> torch.Tensor:
    """The running minimum, in the default dtype as released."""
    return torch.full(points.shape[:2], RUNNING_MIN_START, dtype=torch.get_default_dtype(),
                      device=points.device)


def _matrix(points, k, first, cells):
    """The official computation: the full ``torch.cdist`` matrix, diagonal -1, one row per
    pick (its own restatement in :mod:`.reference` stays the tests' independent oracle)."""
    distances = torch.cdist(points, points)
    distances.diagonal(dim1=1, dim2=2).fill_(-1.0)
    running = _running_start(points)
    batch = torch.arange(points.shape[0], device=points.device)
    last = first.long()
    picks = [last]
    for _ in range(k - 1):
        torch.minimum(distances[batch, last].to(running.dtype), running, out=running)
        if cells is not None:
            running.masked_fill_(cells[None, :] == cells[last][:, None], -1.0)
        last = running.argmax(-1)
        picks.append(last)
    return torch.stack(picks, -1)


def _incremental(points, k, first, cells):
    left, right = _augmented(points)
    running = _running_start(points)
    batch = torch.arange(points.shape[0], device=points.device)
    last = first.long()
    picks = [last]
    for _ in range(k - 1):
        row = torch.bmm(left[batch, last][:, None], right.mT)[:, 0]
        row.clamp_min_(1e-30).sqrt_()
        row[batch, last] = -1.0  # the diagonal
        torch.minimum(row.to(running.dtype), running, out=running)
        if cells is not None:
            running.masked_fill_(cells[None, :] == cells[last][:, None], -1.0)
        last = running.argmax(-1)
        picks.append(last)
    return torch.stack(picks, -1)


class KCenterSampler(nn.Module):
    """Official ``KCenterSampler`` semantics on a dense patch grid x [B, T, H, W, C] whose last
    3 channels are the (t, h, w) coordinates. ``forward(x, k, init=None, generator=None)``.

    ``init`` [B * time_division] (sample-major) fixes the first picks, reduced mod the segment
    size as released; otherwise they are drawn uniformly (``generator`` for a seeded draw).
    """

    def __init__(self, time_division: int = 1, space_division: int = 1,
                 sort_indices: bool = False, kcenter_ws: float = 1.0, kcenter_wt: float = 1.0,
                 scale_in_place: bool = False, strategy: str = "auto"):
        super().__init__()
        self.time_division = time_division
        self.space_division = space_division
        self.sort_indices = sort_indices
        self.kcenter_ws = kcenter_ws
        self.kcenter_wt = kcenter_wt
        self.scale_in_place = scale_in_place
        self.strategy = strategy

    def extra_repr(self) -> str:
        return (f"time_division={self.time_division}, space_division={self.space_division}, "
                f"sort_indices={self.sort_indices}, ws={self.kcenter_ws}, wt={self.kcenter_wt}")

    @torch.no_grad()
    def forward(self, x: torch.Tensor, k: int, init: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> KCenterSelection:
        B, T, H, W, C = x.shape
        S, D = self.time_division, self.space_division
        if T % S or k % S:
            raise ValueError(f"time division {S} must divide the {T} frames and k={k}")
        per_segment = k // S
        if D != 1 and per_segment != D * D:
            raise ValueError(f"space division {D} picks exactly one patch per cell: k per "
                             f"segment must be {D * D}, got {per_segment}")
        n = (T // S) * H * W
        flat = x.reshape(B, T * H * W, C)
        points = flat
        if self.kcenter_ws != 1.0 or self.kcenter_wt != 1.0:
            weight = torch.tensor([self.kcenter_wt, self.kcenter_ws, self.kcenter_ws],
                                  dtype=x.dtype, device=x.device)
            if self.scale_in_place:  # as released: the caller's tensor changes too
                flat[..., -3:] *= weight
            else:
                points = torch.cat([flat[..., :-3], flat[..., -3:] * weight], -1)
        points = points.reshape(B * S, n, C)
        if init is None:
            first = torch.randint(0, n, (B * S,), generator=generator,
                                  device=generator.device if generator is not None else x.device)
        else:
            if init.numel() != B * S:
                raise ValueError(f"init needs {B * S} values (batch x segments), got "
                                 f"{init.numel()}")
            first = torch.remainder(init.reshape(-1), n)
        cells = spatial_cells(T // S, H, W, D, x.device) if D != 1 else None
        order = torch.ops.kcenter.greedy(points, first.to(x.device), per_segment, cells,
                                         self.strategy)
        indices = order
        if self.sort_indices and cells is not None:  # without division every cell id is 0
            indices = torch.gather(order, 1, cells[order].argsort(dim=-1, stable=True))
        offsets = torch.arange(S, device=x.device).repeat(B)[:, None] * n
        indices = (indices + offsets).reshape(B, k)
        order = (order + offsets).reshape(B, k)
        # whole rows by index, contiguous (gather with an expanded index: 3x slower)
        rows = (indices + torch.arange(B, device=x.device)[:, None] * flat.shape[1]).flatten()
        patches = flat.reshape(-1, C)[:, :-3].index_select(0, rows).view(B, k, C - 3)
        return KCenterSelection(patches=patches, indices=indices, selection_order=order)


@torch.library.custom_op("kcenter::greedy", mutates_args=())
def greedy_op(points: torch.Tensor, first: torch.Tensor, k: int, cells: torch.Tensor | None,
              strategy: str) -> torch.Tensor:
    """``greedy_kcenter`` as one opaque op (``torch.ops.kcenter.greedy``): tracers and FLOP
    counters see one node, counted with ``sampler_macs`` by the handle registered below."""
    return greedy_kcenter(points, k, first, cells, strategy)


@greedy_op.register_fake
def _(points, first, k, cells, strategy):
    return points.new_empty(points.shape[0], k, dtype=torch.long)


def sampler_macs(candidates: int, k: int, segments: int = 1, channels: int = 771,
                 rows: int | None = None) -> int:
    """Multiply-adds of one K-center call for one sample, fvcore-style (a multiply-add = 1).

    Default: the official count, the full pairwise matrix of each segment
    (segments x n^2 x (channels + 2), the cdist matrix product), about 25 G for the released
    ViT (5,684 candidates). ``rows``: the rows this implementation computes per segment instead
    (at least k / segments; a block-wise run computes a few more).
    """
    n = candidates // segments
    per_segment_rows = n if rows is None else rows
    return segments * per_segment_rows * n * (channels + 2)


def _greedy_macs_from_shape(shape) -> int:
    """Official multiply-adds of one greedy call on points [P, n, C]: P full n x n matrices."""
    P, n, C = shape
    return P * n * n * (C + 2)


def _register_flop_handle() -> None:
    from reproducers.harness.flops import register_flop_handle

    def handle(inputs, outputs):
        from fvcore.nn.jit_handles import get_shape
        return _greedy_macs_from_shape(get_shape(inputs[0]))

    register_flop_handle("kcenter::greedy", handle,
                         formula=lambda args, out: _greedy_macs_from_shape(args[0].shape),
                         target=torch.ops.kcenter.greedy)


_register_flop_handle()
