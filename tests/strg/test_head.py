"""The STRG head: jd730's head and its variants against strg_head_small.pt; the paper's head."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou

from reproducers.strg.graphs import space_time_graphs
from reproducers.strg.head import STRGHead

VARIANTS = {  # golden variant name -> the options that switch the quirks off
    "roi_max_pool": {"roi_pool": "max"},
    "spatial_scale_1_16": {"spatial_scale": 1 / 16},
    "roi_max_pool_and_spatial_scale_1_16": {"roi_pool": "max", "spatial_scale": 1 / 16},
}


@pytest.fixture(scope="module")
def golden():
    from tests.conftest import GOLDEN_DIR
    path = GOLDEN_DIR / "strg_head_small.pt"
    if not path.is_file():
        pytest.skip(f"golden data not found at {path} (../shared/golden, never committed)")
    return torch.load(path, weights_only=True)


def _jd730_head(cfg: dict, state: dict, **options) -> STRGHead:
    assert cfg["roi_output_size"] == 7 and cfg["roi_sampling_ratio"] == -1 and cfg["roi_aligned"]
    assert cfg["separate_forward_backward_weights"] and cfg["gcn_layers_per_branch"] == 3
    assert cfg["iou_threshold"] == 0.0
    pool = {"average (module named max_pool)": "avg"}[cfg["roi_pooling"]]
    head = STRGHead(cfg["backbone_channels"], cfg["reduced_channels"], cfg["classes"],
                    preset="jd730", global_dropout=cfg["global_dropout"],
                    graph_dropout=cfg["graph_dropout"], roi_size=cfg["roi_output_size"],
                    options={"spatial_scale": cfg["roi_spatial_scale"], "roi_pool": pool,
                             **options}).double()  # float64 before the load: no rounding
    head.load_state_dict(state, strict=True)
    return head.eval()


def test_golden_jd730_head_every_output(golden):
    cfg, out = golden["config"], golden["outputs"]
    head = _jd730_head(cfg, golden["state_dict"])
    assert list(head.state_dict()) == list(golden["state_dict"])
    rois = golden["inputs"]["rois"]
    assert rois.shape == (cfg["batch"], cfg["feature_frames"], cfg["boxes_per_frame"], 4)
    with torch.no_grad():
        got = head.explain(golden["inputs"]["features"], rois, dense_graphs=True)
    names = [k for k in out if k != "variants"]
    assert set(names) <= set(got)
    for name in names:
        torch.testing.assert_close(got[name], out[name], rtol=0, atol=1e-10, msg=name)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_golden_jd730_head_variants(golden, variant):
    head = _jd730_head(golden["config"], golden["state_dict"], **VARIANTS[variant])
    with torch.no_grad():
        got = head.explain(golden["inputs"]["features"], golden["inputs"]["rois"])
    expected = golden["outputs"]["variants"][variant]
    assert set(expected) == {"logits", "node_features", "gcn_features"}
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-10, msg=name)
    assert (got["logits"] - golden["outputs"]["logits"]).abs().max() > 1e-3  # discriminates


def test_plus_one_iou_and_transposed_backward_graph(golden):
    """The +1 rule gives the 0.5-px-apart pair (sample 0, frame 2 box 2 -> frame 3 box 2) a
    positive weight; the standard IoU does not. The backward graph is the transposed raw
    forward graph, normalised afterwards."""
    rois = golden["inputs"]["rois"]
    n = golden["config"]["boxes_per_frame"]
    front1, back1 = space_time_graphs(rois, plus_one=True)
    front0, back0 = space_time_graphs(rois, plus_one=False)
    row, col = 2 * n + 2, 3 * n + 2
    assert front1[0, row, col] > 0 and front0[0, row, col] == 0
    raw = torch.zeros_like(front0)
    for t in range(rois.shape[1] - 1):  # standard IoU = torchvision's box_iou
        for b in range(rois.shape[0]):
            raw[b, t * n:(t + 1) * n, (t + 1) * n:(t + 2) * n] = box_iou(rois[b, t],
                                                                          rois[b, t + 1])
    sums = raw.sum(-1, keepdim=True)
    torch.testing.assert_close(front0, torch.where(sums > 0, raw / sums, 0 * raw))
    sums_t = raw.transpose(1, 2).sum(-1, keepdim=True)
    torch.testing.assert_close(back0, torch.where(sums_t > 0, raw.transpose(1, 2) / sums_t,
                                                  0 * raw))


def _random_inputs(seed=0, batch=2, channels=16, frames=4, boxes=3):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, channels, frames, 14, 14, generator=g)
    xy = torch.rand(batch, frames, boxes, 2, generator=g) * 150
    wh = torch.rand(batch, frames, boxes, 2, generator=g) * 60 + 10
    return features, torch.cat([xy, xy + wh], -1)


@pytest.mark.parametrize("preset", ["paper", "jd730"])
def test_backward_runs_and_similarity_detach(preset):
    """Both presets train on current torch (jd730's in-place add does not); only the paper's
    φ/φ′ receive gradients (jd730 detaches the similarity graph)."""
    torch.manual_seed(0)
    head = STRGHead(16, 8, 5, preset=preset).train()
    for name, p in head.strg_gcn.named_parameters():  # make every path visible
        if name.endswith("weight") and "_ln" not in name:
            p.data.normal_(0, 0.5)
    features, rois = _random_inputs()
    head(features, rois).sum().backward()
    embed = head.strg_gcn.sim_embed1.weight.grad
    if preset == "paper":
        assert embed is not None and embed.abs().sum() > 0
    else:
        assert embed is None
    assert head.strg_gcn.st_gc1_back.weight.grad.abs().sum() > 0


def test_paper_preset_init_and_pooling():
    torch.manual_seed(0)
    head = STRGHead(16, 8, 5).eval()  # paper preset by default
    assert head.options["spatial_scale"] == 1 / 16 and head.options["roi_pool"] == "max"
    gcn = head.strg_gcn
    for name in ("st_gc3", "st_gc3_back", "sim_gc3"):
        assert not getattr(gcn, name).weight.any()
    assert gcn.st_gc1.weight.std() < 0.01 and gcn.st_gc1.weight.any()
    assert {f"strg_gcn.{b}_ln{k}.weight" for b in ("st", "sim") for k in (1, 2, 3)} \
        <= set(head.state_dict())
    features, rois = _random_inputs()
    with torch.no_grad():
        out = head.explain(features, rois)
    # zero last layers: the graph branch contributes nothing at init
    assert not out["gcn_features"].any()
    torch.testing.assert_close(out["node_features"].flatten(0, 2),
                               out["roi_align_output"].amax((2, 3)))


def test_boxes_must_match_feature_frames():
    head = STRGHead(16, 8, 5)
    features, rois = _random_inputs(frames=4)
    with pytest.raises(ValueError, match="feature frames"):
        head(features, rois[:, :3])


def test_pairwise_iou_equals_torchvision_and_blocks_equal_dense():
    from reproducers.strg.graphs import pairwise_iou, space_time_blocks
    _, rois = _random_inputs(seed=4, batch=3, frames=5, boxes=4)
    torch.testing.assert_close(pairwise_iou(rois[1, 2], rois[2, 3]), box_iou(rois[1, 2],
                                                                             rois[2, 3]))
    rois[0, 1, 0] = torch.tensor([5.0, 5.0, 5.0, 5.0])  # an empty (padding-like) box
    blocks = space_time_blocks(rois)
    front, back = blocks.dense()
    assert torch.isfinite(front).all() and torch.isfinite(back).all()
    y = torch.randn(3, 5 * 4, 6)
    torch.testing.assert_close(blocks.propagate_front(y), front @ y)
    torch.testing.assert_close(blocks.propagate_back(y), back @ y)


def test_single_graph_variants():
    torch.manual_seed(0)
    both = STRGHead(16, 8, 5, preset="jd730").eval()
    for p in both.strg_gcn.parameters():
        p.data.normal_(0, 0.5)
    features, rois = _random_inputs()
    with torch.no_grad():
        full = both.explain(features, rois)
        for branches, key in (("similarity", "sim_branch"), ("space_time", "st_branch")):
            one = STRGHead(16, 8, 5, preset="jd730", branches=branches).eval()
            one.load_state_dict(both.state_dict())
            out = one.explain(features, rois)
            torch.testing.assert_close(out["gcn_features"], full[key].mean(1))
            assert set(out) & {"sim_branch", "st_branch"} == {key}
