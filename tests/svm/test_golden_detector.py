"""The detector's neck and head vs the official golden file (svm_yolox_head_small.pt), the
backbone+neck+head chain, and the full-size key list / parameter count of the official
checkpoint (../shared/papers/svm_official_state_dict.tsv)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reproducers.svm import FULL_MODEL, build_svm
from reproducers.svm.backbone import SViT, SViTConfig
from reproducers.svm.detector import DetectorConfig, YOLOXDetector

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HEAD = SHARED / "golden" / "svm_yolox_head_small.pt"
BACKBONE = SHARED / "golden" / "svm_small.pt"
KEYS = SHARED / "papers" / "svm_official_state_dict.tsv"
ATOL64 = 1e-9


def _small_detector(golden_backbone=None) -> YOLOXDetector:
    cfg = SViTConfig(width=32, layers=4, heads=2, window=3, residual_layers=(1, 3),
                     stage_layers=(0, 1, 2, 3), memory_length=2)
    det = YOLOXDetector(SViT(cfg), DetectorConfig(neck_in=(16, 32, 64), neck_out=16,
                                                 csp_blocks=1, head_feat=16))
    if golden_backbone is not None:
        det.backbone.load_state_dict(golden_backbone["state_dict"])
    return det


@pytest.fixture(scope="module")
def golden():
    if not HEAD.is_file():
        pytest.skip(f"golden file absent: {HEAD} (it lives in ../shared/golden)")
    return torch.load(HEAD, weights_only=True)


def _load_neck_head(det, g):
    det.neck.load_state_dict(g["state_dict"]["neck"], strict=True)
    det.bbox_head.load_state_dict(g["state_dict"]["bbox_head"], strict=True)


def test_neck_and_head_match_official(golden):
    det = _small_detector()
    _load_neck_head(det, golden)
    det = det.double().eval()
    with torch.no_grad():
        neck = det.neck(golden["inputs"]["feats"])
        outs = det.bbox_head(neck)
    for got, ref in zip(neck, golden["intermediates"]["neck_outputs"], strict=True):
        torch.testing.assert_close(got, ref, atol=ATOL64, rtol=0)
    for i, key in enumerate(("cls_scores", "bbox_preds", "objectnesses")):
        for got, ref in zip(outs[i], golden["outputs"][key], strict=True):
            torch.testing.assert_close(got, ref, atol=ATOL64, rtol=0)
    assert sum(p.numel() for p in det.neck.parameters()) == 47_104
    assert sum(p.numel() for p in det.bbox_head.parameters()) == 28_338


def test_backbone_to_head_chain(golden):
    """Frame 2 of the backbone golden clip through the golden neck and head."""
    if not BACKBONE.is_file():
        pytest.skip(f"golden file absent: {BACKBONE}")
    gb = torch.load(BACKBONE, weights_only=True)
    det = _small_detector(gb)
    _load_neck_head(det, golden)
    det = det.double().eval()
    with torch.no_grad():
        for frame in gb["inputs"]["frames"]:
            outs = det.heads(frame)
    for got, ref in zip(outs[2], golden["outputs"]["objectnesses"], strict=True):
        torch.testing.assert_close(got, ref, atol=1e-8, rtol=0)


def test_full_size_keys_shapes_and_parameters():
    if not KEYS.is_file():
        pytest.skip(f"official key list absent: {KEYS}")
    rows = [line.rstrip("\n").split("\t") for line in KEYS.read_text().splitlines()[1:]]
    model = build_svm(**FULL_MODEL)
    state = model.state_dict()
    assert list(state) == [name for name, _ in rows]  # 666 names, official order
    assert all(str(tuple(state[n].shape)) == s for n, s in rows)
    params = {part: sum(p.numel() for p in getattr(model.detector, part).parameters())
              for part in ("backbone", "neck", "bbox_head")}
    assert params == {"backbone": 138_641_280, "neck": 53_819_904, "bbox_head": 7_088_658}
    assert sum(params.values()) == 199_549_842
    space = SViT(SViTConfig(attn_type="space"))
    assert sum(p.numel() for p in space.parameters()) == 124_457_856
