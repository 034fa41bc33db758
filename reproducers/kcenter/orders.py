"""The summation orders behind ``torch.cdist``'s bits on the CPU, restated for single entries.

The official sampler reads ``torch.cdist(x, x)``: row norms ``x.pow(2).sum(-1)`` (torch's CPU
inner sum) and one matrix product ``[-2x, |x|^2, 1] @ [x, 1, |x|^2]^T`` (MKL's GEMM). To give
the official bits without the matrix, :mod:`.bounded` computes only the entries it needs, in
those libraries' orders:

- :func:`_norms`: torch's ``vectorized_inner_sum`` / ``row_sum`` / ``multi_row_sum``
  (ATen/native/cpu/SumKernel.cpp): vectors of ``lanes`` values into 4 interleaved
  accumulators with up to 4 cascade levels, the leftover vectors into the first, the four
  added in order; then 0 + the scalar tail + each lane in order; the squares rounded first
  (no fused multiply-add), as ``x.pow(2)`` is a tensor of its own;
- :func:`_entries`: a GEMM entry as MKL's kernels sum it: a fused multiply-add chain per block
  of ``block`` terms along K (block 384 for float32 on AVX-512), the block sums added in order.

These are facts about the libraries in use, not guarantees, so each order is checked against
the library once per process and shape (:func:`norm_lanes`, :func:`gemm_block`) on random
data; where it does not match, callers use the library itself (:mod:`.lookahead`).
"""

from __future__ import annotations

import numpy as np
import torch

from .cpu import compiled, njit


def _norm_row(row, lanes, acc):  # pragma: no cover
    """``torch.sum(row * row)`` bit for bit (torch's order, see the module); ``acc`` scratch
    of at least 16 * lanes values. Inlined where called with a constant lane count, so the
    compiler sees constant loop lengths and vectorises them."""
    C = row.shape[0]
    width = 4 * lanes  # the 4 interleaved vector accumulators, side by side
    vectors = C // lanes
    size = vectors // 4
    power = 0
    while (1 << power) < size:
        power += 1
    power = max(4, power // 4)
    step = 1 << power
    mask = step - 1
    for t in range(4 * width):
        acc[t] = 0
    v = 0
    while v + step <= size:
        for _ in range(step):
            base = v * width
            for t in range(width):
                acc[t] += row[base + t] * row[base + t]
            v += 1
        for level in range(1, 4):
            for t in range(width):
                acc[level * width + t] += acc[(level - 1) * width + t]
                acc[(level - 1) * width + t] = 0
            if (v & (mask << (level * power))) != 0:
                break
    while v < size:
        base = v * width
        for t in range(width):
            acc[t] += row[base + t] * row[base + t]
        v += 1
    for level in range(1, 4):
        for t in range(width):
            acc[t] += acc[level * width + t]
    for w in range(size * 4, vectors):
        for lane in range(lanes):
            acc[lane] += row[w * lanes + lane] * row[w * lanes + lane]
    for a in range(1, 4):
        for lane in range(lanes):
            acc[lane] += acc[a * lanes + lane]
    total = row.dtype.type(0.0)
    for j in range(vectors * lanes, C):
        total += row[j] * row[j]
    for lane in range(lanes):
        total += acc[lane]
    return total


if njit is not None:  # numba-level inlining: the constant lane counts below reach LLVM
    _norm_row = njit(inline="always", error_model="numpy")(_norm_row)


@compiled(False)
def norm_of(row, lanes, acc):  # pragma: no cover
    """:func:`_norm_row` with the lane count as a compile-time constant (4, 8 or 16)."""
    if lanes == 8:
        return _norm_row(row, 8, acc)
    if lanes == 4:
        return _norm_row(row, 4, acc)
    if lanes == 16:
        return _norm_row(row, 16, acc)
    return _norm_row(row, lanes, acc)


@compiled(False)
def _norms(x, lanes, out, acc):  # pragma: no cover
    for i in range(x.shape[0]):
        out[i] = norm_of(x[i], lanes, acc)


@compiled({"contract"})
def _entries(x, norms, c, js, m, block, out):  # pragma: no cover
    """``out[:m]``: the squared-distance products of candidate ``c`` with candidates
    ``js[:m]``, ``[-2x_c, N_c, 1] . [x_j, 1, N_j]`` (``N``: the norms), summed as MKL does
    (fused multiply-add chains over blocks of ``block`` terms, the block sums added in order).
    Eight entries at a time: independent chains keep the core's FMA units busy."""
    C = x.shape[1]
    K = C + 2
    zero = x.dtype.type(0.0)
    two = x.dtype.type(-2.0)
    xc = x[c]
    nc = norms[c]
    g = 0
    while g < m:
        last = min(m, g + 8) - 1
        j0 = js[g]
        j1 = js[min(g + 1, last)]
        j2 = js[min(g + 2, last)]
        j3 = js[min(g + 3, last)]
        j4 = js[min(g + 4, last)]
        j5 = js[min(g + 5, last)]
        j6 = js[min(g + 6, last)]
        j7 = js[min(g + 7, last)]
        x0, x1, x2, x3 = x[j0], x[j1], x[j2], x[j3]
        x4, x5, x6, x7 = x[j4], x[j5], x[j6], x[j7]
        r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = zero
        lo = 0
        while lo < K:
            hi = min(lo + block, K)
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
            for k in range(lo, min(hi, C)):
                a = two * xc[k]
                a0 = a * x0[k] + a0
                a1 = a * x1[k] + a1
                a2 = a * x2[k] + a2
                a3 = a * x3[k] + a3
                a4 = a * x4[k] + a4
                a5 = a * x5[k] + a5
                a6 = a * x6[k] + a6
                a7 = a * x7[k] + a7
            if lo <= C < hi:  # N_c * 1
                a0 += nc
                a1 += nc
                a2 += nc
                a3 += nc
                a4 += nc
                a5 += nc
                a6 += nc
                a7 += nc
            if lo <= C + 1 < hi:  # 1 * N_j
                a0 += norms[j0]
                a1 += norms[j1]
                a2 += norms[j2]
                a3 += norms[j3]
                a4 += norms[j4]
                a5 += norms[j5]
                a6 += norms[j6]
                a7 += norms[j7]
            r0 += a0
            r1 += a1
            r2 += a2
            r3 += a3
            r4 += a4
            r5 += a5
            r6 += a6
            r7 += a7
            lo = hi
        out[g] = r0
        results = (r1, r2, r3, r4, r5, r6, r7)
        for t in range(min(7, m - g - 1)):
            out[g + 1 + t] = results[t]
        g += 8


_LANES: dict = {}
_BLOCKS: dict = {}
BLOCKS = (384, 256, 512, 192, 128, 320, 448, 640, 768, 1024)  # tried in this order


def _probe(shape, dtype, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64)
            * torch.rand(*shape[:-1], 1, generator=g, dtype=torch.float64) * 4).to(dtype)


def norm_lanes(channels: int, dtype: torch.dtype) -> int:
    """The vector width (values) with which :func:`_norms` equals ``x.pow(2).sum(-1)`` bit
    for bit on a random probe of this row length and dtype; 0 when none does."""
    key = (channels, dtype)
    if key not in _LANES:
        _LANES[key] = 0
        if njit is not None and dtype in (torch.float32, torch.float64):
            probe = _probe((256, channels), dtype)
            want = probe.pow(2).sum(-1).numpy()
            rows = probe.numpy()
            got = np.empty_like(want)
            size = probe.element_size()
            for lanes in (32 // size, 64 // size, 16 // size):
                _norms(rows, lanes, got, np.empty(16 * lanes, rows.dtype))
                if np.array_equal(got, want):
                    _LANES[key] = lanes
                    break
    return _LANES[key]


def torch_norms(x: torch.Tensor, out: np.ndarray) -> None:
    """``x.pow(2).sum(-1)`` into ``out`` with cdist's bits: the restated order when it checks
    out, else torch itself."""
    lanes = norm_lanes(x.shape[-1], x.dtype)
    if lanes:
        _norms(x.numpy(), lanes, out, np.empty(16 * lanes, out.dtype))
    else:
        out[:] = x.pow(2).sum(-1).numpy()


def gemm_block(candidates: int, channels: int, dtype: torch.dtype) -> int:
    """The block length with which :func:`_entries` gives ``torch.cdist``'s values (after its
    clamp and square root) for every off-diagonal entry of a random probe of this size; 0 when
    none does. Checked once per (candidates, channels, dtype) and process; the probe is one
    cdist of that size (10 ms for 784 candidates, 0.9 s for the ViT's 5,684).

    The order depends on the size: MKL sums 771 channels of 128 or fewer candidates in
    another order than of 200 or more (measured), which this check tells apart."""
    key = (candidates, channels, dtype)
    if key not in _BLOCKS:
        _BLOCKS[key] = 0
        if njit is not None and dtype in (torch.float32, torch.float64):
            probe = _probe((1, candidates, channels), dtype, seed=1)
            want = torch.cdist(probe, probe)[0]
            x = probe[0].contiguous()
            norms = x.pow(2).sum(-1).numpy()
            rows = min(candidates, 24)
            js = np.arange(candidates, dtype=np.int64)
            got = np.empty((rows, candidates), norms.dtype)
            off = ~torch.eye(candidates, dtype=torch.bool)[:rows]
            for block in BLOCKS + (channels + 2,):
                for c in range(rows):
                    _entries(x.numpy(), norms, c, js, candidates, block, got[c])
                dist = torch.from_numpy(got).clamp_min(1e-30).sqrt()
                if torch.equal(dist[off], want[:rows][off]):
                    _BLOCKS[key] = block
                    break
    return _BLOCKS[key]
