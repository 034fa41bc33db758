"""Clip transforms: one random draw per clip, identical on every frame; flip policy."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from reproducers.common.video import transforms as T
from reproducers.harness.errors import UserError

RA = "rand-m9-n4-mstd0.5-inc1"  # SViT uses m7-n4; m9 makes every op visible


def _frame(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 4) % 256, (yy * 5) % 256, (xx + yy) * 2 % 256], -1)
    img = img + rng.integers(0, 40, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _seed(s: int) -> None:
    random.seed(s)
    np.random.seed(s)


def test_randaugment_identical_frames_stay_identical():
    ra = T.RandAugmentClip(RA)
    clip = np.stack([_frame(0)] * 6)
    changed = 0
    for s in range(25):
        _seed(s)
        out = ra(clip)
        assert len(ra.last_ops) == 4
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], out[t]) for t in range(1, 6)), ra.last_ops
        changed += not np.array_equal(out[0], clip[0])
    assert changed > 15  # the ops really ran


def test_randaugment_same_op_sequence_on_different_frames():
    """Each frame of a clip equals that frame augmented alone with the clip's draws."""
    ra = T.RandAugmentClip(RA)
    a, b = _frame(1), _frame(2)
    for s in range(15):
        _seed(s)
        out = ra(np.stack([a, b, a]))
        ops = list(ra.last_ops)
        assert np.array_equal(out[0], out[2])
        _seed(s)
        alone_b = ra(b[None])[0]
        assert ra.last_ops == ops
        assert np.array_equal(out[1], alone_b)


def test_per_frame_timm_randaugment_would_differ():
    """Control: timm's RandAugment called per frame draws new ops per frame."""
    from PIL import Image
    from timm.data.auto_augment import rand_augment_transform

    ra = rand_augment_transform(RA, {"translate_const": 20})
    img = Image.fromarray(_frame(0))
    _seed(0)
    outs = [np.asarray(ra(img)) for _ in range(6)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_flip_refused_for_something_something():
    for name in ("ssv2", "ssv1"):
        with pytest.raises(UserError, match="flip refused for " + name):
            T.build_clip_transform({"dataset": name, "hflip_prob": 0.5}, train=True)
    with pytest.raises(UserError, match="needs the dataset declared"):
        T.build_clip_transform({"hflip_prob": 0.5}, train=True)
    T.build_clip_transform({"dataset": "k400", "hflip_prob": 0.5}, train=True)
    T.build_clip_transform({"dataset": "ssv1", "hflip_prob": 0.5, "flip_quirk": True}, True)
    T.build_clip_transform({"dataset": "ssv2", "hflip_prob": 0.5}, train=False)  # eval: no flip


def test_unknown_key_is_a_user_error():
    with pytest.raises(UserError, match="unknown clip transform keys"):
        T.build_clip_transform({"crop": 224}, train=True)


@pytest.mark.parametrize("hw,size,expected", [
    ((240, 320), 224, (224, 298)),  # 320/240*224 = 298.67 -> floor
    ((320, 240), 224, (298, 224)),
    ((240, 427), 224, (224, 398)),
    ((256, 341), 256, (256, 341)),  # short side already 256: untouched
    ((100, 100), 224, (224, 224)),
])
def test_short_side_scale_sizes(hw, size, expected):
    clip = np.zeros((2, *hw, 3), np.uint8)
    assert T.short_side_scale(clip, size).shape[1:3] == expected
    assert T.short_side_scale(torch.zeros(3, 2, *hw), size).shape[-2:] == expected


def test_random_resized_crop_same_box_every_frame():
    base = torch.rand(3, 1, 60, 80) * 100
    clip = base + 10.0 * torch.arange(5).view(1, 5, 1, 1)
    rng = random.Random(3)
    for _ in range(20):
        out = T.random_resized_crop(clip, 32, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        assert out.shape == (3, 5, 32, 32)
        for t in range(5):
            torch.testing.assert_close(out[:, t] - out[:, 0], torch.full_like(out[:, 0], 10.0 * t))


def test_rrc_params_in_bounds():
    rng = random.Random(0)
    for _ in range(200):
        top, left, h, w = T.rrc_params(60, 80, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 80 and h > 0 and w > 0


def test_uniform_crops_follow_the_long_side():
    clip = torch.arange(224 * 298, dtype=torch.float32).view(1, 1, 224, 298)
    lefts = [int(T.uniform_crop(clip, 224, i)[0, 0, 0, 0]) for i in range(3)]
    assert lefts == [0, 37, 74]  # 0, ceil(74 / 2), 298 - 224


def test_random_erasing_one_box_for_the_clip():
    for mode in ("const", "pixel"):
        er = T.RandomErasingClip(1.0, mode=mode)
        torch.manual_seed(0)
        random.seed(0)
        x = torch.ones(3, 6, 32, 32)
        out = er(x)
        mask = out != 1
        assert mask.any()
        for t in range(6):
            assert torch.equal(mask[0, t], mask[0, 0]) or mode == "pixel"
        box = mask.any(0)  # [T, H, W]
        assert all(torch.equal(box[t], box[0]) for t in range(6))
        if mode == "pixel":  # fresh noise per frame
            assert not torch.equal(out[:, 0][mask[:, 0]], out[:, 1][mask[:, 1]])


def test_video_cutmix_cuts_the_same_box_from_every_frame():
    mix = T.VideoMixup(mixup_alpha=0.0, cutmix_alpha=1.0, prob=1.0, num_classes=4,
                       label_smoothing=0.0)
    cut = 0
    for s in range(6):
        np.random.seed(s)
        x = torch.stack([torch.ones(3, 5, 32, 32), torch.zeros(3, 5, 32, 32)])
        out, target = mix(x, torch.tensor([0, 1]))
        assert out.shape == (2, 3, 5, 32, 32)
        pasted = out[0] == 0
        assert all(torch.equal(pasted[c, t], pasted[0, 0]) for c in range(3) for t in range(5))
        torch.testing.assert_close(target.sum(1), torch.ones(2))
        if pasted.any():
            cut += 1
            lam = float(target[0, 0])
            assert abs(float(pasted[0, 0].float().mean()) - (1 - lam)) < 1e-6
    assert cut >= 3


def test_normalize_and_bgr_order():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[..., 0] = 255  # pure red, RGB
    tr = T.build_clip_transform({"channel_order": "bgr", "crop_size": 4, "mean": (0.5,) * 3,
                                 "std": (0.5,) * 3}, train=False)
    out = tr(frames)
    assert out.shape == (3, 2, 4, 4)
    assert torch.all(out[2] == 1.0) and torch.all(out[0] == -1.0)  # red is the last channel


def test_train_pipeline_shapes_and_kinds():
    clip = np.stack([_frame(i, 60, 80) for i in range(4)])
    cfg = {"dataset": "ssv2", "rand_augment": "rand-m7-n4-mstd0.5-inc1", "crop_size": 32,
           "random_erasing": {"prob": 0.25, "mode": "pixel"}}
    out = T.build_clip_transform(cfg, train=True)(clip)
    assert out.shape == (3, 4, 32, 32) and out.dtype == torch.float32
    jit = T.build_clip_transform({"dataset": "k400", "train_crop": "short_side_jitter",
                                  "jitter_scales": (40, 50), "crop_size": 32,
                                  "hflip_prob": 0.5}, train=True)
    assert jit(clip).shape == (3, 4, 32, 32)


def test_posterize_to_zero_bits_gives_black_as_old_pillow():
    from PIL import Image

    img = Image.fromarray(_frame(0))
    assert not np.asarray(T._posterize(img, 0)).any()
    assert np.array_equal(np.asarray(T._posterize(img, 8)), np.asarray(img))
    ra = T.RandAugmentClip("rand-m20-mstd0.5-inc1")  # K-center: magnitude clipped to 10
    seen = set()
    for s in range(40):
        _seed(s)
        ra(np.stack([_frame(0)] * 2))
        seen.update(ra.last_ops)
    assert "PosterizeIncreasing" in seen


def test_mixup_only_when_asked():
    assert T.build_mixup(None, 4) is None and T.build_mixup({}, 4) is None
    mix = T.build_mixup({"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "label_smoothing": 0.1}, 4)
    x, y = mix(torch.rand(2, 3, 2, 8, 8), torch.tensor([0, 3]))
    assert x.shape == (2, 3, 2, 8, 8) and y.shape == (2, 4)
    with pytest.raises(UserError, match="unknown mixup keys"):
        T.build_mixup({"alpha": 0.8}, 4)
