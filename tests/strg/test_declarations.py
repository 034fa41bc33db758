"""The STRG declarations: every reproduction builds, its smoke model runs its example input."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness.registry import discover
from reproducers.strg import REPRODUCTIONS

NAMES = [r.name for r in REPRODUCTIONS]


def test_registered_with_expected_rows():
    reps = discover()
    assert set(NAMES) <= set(reps)
    assert len(NAMES) == 16
    for rep in REPRODUCTIONS:
        assert rep.expected, rep.name
        assert {e.metric for e in rep.expected} <= set(rep.metrics)


@pytest.mark.parametrize("name", NAMES)
def test_smoke_model_runs_example_input(name):
    rep = next(r for r in REPRODUCTIONS if r.name == name)
    torch.manual_seed(0)
    model = rep.model.factory(**rep.model.smoke).eval()
    inputs = rep.model.example_input(rep.model.smoke, 2)
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    with torch.no_grad():
        out = model(*args)
    assert out.shape == (2, rep.model.smoke["num_classes"])


def test_full_size_builds_on_meta():
    sizes = {}
    for rep in REPRODUCTIONS:
        with torch.device("meta"):
            model = rep.model.factory(**rep.model.full)
        sizes[rep.name] = sum(p.numel() for p in model.parameters())
    assert sizes["i3d_jd730_ssv1"] == 32_561_134  # jd730 resnet_strg-50, every block 3×1×1
    assert sizes["i3d_r50_ssv1"] == 27_580_398  # the Non-local I3D (flops.py)
    assert sizes["nl_i3d_r50_ssv1"] > sizes["i3d_r50_ssv1"]
    assert sizes["strg_r101_charades"] > sizes["strg_r50_charades"]
