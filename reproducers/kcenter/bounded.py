"""Greedy K-center on CPU: only the distance entries that can decide something are computed.

The official loop (kami93/kcenter_video @ ef7a40a, ``KCenterSampler.forward``) reads one row
of the full ``torch.cdist`` matrix per pick, ``running = min(running, row)``, then the first
argmax. An entry at or above the candidate's running minimum changes nothing (97 % of them on
the released segments after the first picks), and the picks depend on the values only
through those minima and the argmax. So, per pick c, in squared distances:

1. :func:`_needed`: a lower bound of every |x_c - x_j| from an int8 sketch y (pixels of each
   candidate ~ m_j + s_j q_j: q_j int8, m_j its mid-range, s_j = range / 254; coordinates
   exact; the Gram matrix q q^T exact in int32, ``torch._int_mm``, whole up to
   ``WHOLE_UP_TO`` candidates, else by blocks of ``ROWS`` rows: the pick's and those of
   highest running minimum, the likely next picks): |x_c - x_j| >= |y_c - y_j| - |r_c| -
   |r_j| (r = x - y). Entries whose bound cannot reach j's running minimum are skipped
   (about 20 of 784 per pick remain on the released segments, 40 of 5,684 for the ViT);
2. :func:`_estimates`: the remaining entries summed in any order (vectorised), which the
   official value cannot differ from by more than a rounding tolerance (see :func:`_greedy`):
   each running minimum is kept exact or as an interval, and an interval that certainly
   lies below replaces the old one;
3. where intervals cannot decide (an update that overlaps, or the argmax), the entries are
   computed with cdist's own bits: its norms and its matrix product's summation order
   (:mod:`.orders`, checked against the libraries once per process and size; where they do
   not match this strategy is unavailable and :mod:`.lookahead` serves). About 0.8
   (segments) to 1.7 (ViT) exact entries per pick;
4. the argmax in squared-distance space (torch's CPU square root is monotone: checked over
   every non-negative float32); where two candidates near the maximum could share the
   official square-rooted value, torch's own square root decides on those few values, so
   exact ties fall as released.

Each decision is the official one on the official values. Costs per problem: one pass over
the points, the Gram matrix (~0.7 ms for 784 candidates; ~1.9 rows per pick in blocks of 64
for the ViT), a bound per candidate and pick, a few estimates and exact entries per pick.
"""

from __future__ import annotations

import numpy as np
import torch

from . import orders
from .cpu import compiled, njit, share_problems

WHOLE_UP_TO = 1024  # candidates up to which the whole Gram matrix is built (above: by rows)
ROWS = 64  # Gram rows computed at a time above WHOLE_UP_TO: the pick's and likely next ones
SPAN_STRIDE = 4  # the pixel range is taken on every 4th pixel (q is clamped, r stays exact)
WINDOW = 2.0 ** -18  # relative squared-distance gap below which square roots may collide
# everything but approximate functions: sqrt stays exact (the bounds carry margins)
_FAST = {"nnan", "ninf", "nsz", "reassoc", "contract", "arcp"}


@compiled(False)
def _prepare(x, bits, pixels, sign, mask, pair, pair_float, rounded, scales, offsets, sums,
             residual, length, squares, qq):  # pragma: no cover
    """One pass over the rows: the pixel range, the int8 sketch. The range is taken on every
    ``SPAN_STRIDE``-th pixel (pixels outside it are clamped to q = +-127, and the residual
    is computed from the q actually kept, so the bounds hold), found on order-preserving
    integer keys of the floats' bit patterns (``bits``; an involution of them): integer
    reductions vectorise, float ones do not in numba. ``pair`` / ``pair_float``: two
    integers and their float view, to turn bits back into floats."""
    for i in range(x.shape[0]):
        keys = bits[i]
        hi = keys[0] ^ ((keys[0] >> sign) & mask)
        lo = hi
        for j in range(0, pixels, SPAN_STRIDE):
            key = keys[j] ^ ((keys[j] >> sign) & mask)
            hi = max(hi, key)
            lo = min(lo, key)
        pair[0] = hi ^ ((hi >> sign) & mask)
        pair[1] = lo ^ ((lo >> sign) & mask)
        _sketch(x[i], pixels, pair_float[0], pair_float[1], rounded[i], i, scales, offsets,
                sums, residual, length, squares, qq)


@compiled(_FAST)
def _sketch(row, pixels, hi, lo, q, i, scales, offsets, sums, residual, length, squares,
            qq):  # pragma: no cover
    """Row i: pixels ~ m + s q with m = (hi + lo) / 2, s = (hi - lo) / 254, q int8 in
    [-127, 127] and its sum; upper bounds of |x - y| over the pixels and of |x|; |x|^2 summed
    in any order (within K u |x|^2 of cdist's norm, see :func:`_greedy`)."""
    f = row.dtype.type
    mid = f(0.5) * (hi + lo)
    step = f((hi - lo) / 254.0)
    step = step if step > 0 else f(1.0)
    inverse = f(1.0) / step
    res = tot = total = f(0.0)  # total: the sum of q, an integer below 2^24, exact
    total2 = np.int32(0)
    for j in range(pixels):
        v = row[j]
        r = min(max(np.rint((v - mid) * inverse), f(-127.0)), f(127.0))
        q[j] = np.int8(r)
        total += r
        total2 += np.int32(r * r)
        e = v - (mid + r * step)
        res += e * e
        tot += v * v
    for j in range(pixels, row.shape[0]):
        tot += row[j] * row[j]
    scales[i] = step
    offsets[i] = mid
    sums[i] = total
    # the sums above run in the points' dtype in any order: 1e-3 covers their rounding; each
    # e is within 3 u (|v| + |mid| + |r s|) <= 3 u (|x| + 2 (|hi| + |lo|)) of x - y (float32:
    # u = 6e-8), the margin is five times that over the pixels
    residual[i] = (np.sqrt(np.float64(res)) * 1.001 + 1e-6 * np.sqrt(np.float64(pixels))
                   * (np.sqrt(np.float64(tot)) + 2.0 * (abs(hi) + abs(lo))) + 1e-30)
    length[i] = np.sqrt(np.float64(tot)) * 1.001
    squares[i] = tot
    qq[i] = total2  # |q|^2, the Gram matrix's diagonal


@compiled(_FAST)
def _needed(c, g, scales, offsets, spread, pixels, sketch, coords, residual, reach, dot,
            need):  # pragma: no cover
    """need[j]: whether the entry (c, j) may lower j's running minimum. With the sketch
    y = m + s q, y_c . y_j = s_c s_j G_cj + m_c u_j + m_j (u_c + pixels m_c) (u = s sum(q))
    + coordinates, a = |y_c - y_j|, r = |r_c| + |r_j|; the entry cannot lower it when
    a >= r + reach_j (see :func:`_greedy`), tested squared, with relative margins far above
    the float64 rounding. Flat loops over the candidates, which the compiler vectorises."""
    n = scales.shape[0]
    sc = scales[c]
    mc = offsets[c]
    uc = spread[c] + pixels * mc
    for j in range(n):
        dot[j] = sc * scales[j] * np.float64(g[j]) + mc * spread[j] + offsets[j] * uc
    for a in range(coords.shape[0]):
        t = coords[a, c]
        row = coords[a]
        for j in range(n):
            dot[j] += t * row[j]
    rc = residual[c]
    ac = sketch[c]
    for j in range(n):
        # |y_c - y_j|^2 less its float64 rounding (terms up to |y_c|^2 + |y_j|^2)
        square = (ac + sketch[j] - 2.0 * dot[j]) - 1e-12 * (ac + sketch[j])
        w = rc + residual[j] + reach[j]
        need[j] = (square < w * w * (1.0 + 1e-9)) & (reach[j] >= 0.0)


@compiled(False)
def _first_of(keys, key):  # pragma: no cover
    for j in range(keys.shape[0]):
        if keys[j] == key:
            return j
    return 0


@compiled(False)
def _top(keys):  # pragma: no cover
    """max of non-negative or infinite floats through their bit patterns as integers (same
    order; -inf's pattern is negative): an integer reduction, which vectorises."""
    top = keys[0]
    for j in range(keys.shape[0]):
        top = max(top, keys[j])
    return top


@compiled(_FAST)
def _estimates(x, squares, c, js, m, out):  # pragma: no cover
    """out[:m]: the squared-distance products of c and js[:m] summed in any order (within
    ``tolerance`` of the official value, see :func:`_greedy`), vectorised along the row."""
    C = x.shape[1]
    xc = x[c]
    for t in range(m):
        xj = x[js[t]]
        total = xc.dtype.type(0.0)
        for k in range(C):
            total += xc[k] * xj[k]
        out[t] = squares[c] + squares[js[t]] - 2.0 * np.float64(total)


@compiled(False)
def _exact(x, norms, normed, lanes, acc, c, j, block, floor, scratch, index,
           counts):  # pragma: no cover
    """The official squared entry (c, j), clamped at 1e-30 as cdist; cdist's norms of c and
    j computed on first use (most rows never need one). Counted in counts[1]."""
    counts[1] += 1
    for i in (c, j):
        if not normed[i]:
            norms[i] = orders.norm_of(x[i], lanes, acc)
            normed[i] = True
    index[0] = j
    orders._entries(x, norms, c, index, 1, block, scratch)
    return scratch[0] if scratch[0] > floor else floor


@compiled(False)
def _settle(x, norms, normed, lanes, acc, j, block, floor, lo, hi, value, exact, row, scratch,
            index, counts):  # pragma: no cover
    """Make j's running minimum exact (from the entry of the pick that set it)."""
    if not exact[j]:
        v = _exact(x, norms, normed, lanes, acc, row[j], j, block, floor, scratch, index,
                   counts)
        value[j] = v
        lo[j] = v
        hi[j] = v
        exact[j] = True


@compiled(False)
def _greedy(x, norms, normed, lanes, acc, squares, gram, slot, scales, offsets, spread,
            pixels, sketch, coords, residual, slack, length, tolerance, block, start, lo, keys,
            hi, value, exact, row, reach, cells, use_cells, picks, step, k, js, es, dot, need,
            window, window_out, counts, scratch, index, status):  # pragma: no cover
    """The official greedy from ``step`` on, in squared-distance space. Per candidate j the
    running minimum's square (clamped at 1e-30 as cdist; -inf once picked or excluded; +inf
    before any entry) is known exactly (``exact``, ``value``) or to lie in [lo, hi], set by
    the estimate of the entry of pick ``row[j]``. The estimate |x_c|^2 + |x_j|^2 - 2 x_c.x_j
    (each summed in any order, within K u of its terms' absolute sum, u the unit roundoff,
    K = C + 2) and the official value (cdist's norms, also within K u, and MKL's sum) differ
    by at most K u (4 |x_c||x_j| + 3 |x_c|^2 + 3 |x_j|^2) <= tolerance (|x_c| + |x_j|)^2,
    tolerance = 3.03 K u / (1 - K u).
    Exact entries are computed only where an interval cannot decide: an update, or the
    argmax. ``gram[slot[c]]``: row c of the Gram matrix. Returns the step reached and sets
    ``status[0]``: 0 all k picks made; 1 the argmax needs torch's square root
    (``window_out[0]`` candidates listed after it); 2 the Gram row of ``picks[step - 1]`` is
    missing.

    reach_j = sqrt(hi_j + slack_j) (-1 once gone), slack_j >= gamma (|x_c| + |x_j|)^2 for
    every c: the official entry E differs from |x_c - x_j|^2 by at most gamma (|x_c| +
    |x_j|)^2, and |x_c - x_j| >= a - r, so a >= r + reach_j gives E >= hi_j >= best_j."""
    n = x.shape[0]
    floor = x.dtype.type(1e-30)
    while step < k:
        c = picks[step - 1]
        if slot[c] < 0:
            status[0] = 2
            return step
        lo[c] = hi[c] = -np.inf  # the diagonal: official -1, below every distance
        value[c] = -np.inf
        exact[c] = True
        reach[c] = -1.0
        _needed(c, gram[slot[c]], scales, offsets, spread, pixels, sketch, coords, residual,
                reach, dot, need)
        m = 0
        for j in range(n):
            if need[j]:
                js[m] = j
                m += 1
        counts[0] += m
        _estimates(x, squares, c, js, m, es)
        for t in range(m):
            j = js[t]
            width = tolerance * (length[c] + length[j]) * (length[c] + length[j])
            low = max(es[t] - width, 1e-30)
            high = max(es[t] + width, 1e-30)
            if high < lo[j]:  # certainly lower: the entry's interval replaces j's
                lo[j] = low
                hi[j] = high
                exact[j] = False
                row[j] = c
            elif low < hi[j]:  # undecided: exact values decide
                _settle(x, norms, normed, lanes, acc, j, block, floor, lo, hi, value, exact,
                        row, scratch, index, counts)
                v = _exact(x, norms, normed, lanes, acc, c, j, block, floor, scratch, index,
                           counts)
                if v < value[j]:
                    value[j] = v
                    lo[j] = v
                    hi[j] = v
                    row[j] = c
            else:
                continue
            reach[j] = np.sqrt(hi[j] + slack[j]) * (1.0 + 1e-9)
        if use_cells:
            cell = cells[c]
            for j in range(n):
                if cells[j] == cell:
                    lo[j] = hi[j] = value[j] = -np.inf
                    exact[j] = True
                    reach[j] = -1.0
        first = _first_of(keys, _top(keys))
        top = lo[first]
        if top == -np.inf:  # every candidate gone: argmax of all -1 is the first
            picks[step] = 0
            step += 1
            continue
        edge = top * (1.0 - window)
        if _count_from(hi, edge) == 1 and top < start * start * (1.0 - window):
            picks[step] = first  # alone above every other interval
            step += 1
            continue
        # contenders: intervals reaching the window of the highest lower end, made exact
        count = 0
        for j in range(n):
            if hi[j] >= edge:
                _settle(x, norms, normed, lanes, acc, j, block, floor, lo, hi, value, exact,
                        row, scratch, index, counts)
                count += 1
                window_out[count] = j
        best = -np.inf
        for t in range(1, count + 1):
            best = max(best, value[window_out[t]])
        near = best * (1.0 - window)
        kept = 0
        mixed = False
        for t in range(1, count + 1):
            j = window_out[t]
            if value[j] >= near:
                kept += 1
                window_out[kept] = j
                mixed = mixed or value[j] != best
        if mixed or best >= start * start * (1.0 - window):  # the start value may tie
            window_out[0] = kept
            status[0] = 1
            return step
        picks[step] = window_out[1]  # equal squares: equal distances, the first index
        step += 1
    status[0] = 0
    return k


@compiled(False)
def _count_from(values, edge):  # pragma: no cover
    count = 0
    for j in range(values.shape[0]):
        count += values[j] >= edge
    return count


@compiled(False)
def _start(x, pixels, qq, scales, offsets, sums, length, gamma, coords, spread, sketch,
           slack, lo, hi, value, exact, reach):  # pragma: no cover
    """Per problem: the coordinates by axis, u = s sum(q), |y|^2, the slack (see
    :func:`_greedy`), the running minimum (+inf) and its reach."""
    n, C = x.shape
    widest = 0.0
    for j in range(n):
        widest = max(widest, length[j])
    for j in range(n):
        square = scales[j] * scales[j] * qq[j] + pixels * offsets[j] * (
            offsets[j] + 2.0 * scales[j] * sums[j] / pixels)
        for a in range(C - pixels):
            coords[a, j] = x[j, pixels + a]
            square += coords[a, j] * coords[a, j]
        sketch[j] = square
        spread[j] = scales[j] * sums[j]
        slack[j] = gamma * (widest + length[j]) * (widest + length[j])
        lo[j] = hi[j] = value[j] = np.inf
        exact[j] = True
        reach[j] = np.inf


@compiled(False)
def _likely(lo, slot, c, size, out):  # pragma: no cover
    """c, then up to ``size - 1`` of the candidates still in play without a Gram row, those
    of highest running minimum first (the next picks come from the top); returns the count."""
    n = lo.shape[0]
    out[0] = c
    free = 0
    for j in range(n):
        if slot[j] < 0 and lo[j] > -np.inf and j != c:
            free += 1
    count = 1
    extra = size - 1
    if free == 0 or extra <= 0:
        return count
    values = np.empty(free)
    t = 0
    for j in range(n):
        if slot[j] < 0 and lo[j] > -np.inf and j != c:
            values[t] = lo[j]
            t += 1
    edge = -np.inf if free <= extra else np.partition(values, free - extra)[free - extra]
    for j in range(n):
        if count >= size:
            break
        if slot[j] < 0 and lo[j] > -np.inf and j != c and lo[j] >= edge:
            out[count] = j
            count += 1
    return count


def available(candidates: int, channels: int, dtype: torch.dtype) -> bool:
    """Whether this strategy serves problems of this size (numba, and MKL's summation order
    checked on this machine for this size)."""
    return (njit is not None and channels > 3
            and orders.gemm_block(candidates, channels, dtype) > 0)


class _Solver:
    """One worker's buffers (reused across problems) and the per-problem driver."""

    def __init__(self, points, k, cells, start, running_dtype, out, coordinates):
        P, n, C = points.shape
        self.points, self.k, self.out = points, k, out
        self.start, self.running_dtype = start, running_dtype
        self.pixels = pixels = C - coordinates
        self.block = orders.gemm_block(n, C, points.dtype)
        self.use_cells = cells is not None
        self.cells = (cells if self.use_cells else torch.zeros(n, dtype=torch.long)).numpy()
        dtype = points.numpy().dtype
        self.int_view = np.int32 if dtype.itemsize == 4 else np.int64
        self.sign = self.int_view(8 * dtype.itemsize - 1)
        self.mask = np.iinfo(self.int_view).max
        self.pair = np.empty(2, self.int_view)
        self.lanes = orders.norm_lanes(C, points.dtype)
        self.acc = np.empty(16 * max(self.lanes, 1), dtype)
        self.rounded = torch.empty(n, pixels, dtype=torch.int8)
        self.whole = n <= WHOLE_UP_TO
        # the whole Gram matrix, or room for every row (only the rows computed are touched,
        # so only those take memory)
        self.gram = torch.empty(n, n, dtype=torch.int32)
        self.slot = np.arange(n, dtype=np.int64) if self.whole else np.empty(n, np.int64)
        self.qq = np.empty(n)
        self.chosen = np.empty(ROWS, np.int64)
        self.status = np.zeros(1, np.int64)
        self.scales, self.offsets, self.sums = (np.empty(n) for _ in range(3))
        self.residual, self.length, self.spread, self.sketch, self.dot, self.reach, \
            self.slack = (np.empty(n) for _ in range(7))
        self.need = np.empty(n, np.bool_)
        self.coords = np.empty((coordinates, n))
        self.norms, self.es, self.squares = np.empty(n, dtype), np.empty(n), np.empty(n)
        self.normed = np.empty(n, np.bool_)
        self.value = np.empty(n, dtype)
        self.lo, self.hi = np.empty(n), np.empty(n)
        self.exact, self.row = np.empty(n, np.bool_), np.empty(n, np.int64)
        self.scratch, self.index = np.empty(1, dtype), np.empty(1, np.int64)
        # the arrays numba sees, made once (per-call views cost the workers the GIL)
        self.gram_array, self.rounded_array = self.gram.numpy(), self.rounded.numpy()
        self.keys, self.pair_float = self.lo.view(np.int64), self.pair.view(dtype)
        terms = C + 2
        unit = float(np.finfo(dtype).eps) / 2
        self.tolerance = 3.03 * terms * unit / (1 - terms * unit)
        self.js, self.window = np.empty(n, np.int64), np.empty(n + 1, np.int64)
        self.gamma = 2.01 * (2 * C + 2) * float(np.finfo(dtype).eps) / 2
        # entries estimated, entries computed exactly, Gram row blocks computed
        self.counts = np.zeros(3, np.int64)

    def load(self, p: int) -> np.ndarray:
        """Problem p's norms, int8 sketch, Gram matrix, bounds' terms and starting state;
        returns its points as an array."""
        x = self.points[p]
        values = x.numpy()
        if self.lanes:  # cdist's norms in torch's order, on first use
            self.normed.fill(False)
        else:  # torch's own norms where its order is not restated
            self.norms[:] = x.pow(2).sum(-1).numpy()
            self.normed.fill(True)
        _prepare(values, values.view(self.int_view), self.pixels, self.sign, self.mask,
                 self.pair, self.pair_float, self.rounded_array, self.scales,
                 self.offsets, self.sums, self.residual, self.length, self.squares, self.qq)
        if self.whole:
            torch._int_mm(self.rounded, self.rounded.T, out=self.gram)
        else:
            self.slot.fill(-1)
            self.used = 0
        _start(values, self.pixels, self.qq, self.scales, self.offsets, self.sums,
               self.length, self.gamma, self.coords, self.spread, self.sketch, self.slack,
               self.lo, self.hi, self.value, self.exact, self.reach)
        return values

    def solve(self, p: int, first: int) -> None:
        values = self.load(p)
        picks = self.out[p].numpy()
        picks[0] = first
        step = 1
        while True:
            step = _greedy(values, self.norms, self.normed, self.lanes, self.acc, self.squares,
                           self.gram_array, self.slot, self.scales, self.offsets,
                           self.spread, self.pixels, self.sketch, self.coords, self.residual,
                           self.slack, self.length, self.tolerance, self.block, self.start,
                           self.lo, self.keys, self.hi, self.value, self.exact,
                           self.row, self.reach, self.cells, self.use_cells, picks, step,
                           self.k, self.js, self.es, self.dot, self.need, WINDOW,
                           self.window, self.counts, self.scratch, self.index, self.status)
            if self.status[0] == 0:
                break
            if self.status[0] == 2:
                self._rows(int(picks[step - 1]))
                continue
            near = self.window[1:self.window[0] + 1]
            official = torch.from_numpy(self.value[near]).clamp_min(1e-30).sqrt() \
                .to(self.running_dtype).clamp_max(self.start)
            picks[step] = near[int(official.argmax())]  # torch's first maximum
            step += 1

    def _rows(self, c: int) -> None:
        """Gram rows of c and of the likely next picks (``ROWS`` at a time: one product
        repacks the whole sketch, so rows come in blocks)."""
        count = _likely(self.lo, self.slot, c, ROWS, self.chosen)
        index = torch.from_numpy(self.chosen[:count])
        torch._int_mm(self.rounded.index_select(0, index), self.rounded.T,
                      out=self.gram[self.used:self.used + count])
        self.slot[self.chosen[:count]] = np.arange(self.used, self.used + count)
        self.used += count
        self.counts[2] += 1


def bounded_greedy(points: torch.Tensor, k: int, first: torch.Tensor,
                   cells: torch.Tensor | None, start: float, running_dtype: torch.dtype,
                   coordinates: int = 3, counts: list | None = None) -> torch.Tensor:
    """Picks [P, k] in greedy order for ``points`` [P, n, C] on the CPU (float32/float64; the
    last ``coordinates`` channels are coordinates), as ``greedy_kcenter``; the running minimum
    starts at ``start`` in ``running_dtype`` (official: 5e4, the default dtype). Problems are
    shared among ``torch.get_num_threads()`` worker threads. ``counts`` receives the number
    of entries computed exactly."""
    P, n, C = points.shape
    points = points.contiguous()
    first = first.tolist()
    out = torch.empty(P, k, dtype=torch.long)

    def work(problems) -> int:
        solver = _Solver(points, k, cells, start, running_dtype, out, coordinates)
        for p in problems:
            solver.solve(p, first[p])
        return int(solver.counts[1])

    computed = share_problems(P, work)
    if counts is not None:
        counts.append(sum(computed))
    return out
