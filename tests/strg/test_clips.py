"""STRG clips: sampled frames and store boxes stay aligned through resize and crop."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from reproducers.common.video.formats import VideoSample
from reproducers.strg.box_store import BoxStoreWriter
from reproducers.strg.clips import STRGClips, temporal_indices

H, W, N = 100, 160, 20


def _rect(t: int) -> tuple[int, int, int, int]:
    x1, y1 = 10 + 4 * t, 20 + t
    return x1, y1, x1 + 40, y1 + 30


@pytest.fixture
def video(tmp_path):
    folder = tmp_path / "v1"
    folder.mkdir()
    for t in range(N):
        img = np.zeros((H, W, 3), np.uint8)
        x1, y1, x2, y2 = _rect(t)
        img[y1:y2, x1:x2] = 255
        Image.fromarray(img).save(folder / f"{t + 1:05d}.jpg", quality=95)
    writer = BoxStoreWriter(boxes_per_frame=2, frame_step=2)
    frames = list(range(0, N, 2))
    writer.add("v1", (H, W), frames,
               [torch.tensor([list(_rect(t))], dtype=torch.float32) for t in frames],
               [torch.ones(1) for _ in frames])
    sample = VideoSample("v1", folder, 3, read_kwargs={"pattern": "{:05d}.jpg",
                                                       "start_number": 1})
    return sample, writer.finish()


def _inside_outside(item):
    video, boxes = item["video"], item["boxes"]  # (clips, 3, T, h, w), (clips, T/2, K, 4)
    inside, outside = [], []
    for c in range(video.shape[0]):
        for b in range(boxes.shape[1]):
            frame = video[c, :, 2 * b].mean(0)
            x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[c, b, 0])
            core = frame[y1 + 3:y2 - 3, x1 + 3:x2 - 3]
            if core.numel():
                inside.append(core.mean())
            mask = torch.ones_like(frame, dtype=torch.bool)
            mask[max(0, y1 - 3):y2 + 3, max(0, x1 - 3):x2 + 3] = False
            outside.append(frame[mask].mean())
    return torch.stack(inside), torch.stack(outside)


@pytest.mark.parametrize("train", [True, False])
def test_boxes_follow_the_pixels(video, train):
    sample, store = video
    cfg = {"frames": 8, "stride": 2, "crop": 96, "train_short_side": (110, 130),
           "test_short_side": 120, "box_step": 2}
    random.seed(0)
    item = STRGClips([sample], cfg, train=train, store=store, clips=2)[0]
    clips = 1 if train else 2
    assert item["boxes"].shape == (clips, 4, 2, 4)
    if train:
        assert item["video"].shape == (1, 3, 8, 96, 96)
    else:
        assert item["video"].shape == (2, 3, 8, 120, 192)  # full frame at short side 120
    inside, outside = _inside_outside(item)
    assert len(inside) > 0 and (inside > 1.5).all() and (outside < -1.5).all()
    # padding rule: the second box is the whole frame
    if not train:
        torch.testing.assert_close(item["boxes"][0, 0, 1], torch.tensor([0., 0., 192., 120.]),
                                   atol=0.2, rtol=0)


def test_temporal_modes():
    rng = random.Random(0)
    paper = temporal_indices(100, {"frames": 32, "stride": 2}, False, rng, clips=2)
    assert paper.shape == (2, 32) and (np.diff(paper, axis=1) == 2).all()
    short = temporal_indices(20, {"frames": 32, "stride": 2}, True, rng)
    assert short.max() == 19  # clamped to the video
    jd730 = temporal_indices(40, {"frames": 32, "sampling": "jd730"}, False, rng, clips=3)
    assert jd730[:, 0].tolist() == [0, 4, 8]
    train = temporal_indices(40, {"frames": 32, "sampling": "jd730"}, True, rng)
    assert train.shape == (1, 32) and (np.diff(train[0]) == 1).all()


def test_jd730_crop_and_flip_keep_boxes_on_the_pixels(video):
    sample, store = video
    cfg = {"frames": 8, "sampling": "jd730", "crop": 64, "train_crop": "jd730", "hflip": 0.5,
           "rrc_scale": (0.6, 1.0), "box_step": 2}
    flips = set()
    for seed in range(6):
        random.seed(seed)
        item = STRGClips([sample], cfg, train=True, store=store)[0]
        assert item["video"].shape == (1, 3, 8, 64, 64)
        inside, outside = _inside_outside(item)
        assert len(inside) > 0 and (inside > 1.0).all() and (outside < -1.0).all(), seed
        b = item["boxes"][0, 0, 0]
        flips.add(bool(b[0] > 64 - b[2]))  # box centre right of the middle: flipped
    assert flips == {True, False}
