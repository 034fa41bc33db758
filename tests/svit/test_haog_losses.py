"""SViT image-branch targets (reproducers.svit.haog) and losses (reproducers.svit.losses).

Expected numbers are worked out by hand in the comments. The shear references were produced
by imgaug 0.4.0 + scikit-image 0.19.3 (``iaa.ShearX/ShearY(factor * 57.2958 [negated for Y],
fit_output=True)`` on the box corners) followed by the official ``shear_x_iaa`` /
``shear_y_iaa`` post-processing (rescale, shift, clip).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.auto_augment import AugmentOp

from reproducers.svit.haog import (
    GEOMETRIC_OPS,
    BoxRandAugment,
    apply_op_with_boxes,
    crop_resize_boxes,
    finalize_boxes,
    image_sample,
    match_haog,
    move_boxes,
)
from reproducers.svit.losses import (
    consistency_loss,
    image_loss_weights,
    image_losses,
    weighted_image_loss,
)


def slots(*rows):
    return np.array(rows, dtype=np.float32)


Z = (0, 0, 0, 0)

# ---------------------------------------------------------------- match_haog


def test_match_haog_straight_with_contact_3_and_0():
    # top-left corners: h0 (10,10) h1 (100,100) o0 (12,10) o1 (100,100.05)
    b = slots((10, 10, 50, 50), (100, 100, 150, 150), (12, 10, 30, 30), (100, 100.05, 120, 130))
    out, contact = match_haog(b)
    assert torch.equal(out, torch.from_numpy(b))
    assert contact.dtype == torch.int64
    assert contact.tolist() == [0, 3]  # distance 2 px -> 0; 0.05 px (< 0.1) -> 3


def test_match_haog_crossed_restacks_0_2_3_1():
    # h0 (10,10) h1 (100,100); o0 (100,103): 3 px from h1; o1 (10,10): on h0 -> crossed wins
    b = slots((10, 10, 50, 50), (100, 100, 150, 150), (100, 103, 120, 130), (10, 10, 20, 20))
    out, contact = match_haog(torch.from_numpy(b))
    assert out.tolist() == b[[0, 2, 3, 1]].tolist()  # [h0, o0, o1, h1]: not [h0, h1, o1, o0]
    assert contact.tolist() == [3, 0]  # cost[0,1] = 0 -> 3, cost[1,0] = 3 -> 0


def test_match_haog_top_left_corners_not_centres():
    # centres: straight 63.6 + 161.4 > crossed 0 + 200 (o1 shares h0's centre);
    # top-left corners: straight 1.41 + 164.9 < crossed 56.6 + 199.0 -> kept as is
    b = slots((0, 0, 100, 100), (200, 0, 210, 10), (1, 1, 9, 9), (40, 40, 60, 60))
    out, contact = match_haog(b)
    assert torch.equal(out, torch.from_numpy(b))
    assert contact.tolist() == [0, 0]


def test_match_haog_empty_object_gives_minus_one():
    b = slots((10, 10, 50, 50), (100, 100, 150, 150), (11, 10, 30, 30), Z)
    out, contact = match_haog(b)
    assert torch.equal(out, torch.from_numpy(b))
    assert contact.tolist() == [0, -1]  # 1 + 1e8 (float32: 1e8) < 1e8 + 126.6 -> straight


def test_match_haog_empty_hand_masks_the_column_of_its_index():
    # hand 1 empty -> column 1 (object 1!) gets 1e8 for both hands, although o1 sits on h0
    b = slots((50, 50, 90, 90), Z, (80, 50, 100, 70), (50, 50, 60, 60))
    out, contact = match_haog(b)
    assert torch.equal(out, torch.from_numpy(b))  # 30 + 1e8 (-> 100000032) < 1e8 + 94.3
    assert contact.tolist() == [0, -1]


def test_match_haog_float32_rounding_of_high_cost_sums():
    # hand 1 and object 1 empty: straight = 3 + 1e8, crossed = 1e8 + 2 (|o0 tl| = 2).
    # In float64 crossed is cheaper; in float32 both are 1e8, so the official keeps straight.
    b = slots((5, 0, 20, 20), Z, (2, 0, 10, 10), Z)
    out, contact = match_haog(b)
    assert torch.equal(out, torch.from_numpy(b))
    assert contact.tolist() == [0, -1]


def test_match_haog_all_empty():
    out, contact = match_haog(np.zeros((4, 4), np.float32))
    assert out.abs().sum().item() == 0
    assert contact.tolist() == [-1, -1]


def test_match_haog_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"expected \(4, 4\) xyxy boxes.*\(3, 4\)"):
        match_haog(np.zeros((3, 4)))


# ---------------------------------------------------------------- boxes through geometric ops


def test_translate_moves_boxes_by_exact_pixels_without_clipping():
    b = np.array([[60, 30, 110, 70], [0, 0, 0, 0]], float)
    out = move_boxes("TranslateXRel", 0.27, b, 200, 120)  # 0.27 * 200 = 54 px to the left
    assert out.tolist() == [[6, 30, 56, 70], [0, 0, 0, 0]]
    out = move_boxes("TranslateYRel", 0.27, b, 200, 120)  # 0.27 * 120 = 32.4 px up
    assert out[0] == pytest.approx([60, -2.4, 110, 37.6])  # not clipped to the image
    assert out[1].tolist() == [0, 0, 0, 0]


def test_rotate_90_about_the_centre_counter_clockwise():
    # 100x100, centre (50,50): x' = (y-50)+50, y' = -(x-50)+50 -> right of centre goes up
    out = move_boxes("Rotate", 90.0, np.array([[60, 40, 80, 60]], float), 100, 100)
    assert out[0] == pytest.approx([40, 20, 60, 40], abs=1e-9)


def test_rotate_odd_size_uses_integer_centre_then_half_size():
    # w=101: rotation about x=50 (w // 2), result re-centred at 50.5 (cv2 canvas + crop)
    out = move_boxes("Rotate", 90.0, np.array([[60, 40, 80, 60]], float), 101, 100)
    # x' = (y - 50) + 50.5 ; y' = -(x - 50) + 50
    assert out[0] == pytest.approx([40.5, 20, 60.5, 40], abs=1e-9)


def test_rotate_box_leaving_the_image_is_zeroed_and_partial_one_clipped():
    # 45 deg, (0,0,10,10): all corners at x' < 0 -> clipped to zero width -> zeroed
    out = move_boxes("Rotate", 45.0, np.array([[0, 0, 10, 10], [40, 40, 60, 60]], float),
                     100, 100)
    assert out[0].tolist() == [0, 0, 0, 0]
    r = 10 * math.sqrt(2)  # the centred 20x20 box becomes a diamond of half-diagonal 14.14
    assert out[1] == pytest.approx([50 - r, 50 - r, 50 + r, 50 + r])


SHEAR_BOXES = np.array([[60, 30, 110, 70], [0, 5, 20, 119], [150, 0, 199, 40]], float)


@pytest.mark.parametrize("name,factor,expected", [
    ("ShearX", 0.18, [[46.7725, 29.7633, 103.9336, 69.4478], [0.0, 4.9606, 18.4094, 118.0612],
                      [142.1433, 0.0, 198.3045, 39.6845]]),
    ("ShearX", -0.3, [[68.8656, 29.9062, 130.6864, 69.7811], [1.4776, 4.9844, 55.1669, 118.6279],
                      [150.0, 0.0, 200.0, 39.8749]]),
    ("ShearY", 0.18, [[59.9296, 9.9336, 109.8709, 58.8851], [0.0, 1.0463, 19.9765, 118.6269],
                      [149.8239, 0.0, 198.7664, 12.7725]]),
    ("ShearY", -0.3, [[59.7085, 47.7312, 109.4656, 102.5072], [0.0, 5.0, 19.9028, 120.0],
                      [149.2713, 44.328, 198.0333, 98.8085]]),
])
def test_shear_boxes_match_imgaug_reference(name, factor, expected):
    out = move_boxes(name, factor, SHEAR_BOXES, 200, 120)
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_shear_x_closed_form():
    # s = factor * 57.2958 deg in rad, S = sin s, C = cos s, w=200, h=120, factor > 0:
    # fitted w = ceil(w + S (h-1)), fitted h = ceil(C (h-1) + 1);
    # x -> x - S y + S (h-1) - (fitted w - w), y -> C y h / fitted h
    s = math.radians(0.3 * 57.2958)
    S, C = math.sin(s), math.cos(s)
    fw, fh = math.ceil(200 + S * 119), math.ceil(C * 119 + 1)
    x1, y1, x2, y2 = 60, 30, 110, 70
    shift = S * 119 - (fw - 200)
    exp = [x1 - S * y2 + shift, C * y1 * 120 / fh, x2 - S * y1 + shift, C * y2 * 120 / fh]
    out = move_boxes("ShearX", 0.3, np.array([[x1, y1, x2, y2]], float), 200, 120)
    np.testing.assert_allclose(out[0], exp, atol=1e-4)


@pytest.mark.parametrize("name", ["ColorIncreasing", "Equalize", "SolarizeAdd", "Invert"])
def test_colour_ops_leave_boxes_unchanged(name):
    b = np.array([[1.5, 2, 30, 40]])
    assert move_boxes(name, 0.7, b, 50, 50).tolist() == b.tolist()


def test_zero_rows_stay_zero_under_every_geometric_op():
    b = np.array([[0, 0, 0, 0], [10, 10, 20, 20]], float)
    for name in GEOMETRIC_OPS:
        assert move_boxes(name, 0.2, b, 64, 48)[0].tolist() == [0, 0, 0, 0], name


def test_move_boxes_errors():
    with pytest.raises(ValueError, match=r"\[N, 4\].*\(4,\)"):
        move_boxes("Rotate", 1.0, np.zeros(4), 10, 10)
    with pytest.raises(ValueError, match="Rotate needs its level"):
        move_boxes("Rotate", None, np.zeros((1, 4)), 10, 10)


# ---------------------------------------------------------------- the op as timm runs it

HP = {"translate_const": 54, "interpolation": Image.BILINEAR}


def _white_box_image():
    img = np.zeros((120, 200, 3), np.uint8)
    img[30:70, 60:110] = 255
    return img, np.array([[60, 30, 110, 70], [0, 0, 0, 0]], float)


def _bright_bbox(img: Image.Image):
    ys, xs = np.nonzero(np.asarray(img)[..., 0] > 200)  # the fill is 128
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("seed", [0, 1])
def test_translate_x_rel_boxes_follow_the_image_exactly(seed):
    img, b = _white_box_image()
    random.seed(seed)
    op = AugmentOp("TranslateXRel", prob=1.0, magnitude=6, hparams=HP)  # pct = +-0.27
    out, moved, level = apply_op_with_boxes(op, Image.fromarray(img), b)
    assert abs(level) == pytest.approx(0.27)
    assert moved[0].tolist() == [60 - level * 200, 30, 110 - level * 200, 70]  # 54 px
    assert moved[0].tolist() == _bright_bbox(out)
    assert moved[1].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("name", ["Rotate", "ShearX", "ShearY", "TranslateYRel"])
@pytest.mark.parametrize("seed", [0, 1])
def test_geometric_boxes_follow_the_image_within_2px(name, seed):
    img, b = _white_box_image()
    random.seed(seed)
    op = AugmentOp(name, prob=1.0, magnitude=6, hparams=HP)
    out, moved, level = apply_op_with_boxes(op, Image.fromarray(img), b)
    assert level is not None and level != 0
    visible = np.clip(moved[0], 0, [200, 120, 200, 120])
    np.testing.assert_allclose(visible, _bright_bbox(out), atol=2.0)
    assert moved[0].tolist() != b[0].tolist()


def test_skipped_op_and_colour_op_keep_boxes():
    img, b = _white_box_image()
    op = AugmentOp("Rotate", prob=0.0, magnitude=9, hparams=HP)
    out, moved, level = apply_op_with_boxes(op, Image.fromarray(img), b)
    assert level is None and moved.tolist() == b.tolist()
    assert np.array_equal(np.asarray(out), img)
    op = AugmentOp("ContrastIncreasing", prob=1.0, magnitude=9, hparams=HP)
    _, moved, level = apply_op_with_boxes(op, Image.fromarray(img), b)
    assert level is not None and moved.tolist() == b.tolist()
    assert op.aug_fn.__name__ == "contrast"  # the recording wrapper was removed


def test_box_rand_augment_replays_recorded_levels_and_is_seeded():
    ra = BoxRandAugment("rand-m7-n4-mstd0.5-inc1")
    img, b = _white_box_image()
    saw_geometric = saw_colour_only = False
    for seed in range(12):
        np.random.seed(seed)
        random.seed(seed)
        frame, moved = ra.augment(img, b)
        assert frame.shape == img.shape and frame.dtype == np.uint8
        replay = b.copy()
        for name, level in zip(ra.last_ops, ra.last_levels, strict=True):
            if level is not None:
                replay = move_boxes(name, level, replay, 200, 120)
        np.testing.assert_array_equal(moved, replay)
        applied = [n for n, lv in zip(ra.last_ops, ra.last_levels, strict=True)
                   if n in GEOMETRIC_OPS and lv is not None]
        if applied:
            saw_geometric = True
        else:
            saw_colour_only = True
            assert moved.tolist() == b.tolist()
        np.random.seed(seed)
        random.seed(seed)
        frame2, moved2 = ra.augment(img, b)
        assert np.array_equal(frame, frame2) and np.array_equal(moved, moved2)
    assert saw_geometric and saw_colour_only
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        ra.augment(img.astype(np.float32), b)


# ---------------------------------------------------------------- crop and final box targets


def test_crop_resize_boxes_known_crop():
    # crop top=10 left=20 h=100 w=200, output 224: x -> clip(x - 20, 0, 200) / 200 ...
    b = np.array([[40, 30, 140, 80], [0, 0, 300, 300], [0, 0, 0, 0]], float)
    out = crop_resize_boxes(b, 10, 20, 100, 200, 224)
    np.testing.assert_allclose(out, [[0.1, 0.2, 0.6, 0.7], [0, 0, 1, 1], [0, 0, 0, 0]])


def test_finalize_boxes_cxcywh_and_small_box_rule():
    out = finalize_boxes(np.array([[0.1, 0.2, 0.6, 0.7],  # -> (0.35, 0.45, 0.5, 0.5)
                                   [0.0, 0.0, 0.05, 0.5],  # w == 0.05 -> zeroed (<=)
                                   [0.0, 0.0, 0.5, 0.04],  # h 0.04 -> zeroed
                                   [0.0, 0.0, 0.0625, 0.5]]))  # w 0.0625 kept
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), [[0.35, 0.45, 0.5, 0.5], [0, 0, 0, 0],
                                             [0, 0, 0, 0], [0.03125, 0.25, 0.0625, 0.5]],
                               atol=1e-7)
    with pytest.raises(ValueError, match="x2 < x1"):
        finalize_boxes(np.array([[0.5, 0.0, 0.4, 0.5]]))


NO_AUG = {"rand_augment": None, "random_erasing": None}
FULL_FRAME = {**NO_AUG, "rrc_scale": (1.0, 1.0), "rrc_ratio": (5 / 3, 5 / 3)}  # 200x120 crop


def test_image_sample_full_frame_crop_known_targets():
    frame = np.full((120, 200, 3), 255, np.uint8)
    raw = slots((10, 10, 60, 60),  # h0, top-left (10,10)
                (100, 50, 150, 100),  # h1, top-left (100,50)
                (100, 52, 190, 110),  # o0: 2 px from h1's corner
                (10, 10, 18, 40))  # o1: on h0's corner -> crossed [h0, o0, o1, h1]
    out = image_sample(frame, raw, FULL_FRAME)
    assert out["contact"].tolist() == [3, 0]
    # [h0, o0, o1, h1] / (200, 120) -> cxcywh; o1 is 8 px = 0.04 wide -> zeroed
    np.testing.assert_allclose(out["boxes"].numpy(), [
        [35 / 200, 35 / 120, 50 / 200, 50 / 120],
        [145 / 200, 81 / 120, 90 / 200, 58 / 120],
        [0, 0, 0, 0],
        [125 / 200, 75 / 120, 50 / 200, 50 / 120]], atol=1e-6)
    assert out["exists"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert out["image"].shape == (3, 224, 224) and out["image"].dtype == torch.float32
    torch.testing.assert_close(out["image"], torch.full((3, 224, 224), (1 - 0.45) / 0.225))


def test_image_sample_random_crop_uses_rrc_params_draw():
    from reproducers.common.video.transforms import rrc_params

    frame = np.zeros((120, 200, 3), np.uint8)
    raw = slots((30, 20, 170, 100), Z, (50, 40, 150, 90), Z)
    random.seed(5)
    top, left, h, w = rrc_params(120, 200, (0.08, 1.0), (0.75, 1.3333))
    random.seed(5)
    out = image_sample(frame, raw, NO_AUG)
    exp = finalize_boxes(crop_resize_boxes(raw.astype(float), top, left, h, w, 224))
    torch.testing.assert_close(out["boxes"], exp)
    torch.testing.assert_close(out["image"], torch.full((3, 224, 224), -2.0))
    assert out["contact"].tolist() == [0, -1]


def test_image_sample_default_config_runs():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    raw = slots((20, 20, 80, 80), (90, 10, 150, 70), (30, 30, 70, 85), Z)
    for seed in range(5):
        np.random.seed(seed)
        random.seed(seed)
        out = image_sample(frame, raw)
        b = out["boxes"]
        assert b.shape == (4, 4) and bool(((b >= 0) & (b <= 1)).all())
        assert out["exists"].tolist() == (~(b == 0).all(dim=-1)).float().tolist()
        assert out["exists"][3].item() == 0.0
        assert out["image"].shape == (3, 224, 224)


def test_image_sample_errors():
    frame = np.zeros((50, 60, 3), np.uint8)
    with pytest.raises(ValueError, match=r"unknown cfg keys \['crop'\]"):
        image_sample(frame, np.zeros((4, 4)), {"crop": 112})
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        image_sample(frame.astype(np.float32), np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        image_sample(frame, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="x2 >= x1"):
        image_sample(frame, slots((30, 0, 10, 10), Z, Z, Z))


# ---------------------------------------------------------------- losses


def _extra(rows, contact_logits):
    pred = torch.tensor(rows, dtype=torch.float64).view(1, 1, 4, 5)
    return {"pred_bboxes": pred, "existence_logits": pred[..., :1],
            "contact_logits": torch.tensor(contact_logits, dtype=torch.float64).view(1, 1, 2, 5)}


ROWS = [[0.0, 0.5, 0.5, 0.2, 0.2], [2.0, 0.2, 0.2, 0.2, 0.2],
        [-1.0, 0.3, 0.3, 0.1, 0.1], [0.5, 0.6, 0.6, 0.3, 0.3]]
TARGET = [[0.6, 0.5, 0.2, 0.2], [0.8, 0.8, 0.2, 0.2], [0, 0, 0, 0], [0, 0, 0, 0]]
CONTACT = [[1.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0, 0.0]]


def test_image_losses_hand_computed():
    extra = _extra(ROWS, CONTACT)
    targets = {"boxes": torch.tensor([TARGET], dtype=torch.float64), "exists": torch.tensor([[1.0, 1, 0, 0]]),
               "contact": torch.tensor([[0, -1]])}
    t = image_losses(extra, targets)
    # L1 over the 2 existing slots x 4 numbers: (0.1 + 0.6 + 0.6) / 8
    assert t["boxes_l1_loss"].item() == pytest.approx(0.1625, abs=1e-12)
    # BCE over all 4 slots: logits (0, 2, -1, 0.5) vs (1, 1, 0, 0)
    bce = (math.log(2) + math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))
           + math.log(1 + math.exp(0.5))) / 4
    assert t["boxes_bce_loss"].item() == pytest.approx(bce, abs=1e-12)
    # slot 0: [.4,.4,.6,.6] vs [.5,.4,.7,.6]: IoU .02/.06 = 1/3, hull = union -> 1 - 1/3
    # slot 1: [.1,.1,.3,.3] vs [.7,.7,.9,.9]: IoU 0, hull .64, union .08 -> 1 + .56/.64
    assert t["boxes_giou_loss"].item() == pytest.approx((2 / 3 + 1.875) / 2, abs=1e-5)
    # hand 0 only (target -1 ignored): -1 + log(e + e^2 + 3)
    ce = -1 + math.log(math.e + math.e ** 2 + 3)
    assert t["loss_contact_state"].item() == pytest.approx(ce, abs=1e-12)
    # targets [B,1,4,4] give the same terms
    t4 = image_losses(extra, {"boxes": targets["boxes"].unsqueeze(1),
                              "contact": torch.tensor([[0, -1]])})
    assert {k: v.item() for k, v in t4.items()} == {k: v.item() for k, v in t.items()}


def test_image_losses_giou_equals_torchvision_pairwise():
    from torchvision.ops import box_convert, generalized_box_iou

    extra = _extra(ROWS, CONTACT)
    t = image_losses(extra, {"boxes": torch.tensor([TARGET]), "contact": torch.tensor([[0, 3]])})
    src = box_convert(torch.tensor([r[1:] for r in ROWS[:2]]), "cxcywh", "xyxy")
    dst = box_convert(torch.tensor(TARGET[:2]), "cxcywh", "xyxy")
    official = (1 - torch.diag(generalized_box_iou(src, dst))).mean()  # box_ops-style
    assert t["boxes_giou_loss"].item() == pytest.approx(official.item(), abs=1e-5)
    ce = (-1 + math.log(math.e + math.e ** 2 + 3) - 3 + math.log(4 + math.e ** 3)) / 2
    assert t["loss_contact_state"].item() == pytest.approx(ce, abs=1e-12)


def test_image_losses_no_existing_box_and_no_contact_label():
    extra = _extra(ROWS, CONTACT)
    extra["pred_bboxes"].requires_grad_(True)
    t = image_losses(extra, {"boxes": torch.zeros(1, 4, 4), "contact": torch.tensor([[-1, -1]])})
    assert t["boxes_l1_loss"].item() == 0 and t["boxes_giou_loss"].item() == 0
    assert t["loss_contact_state"].item() == 0
    bce = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))
           + math.log(1 + math.exp(0.5))) / 4  # all four targets 0
    assert t["boxes_bce_loss"].item() == pytest.approx(bce, abs=1e-12)
    t["boxes_l1_loss"].backward()
    assert extra["pred_bboxes"].grad.abs().sum().item() == 0


def test_image_losses_errors():
    extra = _extra(ROWS, CONTACT)
    good = {"boxes": torch.tensor([TARGET]), "contact": torch.tensor([[0, 1]])}
    with pytest.raises(ValueError, match="missing 'contact_logits'"):
        image_losses({k: v for k, v in extra.items() if k != "contact_logits"}, good)
    with pytest.raises(ValueError, match=r"'pred_bboxes' must be \[B,T,4,5\], got \(1, 4, 5\)"):
        image_losses({**extra, "pred_bboxes": extra["pred_bboxes"][0]}, good)
    with pytest.raises(ValueError, match="target 'boxes' must be"):
        image_losses(extra, {**good, "boxes": torch.zeros(2, 4, 4)})
    with pytest.raises(ValueError, match=r"'contact' must hold B\*T\*2 = 2"):
        image_losses(extra, {**good, "contact": torch.tensor([[0, 1, 2]])})
    with pytest.raises(ValueError, match="'exists' must equal 'box not all zeros'"):
        image_losses(extra, {**good, "exists": torch.ones(1, 4)})


def test_weights_and_weighted_total():
    w = image_loss_weights()
    assert w == pytest.approx({"boxes_l1_loss": 18.5, "boxes_bce_loss": 3.7,
                               "boxes_giou_loss": 7.4, "loss_contact_state": 0.3})
    ones = {k: torch.tensor(1.0) for k in w}
    assert weighted_image_loss(ones).item() == pytest.approx(29.9)
    terms = {"boxes_l1_loss": torch.tensor(0.1), "boxes_bce_loss": torch.tensor(0.2),
             "boxes_giou_loss": torch.tensor(0.3), "loss_contact_state": torch.tensor(2.0)}
    # 5*1*.1 + 1*.2 + 2*.3 + 0.5*2 with lambda_nodes 1, lambda_edges 0.5
    assert weighted_image_loss(terms, 1.0, 0.5).item() == pytest.approx(2.3)
    with pytest.raises(ValueError, match=r"missing terms \['boxes_giou_loss'\]"):
        weighted_image_loss({k: v for k, v in terms.items() if k != "boxes_giou_loss"})


def test_consistency_loss_l1_l2_and_detached_target():
    clip = torch.tensor([1.0, 2.0, -1.0, 0.0]).view(1, 2, 1, 2).requires_grad_(True)
    frame = torch.tensor([0.0, 4.0, -1.0, 3.0]).view(2, 1, 1, 2).requires_grad_(True)
    # |1|, |-2|, 0, |-3| -> 6 / 4; squares 1, 4, 0, 9 -> 14 / 4
    assert consistency_loss(clip, frame, "l1").item() == pytest.approx(1.5)
    loss = consistency_loss(clip, frame.view(1, 2, 1, 2), "l2")
    assert loss.item() == pytest.approx(3.5)
    loss.backward()
    assert frame.grad is None
    torch.testing.assert_close(clip.grad.view(-1), torch.tensor([0.5, -1.0, 0.0, -1.5]))
    with pytest.raises(ValueError, match="kind must be 'l1' or 'l2'"):
        consistency_loss(clip, frame, "huber")
    with pytest.raises(ValueError, match=r"frame_obj must be .*got \(1, 1, 1, 4\)"):
        consistency_loss(clip, frame.view(1, 1, 1, 4))
    with pytest.raises(ValueError, match=r"clip_obj must be \[B,T,O,C\]"):
        consistency_loss(clip.view(2, 2), frame)
