"""The bounded K-center strategy's parts: the restated library orders (norms, matrix-product
entries) against torch, the bounds that decide which entries are computed, the estimates'
tolerance, and the square-root window, each checked where it could go wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reproducers.kcenter import bounded, orders
from reproducers.kcenter.reference import reference_kcenter
from reproducers.kcenter.sampler import _augmented, greedy_kcenter


def _points(seed, n=256, channels=771, dtype=torch.float32, pixels=1.0, coords=4.0,
            spikes=0.0):
    """Patch-like points: per-row colour, noise, (t, h, w)-like coordinates; ``spikes``: the
    share of pixels 20 times brighter (outside the sampled pixel range: clamped in q)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, generator=g) - 0.5 + 0.2 * torch.randn(n, channels - 3, generator=g))
    x = torch.where(torch.rand(x.shape, generator=g) < spikes, 20 * x, x)
    c = torch.randint(0, 8, (n, 3), generator=g).float() * coords
    return torch.cat([x * pixels, c], -1).to(dtype)[None]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [771, 51, 30, 7])
def test_norms_have_torch_bits(dtype, channels):
    x = _points(channels, 300, channels, dtype)[0]
    out = np.empty(300, x.numpy().dtype)
    orders.torch_norms(x, out)
    assert np.array_equal(out, x.pow(2).sum(-1).numpy())
    if channels >= 32 // x.element_size():  # rows of at least one vector: restated
        assert orders.norm_lanes(channels, dtype) > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n,channels", [(784, 771), (256, 771), (100, 30)])
def test_entries_have_cdist_bits_where_the_order_checks(dtype, n, channels):
    """On fresh data (not the probe's), every off-diagonal entry in the restated order gives
    cdist's distance after torch's clamp and square root."""
    block = orders.gemm_block(n, channels, dtype)
    if not block:
        pytest.skip("this BLAS sums these products in another order: bounded is unavailable "
                    "for this size (test_bounded_needs_the_matrix_product_order_checked)")
    x = _points(5, n, channels, dtype)[0].contiguous()
    want = torch.cdist(x[None], x[None])[0]
    norms = x.pow(2).sum(-1).numpy()
    got = np.empty((40, n), norms.dtype)
    for c in range(40):
        orders._entries(x.numpy(), norms, c, np.arange(n), n, block, got[c])
    off = ~torch.eye(n, dtype=torch.bool)[:40]
    assert torch.equal(torch.from_numpy(got).clamp_min(1e-30).sqrt()[off], want[:40][off])


def test_small_matrices_use_another_order_and_the_check_sees_it():
    """MKL sums 771 channels of a 128-candidate matrix in another order than at 784 (measured
    on this machine): the check must tell them apart, not assume one order."""
    blocks = {n: orders.gemm_block(n, 771, torch.float32) for n in (128, 784)}
    if blocks[784] == 0:
        pytest.skip("this BLAS does not sum in the restated order at all")
    for n, block in blocks.items():
        x = _points(9, n, 771)[0].contiguous()
        want = torch.cdist(x[None], x[None])[0, 0, 1:]
        got = np.empty(n, np.float32)
        orders._entries(x.numpy(), x.pow(2).sum(-1).numpy(), 0, np.arange(n), n, 384, got)
        same = torch.equal(torch.from_numpy(got).clamp_min(1e-30).sqrt()[1:], want)
        assert same == (block == 384), n


def _solver(x, k=20):
    out = torch.empty(1, k, dtype=torch.long)
    solver = bounded._Solver(x, k, None, 5e4, torch.float32, out, 3)
    return solver, solver.load(0)


def _official_squares(x):
    left, right = _augmented(x[0])
    return torch.mm(left, right.T).clamp_min(1e-30).double().numpy()


@pytest.mark.parametrize("pixels,coords,spikes", [(1.0, 4.0, 0.0), (0.0, 1.0, 0.0),
                                                  (1e-3, 8.0, 0.0), (1.0, 0.0, 0.0),
                                                  (1.0, 4.0, 0.01)])
def test_bounds_never_skip_an_entry_that_could_lower(pixels, coords, spikes):
    """_needed may skip (c, j) only when the official entry is at least j's running minimum;
    thresholds are drawn around the true entries so the bound is tested where it is tight."""
    x = _points(3, 400, pixels=pixels, coords=coords, spikes=spikes)
    solver, _ = _solver(x)
    squares = _official_squares(x)
    g = np.random.default_rng(0)
    skipped = possible = 0
    for c in range(0, 400, 7):
        best = squares[(c + 1) % 400] * g.uniform(0.95, 1.05, 400)
        solver.reach[:] = np.sqrt(best + solver.slack) * (1 + 1e-9)
        bounded._needed(c, solver.gram.numpy()[solver.slot[c]], solver.scales, solver.offsets, solver.spread,
                        solver.pixels, solver.sketch, solver.coords, solver.residual,
                        solver.reach, solver.dot, solver.need)
        skip = ~solver.need
        assert (squares[c][skip] >= best[skip]).all(), c
        skipped += skip.sum()
        possible += (squares[c] >= best).sum()
    if pixels == 1.0 and not spikes:  # the bound has power: it skips most of what it could
        assert skipped > 0.7 * possible


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_estimates_lie_within_the_tolerance(dtype):
    x = _points(4, 300, dtype=dtype)
    solver, values = _solver(x)
    squares = _official_squares(x)
    for c in range(0, 300, 11):
        solver.js[:] = np.arange(300)
        bounded._estimates(values, solver.squares, c, solver.js, 300, solver.es)
        width = solver.tolerance * (solver.length[c] + solver.length) ** 2
        assert (np.abs(solver.es - squares[c]) <= width).all(), c
        assert (np.abs(solver.es - squares[c]) > 0).any() or dtype == torch.float64


def test_a_wide_window_sends_every_argmax_through_torch_and_keeps_the_picks(monkeypatch):
    """Near-collisions of square roots are decided by torch's own square root: widening the
    window sends nearly every step there, and the picks stay the official ones."""
    monkeypatch.setattr(bounded, "WINDOW", 0.5)
    x = _points(6, 300, dtype=torch.float64)
    first = torch.tensor([17])
    assert torch.equal(greedy_kcenter(x, 60, first, strategy="bounded"),
                       reference_kcenter(x, 60, first))


def test_counts_report_the_exact_entries():
    x = _points(8, 512)
    counts = []
    picks = bounded.bounded_greedy(x, 100, torch.tensor([5]), None, 5e4, torch.float32,
                                   counts=counts)
    assert torch.equal(picks, reference_kcenter(x, 100, torch.tensor([5])))
    assert 0 < counts[0] < 0.05 * 512 * 100  # a few per pick, not rows


@pytest.mark.parametrize("rows", [1, 5, 64])
def test_gram_rows_by_blocks_above_the_whole_matrix(monkeypatch, rows):
    """Above WHOLE_UP_TO candidates the Gram rows come in blocks (the pick's and the likely
    next picks'); any block size, even one row, gives the same picks."""
    monkeypatch.setattr(bounded, "WHOLE_UP_TO", 100)
    monkeypatch.setattr(bounded, "ROWS", rows)
    x = _points(10, 300)
    first = torch.tensor([123])
    out = torch.empty(1, 50, dtype=torch.long)
    solver = bounded._Solver(x, 50, None, 5e4, torch.float32, out, 3)
    solver.solve(0, 123)
    assert torch.equal(out, reference_kcenter(x, 50, first))
    blocks = solver.counts[2]  # the last pick needs no row
    assert 49 <= solver.used <= min(300, blocks * rows) and blocks >= 49 / rows
