"""K-center sampler vs the official-code golden file (shared/golden/kcenter_sampler.pt).

Every variant of the file (kami93/kcenter_video @ ef7a40a, float32) is replayed with the
settings and sizes read from its ``config``: indices, selection order, patches and the token
(t, s) indices must match exactly (golden README, "K-centered patch sampling", Tolerances).
"""

from __future__ import annotations

import pytest
import torch

from reproducers.kcenter.sampler import KCenterSampler
from reproducers.kcenter.tokens import coordinates, patch_grid, plan_tokens, select_tokens


@pytest.fixture(scope="module")
def golden(sampler_golden):
    return sampler_golden


def _variants():
    return ["vit_hybrid", "vit_no_hybrid", "timesformer", "motionformer_k400",
            "motionformer_ssv2", "vit_no_hybrid_weighted_coords"]


def _plan(config: dict, variant: dict):
    """The token plan of a variant, derived from its settings the way the model derives it."""
    T, grid, _ = config["grid"]
    kind = variant["model_kind"]
    kept = len(variant["kept_full_frames"])
    positions = grid * grid
    if kind == "vit":
        time_division = 1
    else:  # structured models: the sampler's segments plus the kept (whole) segments
        time_division = variant["time_division"] + kept
    return plan_tokens(kind, T, grid, variant["total_tokens"], kept, time_division,
                       variant["space_division"], timesformer_reads_motionformer_key=False) \
        if kept * positions <= variant["total_tokens"] else None


def test_grid_is_patchified_frames_plus_coordinates(golden):
    c, inputs = golden["config"], golden["inputs"]
    T, grid, _ = c["grid"]
    coords = coordinates(T, grid, c["patch_size"], c["pixel_std"])
    assert torch.equal(coords, inputs["coordinates"])
    assert torch.equal(patch_grid(inputs["frames"], c["patch_size"], c["pixel_std"]),
                       inputs["x"])


def test_every_variant_is_covered(golden):
    assert sorted(golden["config"]["variants"]) == sorted(_variants())


@pytest.mark.parametrize("strategy", ["auto", "lookahead", "incremental"])
@pytest.mark.parametrize("name", _variants())
def test_sampler_variant(golden, name, strategy):
    c = golden["config"]
    v = c["variants"][name]
    out = golden["outputs"][name]
    x = golden["inputs"]["x"].clone()
    sampler = KCenterSampler(time_division=v["time_division"],
                             space_division=v["space_division"],
                             sort_indices=v["sort_indices"], kcenter_ws=v["kcenter_ws"],
                             kcenter_wt=v["kcenter_wt"],
                             scale_in_place=v["input_modified_in_place"], strategy=strategy)
    plan = _plan(c, v)
    assert plan.kept_frames == tuple(v["kept_full_frames"])
    assert plan.sampler_frames == tuple(v["sampler_input_frames"])
    assert (plan.k, plan.time_division, plan.space_division, plan.sort_indices) == (
        v["k"], v["time_division"], v["space_division"], v["sort_indices"])
    tokens = select_tokens(x, plan, sampler, init=golden["inputs"]["init"][name])
    assert torch.equal(tokens.indices, out["indices"])
    assert torch.equal(tokens.selection_order, out["indices_selection_order"])
    assert torch.equal(tokens.patches[:, -v["k"]:], out["patches"])
    assert torch.equal(tokens.t_index, out["token_t_index"])
    assert torch.equal(tokens.s_index, out["token_s_index_plus_one"])
    modified = not torch.equal(x, golden["inputs"]["x"])
    assert modified == v["input_modified_in_place"]


@pytest.mark.parametrize("name", ["vit_no_hybrid", "timesformer", "motionformer_ssv2"])
def test_sampler_float64_same_picks(golden, name):
    v = golden["config"]["variants"][name]
    sampler = KCenterSampler(time_division=v["time_division"],
                             space_division=v["space_division"], sort_indices=v["sort_indices"])
    sel = sampler(golden["inputs"]["x"].double(), v["k"], init=golden["inputs"]["init"][name])
    assert torch.equal(sel.indices, golden["outputs"][name]["indices"])


@pytest.mark.parametrize("pool,block", [(4096, 48), (64, 16), (32, 40)])
@pytest.mark.parametrize("name", ["timesformer", "vit_no_hybrid"])
def test_lookahead_settings_never_change_the_picks(golden, monkeypatch, name, pool, block):
    """One Gram matrix of all candidates or predictions from a pool of the farthest, short or
    long products: the work changes, the picks do not."""
    from reproducers.kcenter import lookahead

    monkeypatch.setattr(lookahead, "WHOLE_UP_TO", pool)
    monkeypatch.setattr(lookahead, "POOL", pool)
    monkeypatch.setattr(lookahead, "BLOCK", block)
    v = golden["config"]["variants"][name]
    plan = _plan(golden["config"], v)
    sampler = KCenterSampler(time_division=v["time_division"],
                             space_division=v["space_division"],
                             sort_indices=v["sort_indices"], strategy="lookahead")
    tokens = select_tokens(golden["inputs"]["x"].clone(), plan, sampler,
                           init=golden["inputs"]["init"][name])
    assert torch.equal(tokens.indices, golden["outputs"][name]["indices"])
