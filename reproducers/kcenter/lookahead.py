"""Greedy K-center on CPU: the official loop compiled, the picks' rows computed ahead.

The CPU fallback where :mod:`.bounded` is unavailable (its check of the matrix product's
summation order fails, e.g. on another BLAS): it needs no restated order, only that a
one-thread product of at least ``MIN_BLOCK`` rows has the full matrix's bits.

The official loop (kami93/kcenter_video @ ef7a40a, ``KCenterSampler.forward``) builds the full
``torch.cdist`` matrix of each (sample, segment) and reads one row per pick. Only the picks'
rows are ever read, so this strategy computes rows on demand:

- the official loop (running minimum in the default dtype, diagonal -1, one pick per spatial
  cell, first argmax) runs compiled with numba (:func:`_advance`) until it reaches a pick
  whose row is not computed yet;
- the next picks are then predicted (:func:`_simulate`) by running the same greedy on from
  the exact state with approximate distances: pixels rounded to int8 at step
  s = max |pixel| / 127 (an exact int32 Gram matrix, ``torch._int_mm``), coordinates exact.
  Up to ``WHOLE_UP_TO`` candidates (the 784-candidate segments) one Gram matrix of all of
  them serves every prediction; above (the ViT's 5,684) each prediction runs on the ``POOL``
  farthest candidates and lists at most ``BLOCK`` rows;
- the rows of the missing pick and of the predicted picks without a row are computed in one
  matrix product with ``torch.cdist``'s own operands, ``[-2x, |x|^2, 1] @ [y, 1, |y|^2]^T``,
  clamped at 1e-30 and square-rooted by torch (whose CPU square root is not IEEE's), against
  all candidates. A wrong prediction costs a row, never a different pick: every decision is
  the official loop's on the official values.

Bits: with MKL, a one-thread product of at least ``MIN_BLOCK`` rows gives every entry the
bits of the full ``cdist`` matrix, and those do not depend on the thread count; shorter or
multi-threaded products may split the sums differently (measured on the benchmark batches).
So products run on one thread, problems are shared among worker threads, and even exact ties
between candidates (flat patches) fall as released. Measured on the released full-size
batches: 1.06 (segments) to 1.2 (ViT) rows per pick.
"""

from __future__ import annotations

import numpy as np
import torch

from .cpu import compiled, njit, share_problems

MIN_BLOCK = 16  # shortest product whose entries round as the full matrix (one MKL thread)
WHOLE_UP_TO = 1024  # up to this many candidates one Gram matrix of all of them is used
POOL = 512  # above: each prediction runs on this many of the farthest candidates
BLOCK = 48  # and lists at most this many rows for the next product


def available() -> bool:
    """Whether numba is importable (else ``auto`` uses the official full matrix)."""
    return njit is not None


@compiled(False)  # exact IEEE arithmetic: the official decisions
def _advance(rows, slot, running, cells, use_cells, picks, step, k):  # pragma: no cover
    """Official steps from ``step`` on while the last pick's row exists; returns the step at
    which the row of ``picks[step - 1]`` is missing, or k when all picks are made. ``rows``
    hold the official distances (clamped and square-rooted by torch, see :meth:`_Solver._rows`),
    -1 on the diagonal, cast to the running minimum's dtype (official:
    ``distances.to(running.dtype)``)."""
    n = running.shape[0]
    while step < k:
        last = picks[step - 1]
        where = slot[last]
        if where < 0:
            return step
        row = rows[where]
        cell = cells[last]
        best = -np.inf
        arg = 0
        for i in range(n):
            d = running.dtype.type(row[i])
            if i == last:
                d = running.dtype.type(-1.0)
            r = running[i]
            if d < r:
                r = d
            if use_cells and cells[i] == cell:
                r = -1.0
            running[i] = r
            if r > best:  # the first maximum, as torch.argmax
                best = r
                arg = i
        picks[step] = arg
        step += 1
    return step


@compiled(True)  # fast math: the predictions
def _pool(running, last, size, out):  # pragma: no cover
    """``last`` then up to ``size - 1`` of the candidates of highest running minimum (never
    the picked or excluded ones, at -1); returns the count."""
    n = running.shape[0]
    out[0] = last
    count = 1
    if size < n:
        threshold = np.partition(-running, size - 1)[size - 1]  # -(size-th highest)
    else:
        threshold = np.inf
    for i in range(n):
        if count >= size:
            break
        r = running[i]
        if i != last and r >= 0 and -r <= threshold:
            out[count] = i
            count += 1
    return count


@compiled(True)  # fast math: the predictions
def _simulate(running, slot, cells, use_cells, members, start, gram, scale2, coords, limit,
              steps, out):  # pragma: no cover
    """Predict the picks after ``members[start]`` (the pick whose row is missing) by the
    greedy on ``members`` from the exact running minimum, with the approximate squared
    distances s^2 |q_i - q_j|^2 + |coord_i - coord_j|^2 (``gram`` = q q^T over ``members``).
    Lists the missing pick and then up to ``limit - 1`` predicted picks without a row among
    the next ``steps`` picks in ``out``; returns how many."""
    count = members.shape[0]
    axes = coords.shape[1]
    value = np.empty(count, np.float32)  # squared running minimum (-1: picked or excluded)
    norms = np.empty(count, np.float32)  # s^2 |q|^2 + |coord|^2
    across = np.empty((axes, count), np.float32)  # coordinates, one row per axis
    cell = np.empty(count, np.int64)
    dot = np.empty(count, np.float32)
    for j in range(count):
        i = members[j]
        r = running[i]
        value[j] = r * r if r >= 0 else -1.0
        norms[j] = scale2 * gram[j, j]
        for a in range(axes):
            across[a, j] = coords[i, a]
            norms[j] += coords[i, a] * coords[i, a]
        cell[j] = cells[i]
    two_s2 = np.float32(2.0 * scale2)
    out[0] = members[start]
    found = 1
    current = start
    for _ in range(min(count, steps)):
        if found >= limit:
            break
        value[current] = -1.0
        g = gram[current]
        base = norms[current]
        if axes == 3:  # the (t, h, w) coordinates: one fused, vectorisable loop
            t0, t1, t2 = (np.float32(2.0) * across[0, current],
                          np.float32(2.0) * across[1, current],
                          np.float32(2.0) * across[2, current])
            for j in range(count):
                d = (base + norms[j] - two_s2 * np.float32(g[j]) - t0 * across[0, j]
                     - t1 * across[1, j] - t2 * across[2, j])
                v = value[j]
                value[j] = min(v, max(d, np.float32(0.0))) if v >= 0 else v
        else:
            for j in range(count):
                dot[j] = two_s2 * np.float32(g[j])
            for a in range(axes):
                twice = np.float32(2.0) * across[a, current]
                for j in range(count):
                    dot[j] += twice * across[a, j]
            for j in range(count):
                v = value[j]
                value[j] = min(v, max(base + norms[j] - dot[j], np.float32(0.0))) \
                    if v >= 0 else v
        if use_cells:
            c = cell[current]
            for j in range(count):
                if cell[j] == c:
                    value[j] = -1.0
        arg = np.argmax(value)
        if value[arg] < 0:
            break
        current = arg
        if slot[members[arg]] < 0:
            out[found] = members[arg]
            found += 1
    return found


@compiled(True)  # fast math: the predictions
def _prepare(x, pixels, operand, rounded):  # pragma: no cover
    """One problem: ``x`` [n, C] copied into cdist's right operand ``operand`` [n, C + 2] as
    [x, 1, .] (the norms are torch's), its first ``pixels`` channels rounded to int8 at step
    s = max |pixel| / 127 into ``rounded`` [n, pixels]; returns s^2."""
    n, C = x.shape
    lanes = np.zeros(16, x.dtype)  # |max| per lane: a reduction the compiler vectorises
    whole = pixels - pixels % 16
    for i in range(n):
        row = x[i]
        dst = operand[i]
        for j in range(C):
            dst[j] = row[j]
        dst[C] = 1.0
        for j in range(0, whole, 16):
            for lane in range(16):
                a = abs(row[j + lane])
                if a > lanes[lane]:
                    lanes[lane] = a
        for j in range(whole, pixels):
            a = abs(row[j])
            if a > lanes[0]:
                lanes[0] = a
    peak = lanes.max()
    step = peak / 127.0 if peak > 0 else 1.0
    inverse = x.dtype.type(1.0 / step)
    for i in range(n):
        row = operand[i]
        q = rounded[i]
        for j in range(pixels):
            q[j] = np.int8(np.rint(row[j] * inverse))
    return step * step


@compiled(True)  # fast math: the predictions
def _left(right, index, out):  # pragma: no cover
    """cdist's left operand [-2x, |x|^2, 1] of the candidates ``index`` from its right operand
    [x, 1, |x|^2] (-2x is exact in floating point)."""
    C = right.shape[1] - 2
    for r in range(index.shape[0]):
        src = right[index[r]]
        dst = out[r]
        for j in range(C):
            dst[j] = -2.0 * src[j]
        dst[C] = src[C + 1]
        dst[C + 1] = 1.0


class _Solver:
    """One worker's buffers (reused from problem to problem: fresh large buffers cost page
    faults on every call) and the per-problem driver."""

    def __init__(self, points, k, cells, running, out, coordinates):
        P, n, C = points.shape
        self.points, self.k, self.running, self.out = points, k, running, out
        self.pixels = C - coordinates
        self.use_cells = cells is not None
        self.cells = (cells if self.use_cells else torch.zeros(n, dtype=torch.long)).numpy()
        self.whole = n <= WHOLE_UP_TO  # one Gram matrix serves every prediction
        self.pool = pool = min(n, POOL)
        self.limit = n if self.whole else max(BLOCK, MIN_BLOCK)
        self.chosen = np.empty(max(self.limit, MIN_BLOCK), np.int64)
        self.members = np.arange(n, dtype=np.int64) if self.whole else np.empty(pool, np.int64)
        # room for the usual 1.2 rows per pick (grown if ever needed)
        self.rows = points.new_empty(min(n, k + k // 4) + MIN_BLOCK + self.limit, n)
        self.operand = points.new_empty(n, C + 2)  # cdist's right operand [x, 1, |x|^2]
        self.left = points.new_empty(self.chosen.shape[0], C + 2)
        self.squares = points.new_empty(n, C)
        self.rounded = torch.empty(n, self.pixels, dtype=torch.int8)
        self.grams = torch.empty((n if self.whole else pool) ** 2, dtype=torch.int32)
        self.rows_computed = 0

    def solve(self, p: int, first: int) -> None:
        n, C = self.points.shape[1:]
        x, operand, k = self.points[p], self.operand, self.k
        scale2 = _prepare(x.numpy(), self.pixels, operand.numpy(), self.rounded.numpy())
        torch.sum(torch.mul(x, x, out=self.squares), -1, out=operand[:, C + 1])  # as cdist
        coords = x[:, self.pixels:].double().numpy()
        if self.whole:
            gram = torch._int_mm(self.rounded, self.rounded.T,
                                 out=self.grams.view(n, n)).numpy()
        slot = np.full(n, -1, np.int64)
        running = self.running[p].numpy()
        picks = self.out[p].numpy()
        picks[0] = first
        used, step = 0, 1
        while True:
            step = _advance(self.rows.numpy(), slot, running, self.cells, self.use_cells, picks,
                            step, k)
            if step >= k:
                break
            last = int(picks[step - 1])
            if self.whole:
                m = _simulate(running, slot, self.cells, self.use_cells, self.members, last,
                              gram, scale2, coords, self.limit, k - step, self.chosen)
            else:
                count = _pool(running, last, self.pool, self.members)
                near = self.rounded.index_select(0, torch.from_numpy(self.members[:count]))
                local = torch._int_mm(near, near.T,
                                      out=self.grams[:count * count].view(count, count))
                m = _simulate(running, slot, self.cells, self.use_cells, self.members[:count],
                              0, local.numpy(), scale2, coords, self.limit, k - step,
                              self.chosen)
            used = self._rows(slot, m, used)
        self.rows_computed += used

    def _rows(self, slot, m: int, used: int) -> int:
        """Distances of ``chosen[:m]`` (padded to MIN_BLOCK rows) into ``rows[used:]``: cdist's
        matrix product, clamp and square root, bit for bit (the diagonal: ``_advance``)."""
        n = self.points.shape[1]
        size = max(m, MIN_BLOCK)
        if used + size > self.rows.shape[0]:  # grow (rare: a run of wrong predictions)
            self.rows = torch.cat([self.rows, self.rows.new_empty(
                max(size, self.rows.shape[0] // 2), n)])
        chosen = self.chosen
        chosen[m:size] = chosen[0]  # short products repeat the missing pick's row
        _left(self.operand.numpy(), chosen[:size], self.left.numpy())
        block = torch.mm(self.left[:size], self.operand.T, out=self.rows[used:used + size])
        # torch's own clamp and square root, as cdist: its CPU square root is not the IEEE one
        # (it differs from numpy's in the last bit of ~0.6 % of float32 values)
        block.clamp_min_(1e-30).sqrt_()
        slot[chosen[:m]] = np.arange(used, used + m)
        return used + size


def lookahead_greedy(points: torch.Tensor, k: int, first: torch.Tensor,
                     cells: torch.Tensor | None, running: torch.Tensor, coordinates: int = 3,
                     counts: list | None = None) -> torch.Tensor:
    """Picks [P, k] in greedy order for ``points`` [P, n, C] (CPU, float32 or float64; the
    last ``coordinates`` channels are coordinates), as ``greedy_kcenter``; ``running`` [P, n]
    is the running minimum at its official start (default dtype), updated in place.

    Problems are shared among ``torch.get_num_threads()`` worker threads, each running its
    matrix products on one thread: a one-thread product of at least ``MIN_BLOCK`` rows has the
    full matrix's bits, which do not depend on the thread count (measured; multi-threaded
    short products split the sums differently). ``counts`` receives the rows computed."""
    P, n, C = points.shape
    points = points.contiguous()
    first = first.tolist()
    out = torch.empty(P, k, dtype=torch.long)

    def work(problems) -> int:
        solver = _Solver(points, k, cells, running, out, coordinates)
        for p in problems:
            solver.solve(p, first[p])
        return solver.rows_computed

    computed = share_problems(P, work)
    if counts is not None:
        counts.append(sum(computed))
    return out
