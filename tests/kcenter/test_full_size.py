"""Full-size K-center models: official key names, order and shapes (the TSV key lists in
../shared/papers) and parameter counts with 400 / 174 classes, built on the meta device."""

from __future__ import annotations

import pytest
import torch

from reproducers.kcenter.configs import RELEASED as RELEASED_CONFIGS
from reproducers.kcenter.configs import frame_baseline
from reproducers.kcenter.models import build_kcenter_model
from tests.conftest import GOLDEN_DIR

PAPERS = GOLDEN_DIR.parent / "papers"
RELEASED = {  # kcenter_transformer/configs/kcenter_models/*.yaml
    "vit": ({"kept_frames": 3}, {400: 86_130_832, 174: 85_957_038}),
    "timesformer": ({"time_division": 8, "space_division": 14, "kept_frames": 4},
                    {400: 121_584_784, 174: 121_410_990}),
    "motionformer": ({"time_division": 8, "kept_frames": 1},
                     {400: 107_392_144, 174: 107_218_350}),
}


def _tsv(kind: str) -> list[tuple[str, tuple[int, ...]]]:
    path = PAPERS / f"kcenter_{kind}_official_state_dict.tsv"
    if not path.is_file():
        pytest.skip(f"official key list absent: {path}")
    rows = path.read_text().splitlines()[1:]
    return [(name, tuple(int(v) for v in shape.strip("()").split(",") if v.strip()))
            for name, shape in (row.split("\t") for row in rows)]


@pytest.mark.parametrize("kind", list(RELEASED))
@pytest.mark.parametrize("classes", [400, 174])
def test_full_size_keys_and_parameters(kind, classes):
    options, counts = RELEASED[kind]
    with torch.device("meta"):
        model = build_kcenter_model(kind, classes, **options)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    official = _tsv(kind)
    if classes != 400:  # the TSVs list the Kinetics head
        official = [(k, (classes,) + s[1:] if k.startswith("head.") else s)
                    for k, s in official]
    assert ours == official
    assert sum(p.numel() for p in model.parameters()) == counts[classes]


def test_full_size_token_plans_as_released(models_golden):
    full = models_golden["config"]["full_size"]
    assert sorted(full) == sorted(RELEASED_CONFIGS)
    for name, entry in full.items():
        with torch.device("meta"):
            model = build_kcenter_model(**RELEASED_CONFIGS[name])
        assert model.num_classes == entry["num_classes"]
        assert sum(p.numel() for p in model.parameters()) == entry["num_parameters"], name
        assert list(model.state_dict()) == entry["state_dict_keys"]
        assert [list(v.shape) for v in model.state_dict().values()] == [
            list(s) for s in entry["state_dict_shapes"]], name
        assert model.plan.kept_frames == tuple(entry["kept_full_frames"]), name
        assert model.plan.k == entry["kcenter_tokens"], name
        assert model.plan.total_tokens == entry["total_tokens"], name
        sampler = entry["sampler"]
        assert (model.plan.time_division, model.plan.space_division,
                model.plan.sort_indices) == (sampler["time_division"],
                                             sampler["space_division"],
                                             sampler["sort_indices"]), name


@pytest.mark.parametrize("name,frames", [
    ("kcenter_vit_ssv2", (0, 4, 8, 13, 17, 22, 26, 31)),
    ("kcenter_timesformer_kinetics", tuple(range(2, 32, 4))),
    ("kcenter_motionformer_kinetics", tuple(range(2, 32, 4)))])
def test_same_budget_frame_baselines(name, frames):
    with torch.device("meta"):
        model = build_kcenter_model(**frame_baseline(RELEASED_CONFIGS[name]))
    assert model.plan.kept_frames == frames and model.plan.k == 0 and model.sampler is None
