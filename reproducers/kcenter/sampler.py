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
Here only rows that are needed are computed, with the augmented-matrix formula of
``torch.cdist`` (``[-2x, |x|^2, 1] @ [y, 1, |y|^2]^T``, clamped at 1e-30, square root):
- "incremental" (the GPU default): each step computes the last pick's row against all
  candidates, for the whole batch at once, with no host synchronisation;
- "predict" (the CPU default for segments of up to 1,024 candidates, :mod:`.predicted`): the
  greedy run first on int8-rounded points predicts the picks (95-100 % of them on the
  released segments); their rows are one batched product, the official loop runs on them, a
  missed pick gets a 32-row product;
- "blocks" (the CPU default above): when the last pick has no row yet, the rows of it and of the
  ``block - 1`` next-farthest uncovered candidates (one per spatial position) are computed in
  one matrix product and kept until their point is picked; a wrong guess costs time, never a
  different pick. About 1.2-1.5 k rows instead of n per segment (ViT: ~4x fewer
  multiply-adds than the full matrix);
- "bounds" (opt-in, :mod:`.bounded`): exact int8 Gram bounds skip ~97 % of the picks' row
  entries and the rest use the same formula as a dot product. Its float64 picks are the
  official ones; in float32 a decision closer than the formula's rounding can differ, since
  its sums are not the matrix product's (the blocks' rows are, bit for bit).
The greedy loop runs once for all samples and segments together. Measured on one CPU thread
(benchmarks/test_kcenter_sampler.py, batch 2, official and ours alternating, loaded shared
machine): the ViT selection 1.5-2x faster than the full-matrix restatement (blocks), the
8-segment ones 1.0-1.4x (predict; blocks 0.7-0.9x, bounds 1.1-1.4x): their 784 x 784
matrices are cheap, and the int8 Gram, the picks' rows and a second eager loop cost about as
much as the matrix saved. The 3x of the issue is not reached on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .bounded import bounded_greedy
from .predicted import predicted_greedy

RUNNING_MIN_START = 5e4  # official initial value of the running minimum
SPREAD = 4  # a block's candidates come from the top SPREAD x block of the running minimum
PREDICT_UP_TO = 1024  # CPU "auto": "predict" up to this many candidates, "blocks" above


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
                   cells: torch.Tensor | None = None, block: int = 32,
                   positions: int | None = None, strategy: str = "auto") -> torch.Tensor:
    """Greedy K-center over ``points`` [P, n, C], independently per problem p.

    ``first`` [P] holds the first picks (already reduced mod n); ``cells`` [n] the spatial
    cell of each candidate (one pick per cell) or None. Returns the picks [P, k] in greedy
    order.

    ``strategy``: "blocks" (rows computed ahead in blocks of ``block``, see the module
    docstring; ``positions``, the spatial positions per frame, steers which rows; the CPU
    default above ``PREDICT_UP_TO`` candidates), "predict" (rows of the picks predicted on
    int8-rounded points, :mod:`.predicted`; the CPU default up to it), "incremental" (one row
    per pick against all candidates and no host synchronisation: the GPU default), "bounds"
    (exact integer bounds skip most entries, :mod:`.bounded`; float32 near-ties may fall the
    other way) or "auto". Strategy, block and positions change the work, never the picks
    (bounds: in float64).
    """
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"k-center needs 1 <= k <= candidates, got k={k}, "
                         f"n={points.shape[1]}")
    if strategy == "auto":  # CPU: segments of a few hundred candidates are best predicted
        strategy = "incremental" if points.device.type != "cpu" else \
            "predict" if points.shape[1] <= PREDICT_UP_TO else "blocks"
    if strategy not in ("bounds", "predict", "blocks", "incremental"):
        raise ValueError(f"unknown k-center strategy {strategy!r}")
    with torch.autocast(points.device.type, enabled=False), torch.no_grad():
        if strategy == "incremental":
            return _incremental(points, k, first.to(points.device), cells)
        if strategy == "bounds":
            return bounded_greedy(points, k, first.to(points.device), cells,
                                  _running_start(points))
        if strategy == "predict":
            return predicted_greedy(points, k, first.to(points.device), cells,
                                    _running_start(points))
        return _blocks(points, k, first.to(points.device), cells, block, positions)


def _augmented(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cdist's operands: distance^2(i, j) = [-2x_i, |x_i|^2, 1] . [x_j, 1, |x_j|^2]."""
    norms = points.pow(2).sum(-1, keepdim=True)
    ones = torch.ones_like(norms)
    return torch.cat([points.mul(-2), norms, ones], -1), torch.cat([points, ones, norms], -1)


def _running_start(points: torch.Tensor) -> torch.Tensor:
    """The running minimum, in the default dtype as released."""
    return torch.full(points.shape[:2], RUNNING_MIN_START, dtype=torch.get_default_dtype(),
                      device=points.device)


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


def _blocks(points, k, first, cells, block, positions):
    P, n, _ = points.shape
    device = points.device
    left, right = _augmented(points)
    capacity = min(n, 3 * k + block)
    rows = points.new_empty(P, capacity, n)
    slot = torch.full((P, n), -1, dtype=torch.long, device=device)
    used = [0] * P
    running = _running_start(points)
    batch = torch.arange(P, device=device)

    def fill(p: int, candidates: torch.Tensor) -> None:
        nonlocal rows, capacity
        m = candidates.numel()
        if used[p] + m > capacity:
            grown = min(n, max(2 * capacity, used[p] + m))
            rows = torch.cat([rows, rows.new_empty(P, grown - capacity, n)], 1)
            capacity = grown
        block_rows = left[p, candidates] @ right[p].mT
        block_rows.clamp_min_(1e-30).sqrt_()
        block_rows[torch.arange(m, device=device), candidates] = -1.0  # the diagonal
        rows[p, used[p]:used[p] + m] = block_rows
        slot[p, candidates] = torch.arange(used[p], used[p] + m, device=device)
        used[p] += m

    def fill_missing(last: torch.Tensor, width: int) -> torch.Tensor:
        where = slot[batch, last]
        missing = (where < 0).nonzero().flatten().tolist()
        for p in missing:
            ahead = running[p].masked_fill(slot[p] >= 0, float("-inf"))
            ahead[last[p]] = float("-inf")
            extra = min(width - 1, n - used[p] - 1)
            if extra <= 0:
                fill(p, last[p:p + 1])
                continue
            top = ahead.topk(min(SPREAD * extra, n - used[p] - 1)).indices
            if positions:  # one candidate per spatial position (and not the last pick's):
                cell = top % positions  # neighbours in time are alike, so a pick
                order = torch.arange(top.numel(), device=device)  # suppresses the others
                firsts = torch.full((positions,), top.numel(), device=device)
                firsts.scatter_reduce_(0, cell, order, "amin")
                top = top[(firsts[cell] == order) & (cell != last[p] % positions)]
            fill(p, torch.cat([last[p:p + 1], top[:extra]]))
        return slot[batch, last] if missing else where

    last = first.long()
    picks = [last]
    fill_missing(last, 1)  # the running minimum says nothing yet: the first row alone
    for _ in range(k - 1):
        where = fill_missing(last, block)
        torch.minimum(rows[batch, where].to(running.dtype), running, out=running)
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
                 scale_in_place: bool = False, block: int = 32, strategy: str = "auto"):
        super().__init__()
        self.time_division = time_division
        self.space_division = space_division
        self.sort_indices = sort_indices
        self.kcenter_ws = kcenter_ws
        self.kcenter_wt = kcenter_wt
        self.scale_in_place = scale_in_place
        self.block = block
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
                                         self.block, H * W, self.strategy)
        indices = order
        if self.sort_indices and cells is not None:  # without division every cell id is 0
            indices = torch.gather(order, 1, cells[order].argsort(dim=-1, stable=True))
        offsets = torch.arange(S, device=x.device).repeat(B)[:, None] * n
        indices = (indices + offsets).reshape(B, k)
        order = (order + offsets).reshape(B, k)
        patches = torch.gather(flat[..., :-3], 1, indices[..., None].expand(-1, -1, C - 3))
        return KCenterSelection(patches=patches, indices=indices, selection_order=order)


@torch.library.custom_op("kcenter::greedy", mutates_args=())
def greedy_op(points: torch.Tensor, first: torch.Tensor, k: int, cells: torch.Tensor | None,
              block: int, positions: int, strategy: str) -> torch.Tensor:
    """``greedy_kcenter`` as one opaque op (``torch.ops.kcenter.greedy``): tracers and FLOP
    counters see one node, counted with ``sampler_macs`` by the handle registered below."""
    return greedy_kcenter(points, k, first, cells, block, positions or None, strategy)


@greedy_op.register_fake
def _(points, first, k, cells, block, positions, strategy):
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
