"""Greedy K-center: picks predicted on rounded points, rows computed as the official matrix.

The official loop (kami93/kcenter_video @ ef7a40a, ``KCenterSampler.forward``) needs only the
rows of the distance matrix of the points it picks. The same greedy run on the points rounded
to int8 (:func:`.bounded.rounded_gram`: an exact integer Gram matrix, ``torch._int_mm``)
picks nearly the same set (95-100 % of the picks on the released 784-candidate segments).
Those rows are computed with the augmented operands of ``torch.cdist``
(``[-2x, |x|^2, 1] @ [y, 1, |y|^2]^T``, clamped at 1e-30, square root), one product per
problem against all its candidates, so their values are the official ones bit for bit
(checked: float32 picks identical on the full-size benchmark batches); then the official
loop runs on them. A pick without a row gets it, with the rows of the next farthest
candidates, from a 32-row product (the same bits again). A wrong prediction costs time,
never a different pick.
"""

from __future__ import annotations

import math

import torch

from .bounded import rounded_gram

FILL = 32  # rows per extra product (a 32-row product gives the official bits)


def _right(points: torch.Tensor, norms: torch.Tensor, p: int, out: torch.Tensor):
    """cdist's right operand [x, 1, |x|^2] of problem p, written into ``out`` [n, C + 2]."""
    C = points.shape[-1]
    out[:, :C] = points[p]
    out[:, C] = 1.0
    out[:, C + 1] = norms[p]
    return out


def _left(right: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """cdist's left operand [-2x, |x|^2, 1] for the given rows of a right operand."""
    picked = right[rows]
    C = right.shape[-1] - 2
    return torch.cat([picked[:, :C].mul(-2), picked[:, C + 1:], picked[:, C:C + 1]], -1)


def _rows(points, norms, p, chosen, out, scratch, owner: list) -> None:
    """Official distance rows of problem p for the candidates ``chosen`` (the bits of the
    official matrix product: at least 32 rows against all candidates), diagonal -1.
    ``scratch`` holds the right operand of problem ``owner[0]``."""
    if owner[0] != p:
        _right(points, norms, p, scratch)
        owner[0] = p
    torch.mm(_left(scratch, chosen), scratch.T, out=out)
    out.clamp_min_(1e-30).sqrt_()
    out.scatter_(1, chosen[:, None], -1.0)


def _rounded_order(gram: torch.Tensor, k: int, first: torch.Tensor,
                   cells: torch.Tensor | None) -> torch.Tensor:
    """The greedy order on the rounded points (squared distances in integer units)."""
    P, n, _ = gram.shape
    squares = gram.diagonal(dim1=1, dim2=2).double()
    flat_squares = squares.reshape(-1)
    rows = gram.view(P * n, n)
    running = torch.full((P, n), math.inf, dtype=torch.float64, device=gram.device)
    offsets = torch.arange(P, device=gram.device) * n
    last = first
    order = [last]
    for _ in range(k - 1):
        at = offsets + last
        row = torch.add(squares, rows.index_select(0, at), alpha=-2)
        torch.minimum(running, row.add_(flat_squares.index_select(0, at)[:, None]), out=running)
        running.view(-1).index_fill_(0, at, -1.0)
        if cells is not None:
            running.masked_fill_(cells[None, :] == cells[last][:, None], -1.0)
        last = running.argmax(-1)
        order.append(last)
    return torch.stack(order, -1)


def predicted_greedy(points: torch.Tensor, k: int, first: torch.Tensor,
                     cells: torch.Tensor | None, running: torch.Tensor,
                     coordinates: int = 3) -> torch.Tensor:
    """Picks [P, k] in greedy order for ``points`` [P, n, C], as ``greedy_kcenter``;
    ``running`` [P, n] is the running minimum at its official start (default dtype)."""
    P, n, C = points.shape
    device = points.device
    batch = torch.arange(P, device=device)
    first = first.long()
    gram = rounded_gram(points, coordinates)
    predicted = _rounded_order(gram, k, first, cells)
    del gram
    norms = points.new_empty(P, n)
    for p in range(P):  # |x|^2 as cdist sums it, per problem (no large temporary)
        norms[p] = points[p].pow(2).sum(-1)
    scratch, owner = points.new_empty(n, C + 2), [-1]
    rows = points.new_empty(P, k + 4 * FILL, n)
    for p in range(P):
        _rows(points, norms, p, predicted[p], rows[p, :k], scratch, owner)
    slot = torch.full((P, n), -1, dtype=torch.long, device=device)
    slot.scatter_(1, predicted, torch.arange(k, device=device).expand(P, k))
    used = [k] * P  # rows filled per problem

    def fill(p: int, pick: int) -> None:
        nonlocal rows
        if used[p] + FILL > rows.shape[1]:  # rare: double
            rows = torch.cat([rows, torch.empty_like(rows)], 1)
        free = running[p].masked_fill(slot[p] >= 0, -math.inf)
        free[pick] = -math.inf
        more = free.topk(min(FILL - 1, int((slot[p] < 0).sum()) - 1)).indices
        chosen = torch.cat([torch.tensor([pick], device=device), more])
        count = chosen.numel()
        chosen = torch.cat([chosen, chosen[:1].expand(FILL - count)])  # always 32 rows
        _rows(points, norms, p, chosen, rows[p, used[p]:used[p] + FILL], scratch, owner)
        slot[p, chosen[:count]] = used[p] + torch.arange(count, device=device)
        used[p] += FILL

    last = first
    picks = [last]
    for _ in range(k - 1):
        where = slot[batch, last]
        if bool((where < 0).any()):
            for p in (where < 0).nonzero().view(-1).tolist():
                fill(p, int(last[p]))
            where = slot[batch, last]
        torch.minimum(rows[batch, where].to(running.dtype), running, out=running)
        if cells is not None:
            running.masked_fill_(cells[None, :] == cells[last][:, None], -1.0)
        last = running.argmax(-1)
        picks.append(last)
    return torch.stack(picks, -1)
