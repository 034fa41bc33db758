"""Kinetics-400 and Something-Something v2 as K-centered patch sampling reads them.

Layouts under ``--data-root`` (kami93/kcenter_video @ ef7a40a, datasets/kinetics/
kinetics_mp4.py + decoder.py, datasets/ssv2/ssv2.py; parsers in ``common.video``):

- Kinetics-400: ``annotations/{train,val}.csv`` (official csv; class = position of the label
  in the sorted labels of that csv) and ``{train,val}/{youtube_id}_{start:06d}_{end:06d}.mp4``
  at short side 256. Val *and* test read ``val.csv``. 32 frames over 8 * 32 / 30 * fps
  frames: a random start in training, start 0 at val/test as released
  (``kinetics_test_start: "centre"`` centres the clip instead).
- SSv2: ``something-something-v2-{labels,train,validation}.json`` and frame folders
  ``<frames>/<id>/<id>_<idx:06d>.jpeg`` (0-based); 32 TSN segments (random frame in each in
  training, the middle at test). Val and test read the validation json.

The loader ships uint8 frames [3, 32, 224, 224] (4.8 MB, a quarter of the official float32
32x14x14x771 grid it replaces); the model normalises them (mean = std = 0.5, as released) and
builds the dense grid on the device (``tokens.patch_grid``). Resizing happens before the
rounding to uint8, so a pixel differs from the official float pipeline by at most 0.5/255
before normalisation; ``ship: "float32"`` ships the normalised floats as released.
Training augmentation: short side 1/U(1/320, 1/256), random 224 crop; Kinetics: flip 0.5 and
colour jitter on normalised frames; SSv2: RandAugment ``rand-m20-mstd0.5-inc1`` (timm clips
the magnitude to 10), no flip. Test: short side 224, 3 crops.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from reproducers.common.video import kinetics, ssv2
from reproducers.common.video.dataset import VideoClipDataset, protocol_views
from reproducers.common.video.dataset import fingerprint as clip_fingerprint
from reproducers.common.video.formats import FrameNaming
from reproducers.common.video.samplers import dense_clip, ssv2_uniform_segments
from reproducers.common.video.transforms import build_clip_transform
from reproducers.harness.errors import UserError

NUM_FRAMES = 32
# SSv2 frame folders <dir>/<id>/<id>_%06d.jpeg, 0-based (kami93/kcenter_video
# datasets/ssv2/ssv2.py)
SSV2_FRAMES = FrameNaming("{vid}_{:06d}.jpeg", 0)
KINETICS_STRIDE, KINETICS_FPS = 8, 30.0
TEST_STARTS = ("zero", "centre")
SHIP = ("uint8", "float32")


def _transform_config(dataset: str, config: dict) -> dict:
    raw = config.get("ship", "uint8") == "uint8"  # keep 0..255 through resize and crop
    cfg = {"dataset": "k400" if dataset == "kinetics" else "ssv2",
           "mean": (0.0,) * 3 if raw else (0.5,) * 3,
           "std": (1 / 255,) * 3 if raw else (0.5,) * 3, "crop_size": config.get("crop_size", 224),
           "train_crop": "short_side_jitter",
           "jitter_scales": tuple(config.get("jitter_scales", (256, 320))),
           "inverse_uniform": True, "test_scale": config.get("crop_size", 224)}
    if dataset == "kinetics":
        cfg["hflip_prob"] = 0.5
    else:
        cfg["rand_augment"] = config.get("rand_augment", "rand-m20-mstd0.5-inc1")
    return cfg


class ColourJitter:
    """PySlowFast ``color_jitter`` on normalised [C, T, H, W] frames (the released Kinetics
    recipe applies it after normalisation): with probability ``prob``, brightness, contrast
    and saturation factors in [1 - s, 1 + s], in random order."""

    def __init__(self, strength: float = 0.4, prob: float = 0.8):
        self.strength, self.prob = strength, prob

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if random.random() >= self.prob:
            return x
        for op in random.sample(("brightness", "contrast", "saturation"), 3):
            alpha = 1.0 + random.uniform(-self.strength, self.strength)
            gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
            if op == "brightness":
                x = x * alpha
            elif op == "contrast":
                x = x * alpha + gray.mean() * (1 - alpha)
            else:
                x = x * alpha + gray * (1 - alpha)
        return x


class KCenterTransform:
    """uint8 [T, H, W, 3] -> [3, T, crop, crop]: uint8 (``ship="uint8"``) or normalised
    float32 (``ship="float32"``). Kinetics colour jitter acts on normalised frames, so with
    uint8 shipping it runs in the training step instead (``task``)."""

    def __init__(self, dataset: str, config: dict, train: bool):
        self.ship = config.get("ship", "uint8")
        if self.ship not in SHIP:
            raise UserError(f"ship {self.ship!r}: use one of {SHIP}")
        self.base = build_clip_transform(_transform_config(dataset, config), train)
        self.jitter = ColourJitter() if (train and dataset == "kinetics" and self.ship ==
                                         "float32" and config.get("colour_jitter", True)) \
            else None

    def __call__(self, frames: np.ndarray, spatial_idx: int | None = None) -> torch.Tensor:
        x = self.base(frames) if spatial_idx is None else self.base(frames, spatial_idx)
        if self.ship == "uint8":
            return x.round_().clamp_(0, 255).to(torch.uint8)
        return self.jitter(x).contiguous() if self.jitter is not None else x


class KineticsIndices:
    """32 frames of a dense clip of 8 * 32 / 30 * fps frames (``samplers.dense_clip``): a
    random start in training; at val/test one clip starting at frame 0 (released) or, with
    ``test_start="centre"``, centred (``use_offset``)."""

    def __init__(self, test_start: str = "zero"):
        if test_start not in TEST_STARTS:
            raise UserError(f"kinetics_test_start {test_start!r}: use one of {TEST_STARTS}")
        self.test_start = test_start

    def __call__(self, info: dict, *, train: bool, rng, clip_idx: int, num_clips: int):
        return dense_clip(info["num_frames"], NUM_FRAMES, KINETICS_STRIDE, train=train, rng=rng,
                          clip_idx=clip_idx, num_clips=num_clips, fps=info.get("fps"),
                          target_fps=KINETICS_FPS, use_offset=self.test_start == "centre")


class SegmentsOf32:
    def __call__(self, info: dict, *, train: bool, rng, clip_idx: int, num_clips: int):
        return ssv2_uniform_segments(info["num_frames"], NUM_FRAMES, train=train, rng=rng)


def build_video(root, split: str, config: dict, *, train: bool = False,
                protocol=None) -> VideoClipDataset:
    """The clip dataset of ``split`` ("train", "val"/"validation" or "test"); evaluation
    views from ``protocol`` (released: 1 clip x 3 crops)."""
    dataset = config.get("dataset")
    root = Path(root)
    views = protocol_views(protocol, train)
    common = {"transform": KCenterTransform(dataset, config, train), "train": train,
              "views": views, "max_bad_fraction": float(config.get("max_bad_fraction", 0.0))}
    if dataset == "kinetics":
        csv_split = "train" if split == "train" else "val"  # val and test read val.csv
        index = kinetics.build_split(root, csv_split)  # classes: sorted labels of that csv
        return VideoClipDataset.from_split(
            index, index_fn=KineticsIndices(config.get("kinetics_test_start", "zero")),
            **common)
    if dataset == "ssv2":
        json_split = "train" if split == "train" else "validation"  # test reads validation
        index = ssv2.build_split(root, json_split, naming=SSV2_FRAMES)
        return VideoClipDataset.from_split(index, index_fn=SegmentsOf32(), **common)
    raise UserError(f"unknown K-center dataset {dataset!r}: use kinetics or ssv2")


def fingerprint(dataset) -> dict:
    return clip_fingerprint(dataset)
