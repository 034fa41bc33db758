"""The K-center sampler against the plain re-statement of the official algorithm on random
inputs (float64, so no rounding near-tie can split them), its strategies, seeds and errors."""

from __future__ import annotations

import pytest
import torch

from reproducers.kcenter.reference import reference_kcenter, reference_sampler
from reproducers.kcenter.sampler import (
    KCenterSampler,
    greedy_kcenter,
    sampler_macs,
    spatial_cells,
)


def _grid(seed: int, batch=2, frames=8, side=4, channels=771):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, side, side, channels, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("strategy,block", [("blocks", 1), ("blocks", 5), ("blocks", 32),
                                            ("incremental", 32), ("bounds", 32),
                                            ("predict", 32)])
def test_greedy_equals_official_restatement(seed, strategy, block):
    g = torch.Generator().manual_seed(100 + seed)
    points = torch.randn(3, 120, 30, generator=g, dtype=torch.float64)
    first = torch.randint(0, 120, (3,), generator=g)
    expected = reference_kcenter(points, 40, first)
    got = greedy_kcenter(points, 40, first, block=block, positions=15, strategy=strategy)
    assert torch.equal(got, expected)
    cells = spatial_cells(4, 5, 5, 5)  # 25 one-patch cells x 4 frames
    points, first = points[:, :100], first % 100
    expected = reference_kcenter(points, 25, first, cells)
    got = greedy_kcenter(points, 25, first, cells, block=block, positions=25,
                         strategy=strategy)
    assert torch.equal(got, expected)
    assert all(len(set(cells[row].tolist())) == 25 for row in got)  # one pick per cell


@pytest.mark.parametrize("strategy", ["auto", "bounds", "predict"])
@pytest.mark.parametrize("S,D,sort", [(1, 1, False), (2, 1, False), (2, 4, True), (4, 4, True)])
def test_sampler_equals_official_restatement(S, D, sort, strategy):
    x = _grid(S * 10 + D)
    k = S * (D * D if D > 1 else 12)
    init = torch.arange(2 * S) * 37
    ours = KCenterSampler(time_division=S, space_division=D, sort_indices=sort,
                          strategy=strategy)(x, k, init)
    patches, indices = reference_sampler(x, k, S, D, sort, init)
    assert torch.equal(ours.indices, indices) and torch.equal(ours.patches, patches)


@pytest.mark.parametrize("pixels,coords", [(0.0, 1.0), (1e-3, 4.0), (1.0, 0.0)])
def test_bounds_strategy_with_flat_pixels_or_far_coordinates(pixels, coords):
    """The integer bounds stay sound when the pixel scale falls back (all zero), when the
    coordinates need many pixel steps (repeated channels) and when coordinates are zero."""
    g = torch.Generator().manual_seed(7)
    points = torch.randn(4, 90, 40, generator=g, dtype=torch.float64)
    points[..., :-3] *= pixels
    points[..., -3:] = torch.randn(4, 90, 3, generator=g, dtype=torch.float64) * coords
    first = torch.tensor([0, 5, 17, 89])
    expected = reference_kcenter(points, 30, first)
    assert torch.equal(greedy_kcenter(points, 30, first, strategy="bounds"), expected)


def test_predict_strategy_survives_wrong_predictions(monkeypatch):
    """A wrong prediction of the picks costs rows computed later, never a different pick."""
    import reproducers.kcenter.predicted as predicted

    def consecutive(gram, k, first, cells):  # a poor guess: the k candidates after the first
        return (first[:, None] + torch.arange(k)) % gram.shape[1]

    monkeypatch.setattr(predicted, "_rounded_order", consecutive)
    g = torch.Generator().manual_seed(11)
    points = torch.randn(3, 100, 30, generator=g, dtype=torch.float64)
    first = torch.randint(0, 100, (3,), generator=g)
    assert torch.equal(greedy_kcenter(points, 70, first, strategy="predict"),
                       reference_kcenter(points, 70, first))
    cells = spatial_cells(4, 5, 5, 5)
    assert torch.equal(greedy_kcenter(points, 25, first, cells, strategy="predict"),
                       reference_kcenter(points, 25, first, cells))


def test_random_first_pick_is_seeded_by_generator_and_global_rng():
    x = _grid(0)
    sampler = KCenterSampler(time_division=2)
    a = sampler(x, 8, generator=torch.Generator().manual_seed(5)).indices
    b = sampler(x, 8, generator=torch.Generator().manual_seed(5)).indices
    assert torch.equal(a, b)
    firsts = {tuple(sampler(x, 8, generator=torch.Generator().manual_seed(s))
                    .selection_order[:, 0].tolist()) for s in range(6)}
    assert len(firsts) > 1  # random per seed, as released
    torch.manual_seed(3)
    c = sampler(x, 8).indices
    torch.manual_seed(3)
    assert torch.equal(sampler(x, 8).indices, c)


def test_coordinate_weights_copy_or_in_place():
    x = _grid(1)
    kept = x.clone()
    KCenterSampler(kcenter_ws=2.0, kcenter_wt=0.5)(x, 10, torch.tensor([0, 1]))
    assert torch.equal(x, kept)
    KCenterSampler(kcenter_ws=2.0, kcenter_wt=0.5, scale_in_place=True)(x, 10,
                                                                        torch.tensor([0, 1]))
    assert torch.equal(x[..., -3:], kept[..., -3:] * torch.tensor([0.5, 2.0, 2.0],
                                                                   dtype=x.dtype))


def test_bad_settings_raise():
    x = _grid(2)
    with pytest.raises(ValueError, match="one patch per cell"):
        KCenterSampler(time_division=2, space_division=4)(x, 10)
    with pytest.raises(ValueError, match="init needs 4"):
        KCenterSampler(time_division=2)(x, 8, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="k-center needs"):
        greedy_kcenter(x.reshape(2, -1, 771), 200, torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="strategy"):
        greedy_kcenter(x.reshape(2, -1, 771), 2, torch.tensor([0, 0]), strategy="x")


def test_macs_of_the_released_vit_and_segmented_models():
    assert sampler_macs(5684, 980) == 5684 * 5684 * 773  # ~25.0 G, the official full matrix
    assert round(sampler_macs(5684, 980) / 1e9, 1) == 25.0
    assert sampler_macs(6272, 1568, segments=8) == 8 * 784 * 784 * 773
    assert sampler_macs(5684, 980, rows=980) == 980 * 5684 * 773


def test_flop_count_adds_the_official_distance_matrix():
    from reproducers.harness.flops import count_flops
    from reproducers.kcenter.models import build_kcenter_model

    model = build_kcenter_model("vit", 5, num_frames=8, crop_size=64, embed_dim=32, depth=2,
                                num_heads=2, total_tokens=80, kept_frames=3)
    report = count_flops(model, torch.randn(1, 8, 4, 4, 771))
    assert report.agrees
    assert report.by_operator["kcenter.greedy"] * 1e9 == pytest.approx(sampler_macs(80, 32))


def _tie_heavy(seed: int, frames=32, side=4, channels=771):
    """Flat patches with a few standing out, as in the smoke data (and letterboxed videos):
    many candidates lie at exactly the same distance, so ties decide picks."""
    g = torch.Generator().manual_seed(seed)
    n = frames * side * side
    pixels = 0.3 + torch.randint(0, 4, (2, n, channels - 3), generator=g).float() / 255
    pixels[torch.rand(2, n, generator=g) < 0.05] += 1.5
    coords = torch.stack(torch.meshgrid(torch.arange(frames), torch.arange(side),
                                        torch.arange(side), indexing="ij"), -1)
    points = torch.cat([pixels, coords.reshape(n, 3).float().expand(2, n, 3)], -1)
    return points, torch.randint(0, n, (2,), generator=g), side * side


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("strategy", [
    "predict",
    # known debt: their rows are the cdist formula on fewer rows, so float32 rounding can
    # differ from the official full matrix, and exact ties then fall to another candidate
    pytest.param("blocks", marks=pytest.mark.xfail(strict=True, reason="ties: see comment")),
    pytest.param("incremental", marks=pytest.mark.xfail(strict=True,
                                                        reason="ties: see comment")),
])
def test_ties_fall_as_in_the_official_full_matrix_on_one_thread(strategy, one_thread):
    """On one thread (how the smoke runs train) "predict" breaks exact ties as the official
    full matrix does. Known debt: with more threads its smaller products are blocked
    differently by the BLAS and ties may fall elsewhere (seen with 2 threads), while the
    official full matrix gives the same picks on 1 and 2 threads; no strategy is tie-exact in
    general. Picks without exact ties are identical everywhere (tests above, golden file)."""
    for seed in range(5):
        points, first, positions = _tie_heavy(seed)
        expected = reference_kcenter(points, 128, first)
        got = greedy_kcenter(points, 128, first, None, strategy=strategy, positions=positions)
        assert torch.equal(got, expected), seed
