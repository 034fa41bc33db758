"""YOLOX multi-scale training sizes (mmdet 2.26 YOLOX._random_resize / _preprocess), the
test-time post-processing settings, and rescaling of detections to original pixels."""

from __future__ import annotations

import random

import torch

from reproducers.svm import SMOKE_MODEL, build_svm
from reproducers.svm.detector import DetectorConfig


def test_random_size_changes_every_interval_and_scales_boxes():
    model = build_svm(**SMOKE_MODEL).train()
    det = model.detector
    sizes, seen_boxes = [], []
    orig = det._preprocess

    def spy(img, boxes):
        out_img, out_boxes = orig(img, boxes)
        sizes.append(tuple(out_img.shape[-2:]))
        seen_boxes.append(out_boxes[0].clone())
        return out_img, out_boxes

    det._preprocess = spy
    random.seed(3)
    img = torch.randn(1, 3, 192, 320)
    box = [torch.tensor([[32.0, 48.0, 96.0, 144.0]])]
    for _ in range(6):
        model(img, box, [torch.zeros(1, dtype=torch.long)])
        model.clear_memory()
    # the first 2 calls at input_size, then a new size every 2 calls (both frames of a clip)
    assert sizes[0] == sizes[1] == (192, 320)
    assert sizes[2] == sizes[3] and sizes[4] == sizes[5]
    lo, hi = SMOKE_MODEL["random_size_range"]
    for h, w in sizes[2:]:
        s = h // 32
        assert lo <= s <= hi and w == 32 * int(320 / 192 * s)
        i = sizes.index((h, w))
        sx, sy = w / 320, h / 192
        torch.testing.assert_close(seen_boxes[i], box[0] * torch.tensor([sx, sy, sx, sy]))


def test_official_test_settings_and_rescale():
    cfg = DetectorConfig()
    assert (cfg.score_thr, cfg.nms_iou, cfg.input_size, cfg.random_size_range) == \
        (0.01, 0.7, (800, 1440), (18, 32))
    model = build_svm(**SMOKE_MODEL).eval()
    head = model.detector.bbox_head
    assert head.test_cfg["score_thr"] == 0.01 and head.test_cfg["nms"]["iou_threshold"] == 0.7
    with torch.no_grad():
        for level in head.multi_level_conv_obj:  # make every anchor confident
            level.bias.fill_(10.0)
        for level in head.multi_level_conv_cls:
            level.bias.fill_(10.0)
        img = torch.randn(1, 3, 192, 320)
        (b1, s1), = model.detector.predict(img, [(1.0, 1.0)])
        model.clear_memory()
        (b2, s2), = model.detector.predict(img, [(0.5, 0.25)])
    assert len(b1) > 0 and torch.all(s1 > 0.99)
    torch.testing.assert_close(b2, b1 / torch.tensor([0.5, 0.25, 0.5, 0.25]))
