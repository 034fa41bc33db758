"""K-center data: the synthetic short-event sets in the official layouts, the loaders (split
rules, frame indices, views, transforms) and the twelve declarations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.kcenter import REPRODUCTIONS
from reproducers.kcenter.data import KineticsIndices, build_video
from reproducers.kcenter.synthetic import event_clip, synthesize

SMALL = {"n_per_class": 2, "n_val_per_class": 1, "classes": 2, "size": 64}
LOADER = {"crop_size": 64, "jitter_scales": (64, 80)}
PROTOCOL = REPRODUCTIONS[0].protocol  # 1 clip x 3 crops, as every K-center reproduction


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("kcenter_data")
    synthesize(base / "ssv2", {**SMALL, "dataset": "ssv2"}, seed=0)
    synthesize(base / "k400", {**SMALL, "dataset": "kinetics"}, seed=0)
    return {"ssv2": base / "ssv2", "kinetics": base / "k400"}


def test_event_is_short_and_stands_out():
    clip = event_clip(2, np.random.default_rng(0), frames=48, size=64, event_frames=3)
    blue = (clip[..., 2].astype(int) - clip[..., :2].max(-1)) > 150
    frames_with_event = np.flatnonzero(blue.any((1, 2)))
    assert len(frames_with_event) == 3 and np.ptp(frames_with_event) == 2
    assert blue[frames_with_event[0]].sum() == 24 * 24  # covers at least one whole patch


@pytest.mark.parametrize("dataset", ["ssv2", "kinetics"])
def test_layouts_load_with_official_split_rules(roots, dataset):
    cfg = {**LOADER, "dataset": dataset}
    train = build_video(roots[dataset], "train", cfg, train=True)
    val = build_video(roots[dataset], "val", cfg, protocol=PROTOCOL)
    test = build_video(roots[dataset], "test", cfg, protocol=PROTOCOL)  # val and test read the same file
    assert len(train.samples) == 4 and val.ids == test.ids and len(val.samples) == 2
    item = train[0]
    assert item["frames"].shape == (3, 32, 64, 64) and item["frames"].dtype == torch.uint8
    assert len(val) == 2 * 3  # 1 temporal x 3 spatial views
    assert {val[i]["view_index"] for i in range(3)} == {0, 1, 2}


@pytest.mark.parametrize("dataset", ["ssv2", "kinetics"])
def test_uint8_shipping_matches_the_float_pipeline_within_rounding(roots, dataset):
    from reproducers.kcenter.tokens import normalise_uint8
    cfg = {**LOADER, "dataset": dataset}
    shipped = build_video(roots[dataset], "val", cfg, protocol=PROTOCOL)
    floats = build_video(roots[dataset], "val", {**cfg, "ship": "float32"},
                         protocol=PROTOCOL)
    for view in range(3):
        a, b = shipped[view]["frames"], floats[view]["frames"]
        assert b.dtype == torch.float32 and b.min() >= -1.0001 and b.max() <= 1.0001
        assert (normalise_uint8(a) - b).abs().max() <= 1 / 255 + 1e-6  # 0.5/255 before /0.5
    assert a.numel() * a.element_size() * 4 == b.numel() * b.element_size()
    with pytest.raises(UserError, match="ship"):
        build_video(roots[dataset], "val", {**cfg, "ship": "float16"}, protocol=PROTOCOL)


def test_kinetics_test_clip_starts_at_zero_as_released_or_centred():
    info = {"num_frames": 300, "fps": 30.0}
    released = KineticsIndices()(info, train=False, rng=None, clip_idx=0, num_clips=1)
    centred = KineticsIndices("centre")(info, train=False, rng=None, clip_idx=0, num_clips=1)
    assert released[0] == 0 and len(released) == 32 and released[-1] == 255
    assert centred[0] == 22  # floor((300 - 256) / 2)
    with pytest.raises(UserError, match="kinetics_test_start"):
        KineticsIndices("middle")


def test_unknown_dataset_is_a_user_error(roots):
    with pytest.raises(UserError, match="unknown K-center dataset"):
        build_video(roots["ssv2"], "train", {"dataset": "ssv1"}, protocol=PROTOCOL)


def test_model_builds_the_patch_grid_from_loader_frames(roots):
    rep = next(r for r in REPRODUCTIONS if r.name == "kcenter_vit_ssv2")
    model = rep.model.factory(**{**rep.model.smoke, "num_classes": 2}).eval()
    frames = build_video(roots["ssv2"], "val", {**LOADER, "dataset": "ssv2"},
                         protocol=PROTOCOL)[0]["frames"]
    from reproducers.kcenter.tokens import normalise_uint8, patch_grid
    x = frames[None]
    init = torch.tensor([5])
    grid = patch_grid(normalise_uint8(x))
    torch.testing.assert_close(model(x, init=init), model(grid, init=init))


def test_twelve_reproductions_declared():
    names = sorted(r.name for r in REPRODUCTIONS)
    assert names == sorted(f"{p}_{m}_{d}" for p in ("kcenter", "frame")
                           for m in ("vit", "timesformer", "motionformer")
                           for d in ("ssv2", "k400"))
    by_name = {r.name: r for r in REPRODUCTIONS}
    assert by_name["frame_vit_k400"].model.full["kept_frames"] == 8
    assert by_name["kcenter_timesformer_k400"].recipe.lr == 2.5e-5
    assert all(r.protocol.views == 3 for r in REPRODUCTIONS)
    for r in REPRODUCTIONS:  # smoke models build and take the smoke data's frames
        model = r.model.factory(**r.model.smoke)
        x = r.model.example_input(r.model.smoke, 1)
        assert model(x).shape == (1, r.model.smoke["num_classes"])
