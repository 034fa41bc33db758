"""STRG clips with their proposal boxes: frames and boxes sampled and transformed together.

Temporal sampling (0-based frame positions):

* ``paper``: ``frames`` frames exactly ``stride`` apart (32 at 6 fps = stride 2 on SSv1's
  12-fps frames; Charades 32 with stride 4 at 24 fps [LFB]) spanning ``frames * stride``;
  training start uniform in [0, n - span], test clip i of c starting at round(i * (n - span)
  / (c - 1)) (evenly from first to last; the centre for one clip); positions past the end
  repeat the last frame (the paper does not say how short videos are handled).
* ``jd730``: consecutive frames, random start, loop-padded (``strg_indices``; 3 even clips at
  validation).

Boxes: one box frame for every ``box_step``-th sampled frame (2: the 16 box frames of 32 input
frames, one per feature frame); each takes the store's box frame nearest to it.

Spatial (the paper's, p10-11): training rescales the short side to U[256, 320] and crops
``crop`` (224) at random; testing rescales the short side to ``test_short_side`` (256) and
keeps the full frame (the network is fully convolutional) unless ``test_crop`` is set.
``train_crop: jd730`` is jd730's training instead (``spatial_transforms.py``): an Inception
crop (area U[0.25, 1], aspect [3/4, 4/3]) resized to ``crop``, then a horizontal flip with
probability ``hflip`` (0.5, kept on Something-Something as jd730 does, although its labels
name left and right). Boxes are scaled, shifted (and flipped) with the frames and clipped to
the crop. Pixels are normalised with
ImageNet's RGB mean and std (the torchvision weights the I3D is inflated from).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reproducers.common.video.decode import read_frames, video_info
from reproducers.common.video.formats import VideoSample
from reproducers.common.video.transforms import (
    crop,
    normalize,
    resize,
    rrc_params,
    short_side_size,
)

from .box_store import BoxStore
from .jd730_sampling import strg_indices

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def temporal_indices(num_frames: int, cfg: Mapping[str, Any], train: bool,
                     rng: random.Random, clips: int = 1) -> np.ndarray:
    """(clips, frames) 0-based frame positions; ``clips`` test clips (the protocol's
    ``temporal_clips``) when not ``train``, one random clip in training."""
    frames = cfg["frames"]
    if cfg.get("sampling", "paper") == "jd730":
        return strg_indices(num_frames, frames, mode="train" if train else "val",
                            rng=rng.randrange(2 ** 63), n_val_samples=clips)
    stride = cfg.get("stride", 2)
    delta = max(0, num_frames - frames * stride)
    if train:
        starts = [rng.randint(0, delta)]
    else:
        starts = [delta // 2] if clips == 1 else \
            [round(i * delta / (clips - 1)) for i in range(clips)]
    offsets = np.arange(frames) * stride
    return np.minimum(np.array(starts)[:, None] + offsets, num_frames - 1)


def transform_boxes(boxes: torch.Tensor, scale: tuple[float, float], offset: tuple[int, int],
                    size: tuple[int, int]) -> torch.Tensor:
    """Pixels of the original frame -> pixels of the resized (scale_y, scale_x) and cropped
    (top, left) frame of ``size`` (height, width), clipped to it."""
    sy, sx = scale
    top, left = offset
    out = boxes * torch.tensor([sx, sy, sx, sy]) - torch.tensor([left, top, left, top])
    h, w = size
    return torch.stack([out[..., 0].clamp(0, w), out[..., 1].clamp(0, h),
                        out[..., 2].clamp(0, w), out[..., 3].clamp(0, h)], -1)


class STRGClips(Dataset):
    """``samples`` of a split; ``store`` None for the I3D baselines (no boxes). Items:
    {"video": (clips, 3, T, H, W), "boxes": (clips, T / box_step, K, 4) or absent,
    "label": int, "targets": multi-hot (Charades) or absent, "index": int}; ``clips`` test
    clips per video (the protocol's), 1 in training."""

    def __init__(self, samples: Sequence[VideoSample], cfg: Mapping[str, Any], train: bool,
                 store: BoxStore | None = None, seed: int = 0, clips: int = 1):
        self.samples, self.cfg, self.train, self.store = list(samples), dict(cfg), train, store
        self.seed, self.clips = seed, 1 if train else clips

    def __len__(self) -> int:
        return len(self.samples)

    def _num_frames(self, s: VideoSample) -> int:
        if s.num_frames is None:
            s.num_frames = int(video_info(s.path, **s.read_kwargs)["num_frames"])
        return s.num_frames

    def _spatial(self, rng: random.Random, h: int, w: int) -> tuple[tuple[int, int], tuple]:
        """(resized (h, w), crop window (top, left, height, width))."""
        cfg = self.cfg
        if self.train:
            lo, hi = cfg.get("train_short_side", (256, 320))
            nh, nw = short_side_size(h, w, rng.randint(lo, hi))
            c = cfg.get("crop", 224)
            return (nh, nw), (rng.randint(0, nh - c), rng.randint(0, nw - c), c, c)
        nh, nw = short_side_size(h, w, cfg.get("test_short_side", 256))
        c = cfg.get("test_crop")
        if c is None:
            return (nh, nw), (0, 0, nh, nw)
        return (nh, nw), ((nh - c) // 2, (nw - c) // 2, c, c)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        rng = random if self.train else random.Random(self.seed * 1_000_003 + i)
        idx = temporal_indices(self._num_frames(s), self.cfg, self.train, rng, self.clips)
        frames = read_frames(s.path, idx.reshape(-1), **s.read_kwargs)
        h, w = frames.shape[1:3]
        flip = False
        if self.train and self.cfg.get("train_crop") == "jd730":
            top0, left0, h0, w0 = rrc_params(h, w, self.cfg.get("rrc_scale", (0.25, 1.0)),
                                             (3 / 4, 4 / 3), rng)
            ch = cw = self.cfg.get("crop", 224)
            frames = resize(crop(frames, top0, left0, h0, w0), ch, cw)
            nh, nw = h * ch / h0, w * cw / w0  # the full frame at the crop's scale
            top, left = top0 * ch / h0, left0 * cw / w0
            flip = rng.random() < self.cfg.get("hflip", 0.5)
            if flip:
                frames = np.ascontiguousarray(frames[:, :, ::-1])
        else:
            (nh, nw), (top, left, ch, cw) = self._spatial(rng, h, w)
            frames = crop(resize(frames, nh, nw), top, left, ch, cw)
        video = normalize(frames, MEAN, STD)  # (3, clips*T, ch, cw)
        clips, t = idx.shape
        item = {"video": video.view(3, clips, t, ch, cw).transpose(0, 1), "index": i,
                "label": s.label}
        if "targets" in s.meta:
            item["targets"] = s.meta["targets"]
        if self.store is not None:
            step = self.cfg.get("box_step", 2)
            boxes = torch.stack([self.store.clip_boxes(s.video_id, clip[::step].tolist())
                                 for clip in idx])
            boxes = transform_boxes(boxes, (nh / h, nw / w), (top, left), (ch, cw))
            if flip:
                boxes = torch.stack([cw - boxes[..., 2], boxes[..., 1], cw - boxes[..., 0],
                                     boxes[..., 3]], -1)
            item["boxes"] = boxes
        return item
