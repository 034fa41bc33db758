"""STRG's cost per clip against the paper (p12: I3D 153 G, I3D + joint GCN 158 G), counted
on the meta device (no arithmetic), and the non-local blocks' per-block breakdown that
``nonlocal_block.py`` documents."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness.flops import count_flops
from reproducers.strg import REPRODUCTIONS
from reproducers.strg.flops import PAPER_GFLOPS
from reproducers.strg.nonlocal_block import NonLocalBlock3d


def _rep(name):
    return next(r for r in REPRODUCTIONS if r.name == name)


def _gmacs(name: str, **change) -> tuple[float, int]:
    rep = _rep(name)
    cfg = {**rep.model.full, **change}
    with torch.device("meta"):
        model = rep.model.factory(**cfg)
        inputs = rep.model.example_input(cfg, 1)
    return (count_flops(model, inputs, crosscheck=False).gmacs,
            sum(p.numel() for p in model.parameters()))


@pytest.mark.parametrize("name", sorted(PAPER_GFLOPS))
def test_paper_rows_land_within_2_percent_of_the_paper(name):
    assert _rep(name).model.full["inflation"] == "alternating"
    gmacs, _ = _gmacs(name)
    assert abs(gmacs / PAPER_GFLOPS[name] - 1) < 0.02, gmacs


def test_table1_literal_reading_and_jd730_rows_are_every_block():
    """The figures flops.py quotes for the literal reading of Table 1 (3×1×1 everywhere)."""
    assert _gmacs("i3d_r50_ssv1", inflation="every") == (pytest.approx(171.130, abs=1e-3),
                                                         32_561_134)
    assert _gmacs("strg_r50_ssv1", inflation="every")[0] == pytest.approx(174.955, abs=1e-3)
    assert _gmacs("i3d_r50_ssv1") == (pytest.approx(153.044, abs=1e-3), 27_580_398)
    for name in ("i3d_jd730_ssv1", "strg_jd730_ssv1"):
        assert _rep(name).model.full["inflation"] == "every"


def _block(channels: int, shape: tuple[int, ...]) -> tuple[float, dict]:
    with torch.device("meta"):
        block, x = NonLocalBlock3d(channels), torch.empty(*shape)
    report = count_flops(block, x, crosscheck=False)
    return report.gmacs, report.to_dict()["by_operator"]


@pytest.mark.parametrize("channels,t,hw,total", [(512, 16, 28, 24.264), (1024, 16, 14, 6.634)])
def test_nonlocal_block_breakdown(channels, t, hw, total):
    """Convs on all positions (θ, out) and on the 1×2×2-pooled ones (φ, g); attention
    2 × queries × keys × inner."""
    gmacs, by = _block(channels, (1, channels, t, hw, hw))
    inner, queries, keys = channels // 2, t * hw * hw, t * (hw // 2) ** 2
    assert by["bmm"] * 1e9 == pytest.approx(2 * queries * keys * inner)
    assert by["convolution"] * 1e9 == pytest.approx(2 * (queries + keys) * channels * inner)
    assert gmacs == pytest.approx(total, abs=1e-3)


def test_nl_i3d_is_the_i3d_plus_five_blocks():
    nl, nl_params = _gmacs("nl_i3d_r50_ssv1")
    i3d, i3d_params = _gmacs("i3d_r50_ssv1")
    res3, res4 = _block(512, (1, 512, 16, 28, 28))[0], _block(1024, (1, 1024, 16, 14, 14))[0]
    assert nl == pytest.approx(i3d + 2 * res3 + 3 * res4, abs=1e-6)
    assert nl == pytest.approx(221.476, abs=1e-3)  # against TSM's reprinted 168 G
    assert nl_params - i3d_params == 7_358_464
    # the Non-local code's frozen-BN models: res3 attention within 4-frame groups
    grouped = _block(512, (4, 512, 4, 28, 28))[0]
    assert i3d + 2 * grouped + 3 * res4 == pytest.approx(191.26, abs=0.01)
