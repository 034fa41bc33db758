"""SVM clip augmentations: shared randomness across frames, box geometry, official quirks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from reproducers.svm.seq_transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SeqCompose,
    SeqFilterAnnotations,
    SeqMixUp,
    SeqMosaic,
    SeqNormalize,
    SeqPad,
    SeqRandomAffine,
    SeqRandomFlip,
    SeqResize,
    SeqYOLOXHSVRandomAug,
    build_train_pipeline,
    imrescale,
    rescale_size,
)


def frame(img, boxes=(), ids=None):
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(b)
    return {"img": img, "bboxes": b, "labels": np.zeros(n, np.int64),
            "instance_ids": np.arange(n, dtype=np.int64) if ids is None
            else np.asarray(ids, np.int64), "img_shape": img.shape[:2]}


def flat(h, w, value):
    return np.full((h, w, 3), value, np.uint8)


def noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def assert_frames_equal(a, b):
    np.testing.assert_array_equal(a["img"], b["img"])
    np.testing.assert_array_equal(a["bboxes"], b["bboxes"])
    np.testing.assert_array_equal(a["labels"], b["labels"])


class ListSource:
    """A PartnerSource over fixed clips."""

    def __init__(self, clips):
        self.clips = clips

    def __len__(self):
        return len(self.clips)

    def load_clip(self, index, rng):
        return copy.deepcopy(self.clips[index])

    def start_frame_has_boxes(self, index):
        return len(self.clips[index][0]["bboxes"]) > 0


# ---- flip / resize / pad / normalize / filter ---------------------------------------------

def test_flip_geometry_and_shared_decision():
    img = flat(20, 100, 0)
    img[:, 10] = 255
    clip = [frame(img, [[10, 2, 30, 8]]), frame(img.copy(), [[0, 0, 100, 20]])]
    out = SeqRandomFlip(flip_ratio=1.0)(clip, np.random.default_rng(0))
    np.testing.assert_array_equal(out[0]["bboxes"], [[70, 2, 90, 8]])
    np.testing.assert_array_equal(out[1]["bboxes"], [[0, 0, 100, 20]])
    assert (out[0]["img"][:, 89] == 255).all() and out[0]["flip"] and out[1]["flip"]
    assert not SeqRandomFlip(flip_ratio=0.0)(clip, np.random.default_rng(0))[0]["flip"]
    flips = []
    for seed in range(40):
        o = SeqRandomFlip(0.5)(clip, np.random.default_rng(seed))
        assert o[0]["flip"] == o[1]["flip"]
        flips.append(o[0]["flip"])
    assert 0 < sum(flips) < 40


def test_resize_keep_ratio_mmcv_rule():
    assert rescale_size(1920, 1080, (800, 1440))[0] == (1422, 800)
    assert rescale_size(1080, 1920, (800, 1440))[0] == (800, 1422)  # orientation-agnostic
    clip = [frame(flat(108, 192, 7), [[10, 20, 30, 40]])] * 2
    out = SeqResize((80, 144))(clip)
    for f in out:
        assert f["img"].shape == (80, 142, 3) and f["img_shape"] == (80, 142)
        sf = np.array([142 / 192, 80 / 108] * 2, np.float32)
        np.testing.assert_allclose(f["scale_factor"], sf)
        np.testing.assert_allclose(f["bboxes"], [[10, 20, 30, 40]] * sf, rtol=1e-6)
    same, ws, hs = imrescale(flat(64, 96, 1), (64, 96))
    assert same.shape == (64, 96, 3) and ws == hs == 1.0


def test_pad_to_multiple_of_32_with_zeros():
    img = np.ones((80, 142, 3), np.float32)
    out = SeqPad(32, 0.0)([frame(img, [[1, 2, 3, 4]])])[0]
    assert out["img"].shape == (96, 160, 3) and out["pad_shape"] == (96, 160)
    assert (out["img"][80:] == 0).all() and (out["img"][:, 142:] == 0).all()
    assert (out["img"][:80, :142] == 1).all()
    np.testing.assert_array_equal(out["bboxes"], [[1, 2, 3, 4]])


def test_normalize_numbers_bgr_to_rgb():
    img = np.zeros((2, 3, 3), np.uint8)
    img[...] = (10, 20, 30)  # B, G, R
    out = SeqNormalize()([frame(img)])[0]["img"]
    assert out.dtype == np.float32 and out.shape == (2, 3, 3)
    expected = [(30 - 123.675) / 58.395, (20 - 116.28) / 57.12, (10 - 103.53) / 57.375]
    np.testing.assert_allclose(out[1, 2], expected, rtol=1e-5)
    assert IMAGENET_MEAN == (123.675, 116.28, 103.53)
    assert IMAGENET_STD == (58.395, 57.12, 57.375)


class _NoCv2:
    """Stands in for the cv2 module: any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"normalisation must not call cv2.{name}")


@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (3, 1), (5, 3), (4, 7), (16, 1422)])
def test_normalize_is_per_channel_for_every_width_without_cv2(monkeypatch, hw):
    """Issue 11: mmcv's cv2.subtract/multiply with a 1x3 array broke under OpenCV 5 for
    images 1 or 3 pixels wide; numpy arithmetic is right for any width and any OpenCV."""
    import reproducers.svm.seq_transforms as st

    monkeypatch.setattr(st, "cv2", _NoCv2())
    img = np.random.default_rng(sum(hw)).integers(0, 256, hw + (3,), dtype=np.uint8)
    out = st.imnormalize(img, IMAGENET_MEAN, IMAGENET_STD, to_rgb=True)
    assert out.dtype == np.float32 and out.shape == img.shape
    rgb = img[..., ::-1].astype(np.float64)
    expected = (rgb - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    keep = st.imnormalize(img, IMAGENET_MEAN, IMAGENET_STD, to_rgb=False)
    np.testing.assert_allclose(keep, (img - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD),
                               rtol=0, atol=1e-6)
    assert (img == np.random.default_rng(sum(hw)).integers(0, 256, hw + (3,),
                                                           dtype=np.uint8)).all()  # untouched


def test_normalize_bit_identical_to_mmcv_cv2_path_under_opencv4():
    """Every uint8 value in every channel equals mmcv.imnormalize's float32 result under
    OpenCV 4 (float64 arithmetic from the float32 mean/std, rounded once); values are those
    of the official pipeline, pinned here without OpenCV."""
    img = np.stack([np.arange(256)] * 3, -1).astype(np.uint8)[None]  # 1x256x3
    out = SeqNormalize()([frame(img)])[0]["img"][0]
    mean32, std32 = np.float32(IMAGENET_MEAN), np.float32(IMAGENET_STD)
    ref = ((img[0, :, ::-1].astype(np.float64) - mean32.astype(np.float64))
           * (1 / std32.astype(np.float64))).astype(np.float32)
    np.testing.assert_array_equal(out, ref)
    # spot values, float32 bit patterns under OpenCV 4.14 + mmcv's cv2 path
    assert out[0].tolist() == [-2.1179039478302, -2.0357143878936768, -1.804444432258606]
    assert out[255].tolist() == [2.248908281326294, 2.4285714626312256, 2.640000104904175]


def test_affine_warp_is_opencv4_fixed_point_bilinear():
    """SeqRandomAffine warps with cv2.warpPerspective, which under OpenCV 4 (the official
    pipeline's) quantises source coordinates to 1/32 pixel and blends with 15-bit weights.
    OpenCV 5.1 does not (up to 3 grey levels apart here): a new OpenCV that changes
    augmented pixels fails here first (``nox -s tests-latest``)."""
    import cv2

    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for dx in (0.5, 0.3, 1 / 32, 0.25):
        matrix = np.array([[1, 0, dx], [0, 1, 0], [0, 0, 1]], np.float64)
        # the call SeqRandomAffine makes
        out = cv2.warpPerspective(img, matrix, dsize=(30, 20), borderValue=(114, 114, 114))
        q = np.round((np.arange(30) - dx) * 32).astype(int)
        x0, w1 = q >> 5, np.round((q & 31) / 32 * 32768).astype(int)

        def px(i):
            inside = ((i >= 0) & (i < 30))[None, :, None]
            return np.where(inside, img.astype(int)[:, np.clip(i, 0, 29)], 114)

        ref = (px(x0) * (32768 - w1)[None, :, None] + px(x0 + 1) * w1[None, :, None]
               + (1 << 14)) >> 15
        np.testing.assert_array_equal(out.astype(int)[:, 1:-1], ref[:, 1:-1], err_msg=f"{dx=}")


def test_filter_rule_strict_and_keeps_empty_frames():
    boxes = [[0, 0, 1, 5], [0, 0, 5, 1], [0, 0, 1.5, 1.5], [0, 0, 2, 2]]
    clip = [frame(flat(8, 8, 0), boxes, ids=[10, 11, 12, 13]),
            frame(flat(8, 8, 0), [[0, 0, 0.5, 0.5]]),
            frame(flat(8, 8, 0))]
    out = SeqFilterAnnotations((1, 1))(clip)
    np.testing.assert_array_equal(out[0]["bboxes"], [[0, 0, 1.5, 1.5], [0, 0, 2, 2]])
    np.testing.assert_array_equal(out[0]["instance_ids"], [12, 13])
    assert out[0]["labels"].shape == (2,)
    assert len(out) == 3 and out[1]["bboxes"].shape == (0, 4) and out[1]["labels"].shape == (0,)
    assert out[2]["bboxes"].shape == (0, 4)


# ---- mosaic -------------------------------------------------------------------------------

def test_mosaic_placement_scaling_and_partner_frame_i():
    m = SeqMosaic(img_scale=(40, 60), center_ratio_range=(1.0, 1.0))
    clip = [frame(flat(40, 60, 10), [[5, 5, 15, 15]], [1]),
            frame(flat(40, 60, 11), [[5, 5, 15, 15]], [1])]
    partners = [
        [frame(flat(40, 60, 20), [[5, 5, 15, 15]], [2]),
         frame(flat(40, 60, 21), [[5, 5, 15, 15]], [2])],
        [frame(flat(80, 120, 30), [[10, 10, 30, 30]], [3]),      # resized by 0.5
         frame(flat(80, 120, 31), [[10, 10, 30, 30]], [3])],
        [frame(flat(20, 30, 40), [[1, 1, 3, 3]], [4]),           # resized by 2
         frame(flat(20, 30, 41), [[1, 1, 3, 3]], [4])],
    ]
    out = m(clip, np.random.default_rng(0), partners)
    for i, f in enumerate(out):
        img = f["img"]
        assert img.shape == (80, 120, 3) and f["img_shape"] == (80, 120)
        assert (img[:40, :60] == 10 + i).all() and (img[:40, 60:] == 20 + i).all()
        assert (img[40:, :60] == 30 + i).all() and (img[40:, 60:] == 40 + i).all()
        np.testing.assert_allclose(f["bboxes"], [[5, 5, 15, 15], [65, 5, 75, 15],
                                                 [5, 45, 15, 55], [62, 42, 66, 46]])
        np.testing.assert_array_equal(f["instance_ids"], [1, 2, 3, 4])
        assert f["bboxes"].dtype == np.float32 and f["labels"].dtype == np.int64


def test_mosaic_crop_shift_no_clip_and_outside_dropped():
    m = SeqMosaic(img_scale=(40, 60), center_ratio_range=(0.5, 0.5))  # centre (30, 20)
    img = noise(40, 60)
    boxes = [[40, 25, 50, 35], [0, 0, 10, 10], [25, 15, 35, 25]]
    clip = [frame(img, boxes)]
    partners = [[frame(flat(40, 60, 0))] for _ in range(3)]
    out = m(clip, np.random.default_rng(0), partners)[0]
    # top-left quadrant = canvas [0:20, 0:30] = patch [20:40, 30:60]
    np.testing.assert_array_equal(out["img"][:20, :30], img[20:, 30:])
    # shift (-30, -20); [0,0,10,10] lands fully outside and is dropped; no clipping
    np.testing.assert_allclose(out["bboxes"], [[10, 5, 20, 15], [-5, -5, 5, 5]])


def test_mosaic_centre_shared_across_frames():
    m = SeqMosaic(img_scale=(40, 60))
    clip = [frame(noise(40, 60, 1), [[5, 5, 20, 20]])] * 2
    partners = [[frame(noise(40, 60, k + 2), [[1, 1, 9, 9]])] * 2 for k in range(3)]
    for seed in range(5):
        out = m(clip, np.random.default_rng(seed), partners)
        assert_frames_equal(out[0], out[1])
    with pytest.raises(ValueError):
        m(clip, np.random.default_rng(0), partners[:2])


# ---- affine -------------------------------------------------------------------------------

def _no_random_affine(**kw):
    args = dict(max_rotate_degree=0, max_translate_ratio=0, scaling_ratio_range=(1, 1),
                max_shear_degree=0)
    args.update(kw)
    return SeqRandomAffine(**args)


def test_affine_border_crops_top_left_without_centering():
    t = _no_random_affine(border=(-10, -15))
    img = noise(40, 60)
    boxes = [[2, 2, 8, 8], [40, 30, 50, 35], [25, 15, 35, 25]]
    out = t([frame(img, boxes)], np.random.default_rng(0))[0]
    assert out["img"].shape == (20, 30, 3)
    np.testing.assert_array_equal(out["img"], img[:20, :30])
    # outside box dropped, the one crossing the border kept and not clipped
    np.testing.assert_allclose(out["bboxes"], [[2, 2, 8, 8], [25, 15, 35, 25]], atol=1e-5)
    np.testing.assert_array_equal(out["instance_ids"], [0, 2])


def test_affine_translation_and_scaling_move_boxes_by_known_amounts():
    t = _no_random_affine(max_translate_ratio=0.2)
    rng = np.random.default_rng(3)
    matrix, scale = t.sample_matrix(40, 60, copy.deepcopy(rng))
    tx, ty = matrix[0, 2], matrix[1, 2]
    assert scale == 1.0 and abs(tx) <= 12 and abs(ty) <= 8 and (tx, ty) != (0, 0)
    clip = [frame(flat(40, 60, 50), [[10, 10, 20, 20]]),
            frame(flat(40, 60, 50), [[30, 5, 40, 25]])]
    out = t(clip, rng)
    np.testing.assert_allclose(out[0]["bboxes"], [[10 + tx, 10 + ty, 20 + tx, 20 + ty]],
                               atol=1e-4)
    np.testing.assert_allclose(out[1]["bboxes"], [[30 + tx, 5 + ty, 40 + tx, 25 + ty]],
                               atol=1e-4)
    out = _no_random_affine(scaling_ratio_range=(2, 2))([frame(flat(40, 60, 0),
                                                               [[1, 1, 3, 3]])],
                                                        np.random.default_rng(0))
    np.testing.assert_allclose(out[0]["bboxes"], [[2, 2, 6, 6]])


def test_affine_one_matrix_for_all_frames():
    t = SeqRandomAffine(border=(-20, -30))
    img = noise(80, 120)
    clip = [frame(img, [[10, 10, 50, 40]]), frame(img.copy(), [[10, 10, 50, 40]])]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        matrix, _ = t.sample_matrix(40, 60, copy.deepcopy(rng))
        out = t(clip, rng)
        assert_frames_equal(out[0], out[1])
        assert out[0]["img"].shape == (40, 60, 3)
        expected = t.warp_boxes(clip[0]["bboxes"], matrix)
        if len(out[0]["bboxes"]):
            np.testing.assert_allclose(out[0]["bboxes"], expected, rtol=1e-6)


def test_affine_size_filter_off_by_default():
    clip = [frame(flat(40, 60, 0), [[1, 1, 1.5, 1.5], [5, 5, 20, 20]])]
    out = _no_random_affine()(clip, np.random.default_rng(0))[0]
    assert len(out["bboxes"]) == 2
    out = _no_random_affine(skip_filter=False)(clip, np.random.default_rng(0))[0]
    np.testing.assert_allclose(out["bboxes"], [[5, 5, 20, 20]])


# ---- mixup --------------------------------------------------------------------------------

def test_mixup_blend_and_boxes():
    m = SeqMixUp(img_scale=(40, 60), ratio_range=(1, 1), flip_ratio=1.0)  # never flips
    clip = [frame(flat(40, 60, 100), [[1, 1, 4, 4]], [7])]
    partner = [[frame(flat(40, 60, 51), [[5, 5, 15, 15]], [9])]]
    out = m(clip, np.random.default_rng(0), partner)[0]
    assert (out["img"] == 75).all()  # uint8(0.5 * 100 + 0.5 * 51) = uint8(75.5)
    np.testing.assert_allclose(out["bboxes"], [[1, 1, 4, 4], [5, 5, 15, 15]])
    np.testing.assert_array_equal(out["instance_ids"], [7, 9])
    m_flip = SeqMixUp(img_scale=(40, 60), ratio_range=(1, 1), flip_ratio=0.0)  # always flips
    out = m_flip(clip, np.random.default_rng(0), partner)[0]
    np.testing.assert_allclose(out["bboxes"][1], [45, 5, 55, 15])
    # an empty partner frame leaves the frame as it is
    out = m(clip, np.random.default_rng(0), [[frame(flat(40, 60, 0))]])[0]
    assert (out["img"] == 100).all() and len(out["bboxes"]) == 1


def test_mixup_scale_jitter_and_crop_offsets():
    m = SeqMixUp(img_scale=(40, 60), ratio_range=(1.5, 1.5), flip_ratio=1.0)
    clip = [frame(flat(40, 60, 0))]
    partner = [[frame(flat(20, 30, 80), [[2, 2, 10, 12]])]]  # fit scale 2, then x1.5
    rng = np.random.default_rng(5)
    jit, flip, y_off, x_off = m.resolve_params(None, copy.deepcopy(rng), 60 - 40, 90 - 60)
    assert jit == 1.5 and not flip
    out = m(clip, rng, partner)[0]
    np.testing.assert_allclose(out["bboxes"], [[6 - x_off, 6 - y_off, 30 - x_off, 36 - y_off]],
                               atol=1e-4)


def test_mixup_redraw_falsy_params_quirk():
    quirk = SeqMixUp(redraw_falsy_params=True)
    strict = SeqMixUp(redraw_falsy_params=False)
    flips, offsets = set(), set()
    for seed in range(60):
        got = quirk.resolve_params((1.2, False, 0, 0), np.random.default_rng(seed), 10, 10)
        assert got[0] == 1.2
        flips.add(got[1])
        offsets.add(got[2:])
        assert strict.resolve_params((1.2, False, 0, 0), np.random.default_rng(seed), 10,
                                     10) == (1.2, False, 0, 0)
        for t in (quirk, strict):  # truthy values are always reused
            assert t.resolve_params((1.3, True, 3, 4), np.random.default_rng(seed), 10,
                                    10) == (1.3, True, 3, 4)
    assert flips == {False, True} and len(offsets) > 1


def test_mixup_frames_can_differ_only_with_the_quirk():
    img = noise(40, 60)
    clip = [frame(img, [[1, 1, 9, 9]]), frame(img.copy(), [[1, 1, 9, 9]])]
    p = frame(noise(40, 60, 9), [[2, 3, 20, 30]])
    partners = [[p, copy.deepcopy(p)]]
    differ = 0
    for seed in range(30):
        kw = dict(img_scale=(40, 60), ratio_range=(1.2, 1.6))
        out = SeqMixUp(**kw, redraw_falsy_params=False)(clip, np.random.default_rng(seed),
                                                        partners)
        assert_frames_equal(out[0], out[1])
        out = SeqMixUp(**kw)(clip, np.random.default_rng(seed), partners)
        differ += not np.array_equal(out[0]["bboxes"], out[1]["bboxes"])
    assert differ > 0


# ---- hsv, pipeline ------------------------------------------------------------------------

def test_hsv_gains_shared():
    t = SeqYOLOXHSVRandomAug()
    img = noise(16, 16)
    changed = 0
    for seed in range(10):
        gains = t.sample_gains(np.random.default_rng(seed))
        assert gains.dtype == np.int16 and abs(gains[0]) <= 5 and np.abs(gains[1:]).max() <= 30
        out = t([frame(img), frame(img.copy())], np.random.default_rng(seed))
        np.testing.assert_array_equal(out[0]["img"], out[1]["img"])
        assert out[0]["img"].dtype == np.uint8
        changed += not np.array_equal(out[0]["img"], img)
    assert changed > 0


def test_build_train_pipeline_official_order_and_sizes():
    p = build_train_pipeline((800, 1440))
    names = [type(t).__name__ for t in p.transforms]
    assert names == ["SeqMosaic", "SeqRandomAffine", "SeqMixUp", "SeqYOLOXHSVRandomAug",
                     "SeqRandomFlip", "SeqResize", "SeqNormalize", "SeqPad",
                     "SeqFilterAnnotations"]
    mosaic, affine, mixup = p.transforms[:3]
    assert mosaic.img_scale == (800, 1440) and mosaic.pad_val == 114.0 and mosaic.prob == 1.0
    assert affine.border == (-400, -720) and affine.scaling_ratio_range == (0.1, 2.0)
    assert not affine.bbox_clip_border and affine.skip_filter
    assert mixup.img_scale == (800, 1440) and mixup.ratio_range == (0.8, 1.6)
    assert mixup.redraw_falsy_params
    assert build_train_pipeline((64, 96)).transforms[1].border == (-32, -48)


def test_full_pipeline_identical_frames_stay_identical():
    img = noise(48, 80, 1)
    clip = [frame(img, [[5, 5, 30, 40]]), frame(img.copy(), [[5, 5, 30, 40]])]
    partner_clips = []
    for k in range(4):
        f = frame(noise(60, 40, k + 2), [[3, 3, 25, 50]])
        partner_clips.append([f, copy.deepcopy(f)])
    pipe = build_train_pipeline((64, 96), mixup_redraw_falsy_params=False)
    for seed in range(4):
        out = pipe(copy.deepcopy(clip), np.random.default_rng(seed), ListSource(partner_clips))
        assert len(out) == 2
        assert out[0]["img"].shape == (64, 96, 3) and out[0]["img"].dtype == np.float32
        assert_frames_equal(out[0], out[1])
        assert out[0]["bboxes"].dtype == np.float32
    with pytest.raises(ValueError):
        SeqCompose([SeqMosaic()])(clip, np.random.default_rng(0))
