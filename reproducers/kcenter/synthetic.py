"""Synthetic K-center smoke data in the official layouts, with classes decided by short events.

Every video is a smooth, slowly drifting colour field; its class is a short event: for
``event_frames`` consecutive frames at a random time, a one-patch square of the class's colour
appears at a random place. Eight uniformly spread frames often miss it; 32 frames do not, and
the square's patches stand out from the field, so farthest-point (K-center) sampling keeps
them. Layouts: SSv2 frame folders ``frames/<id>/<id>_<idx:06d>.jpeg`` with the three json
files (kcenter_video datasets/ssv2/ssv2.py), Kinetics ``annotations/{train,val}.csv`` and
``{train,val}/<youtube_id>_<start:06d>_<end:06d>.mp4`` (datasets/kinetics/kinetics_mp4.py).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from reproducers.common.video.synthetic import write_video

COLOURS = np.array([[255, 40, 40], [40, 255, 40], [40, 40, 255], [255, 255, 40],
                    [255, 40, 255], [40, 255, 255]], dtype=np.float32)
TEMPLATES = ["Showing a red flash", "Showing a green flash", "Showing a blue flash",
             "Showing a yellow flash", "Showing a magenta flash", "Showing a cyan flash"]
KINETICS_LABELS = ["flash blue", "flash green", "flash red", "flash yellow", "flash magenta",
                   "flash cyan"]


def event_clip(label: int, rng: np.random.Generator, frames: int, size: int,
               event_frames: int = 3, square: int = 24) -> np.ndarray:
    """uint8 [frames, size, size, 3]: a grey, slowly drifting field plus the class's short
    flash (a saturated square of ``square`` pixels, so it covers at least one whole patch)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    phase = rng.uniform(0, 2 * np.pi)
    freq = rng.uniform(1.0, 3.0)
    level = rng.uniform(90, 150)
    clip = np.empty((frames, size, size, 3), np.float32)
    for t in range(frames):
        clip[t] = (level + 30 * np.sin(2 * np.pi * freq * (x + y) / 2 + phase + 0.05 * t)
                   )[..., None]
    clip += rng.normal(0, 4, clip.shape)
    start = int(rng.integers(0, frames - event_frames + 1))
    top, left = (int(v) for v in rng.integers(0, size - square + 1, 2))
    clip[start:start + event_frames, top:top + square, left:left + square] = COLOURS[label]
    return np.clip(clip, 0, 255).astype(np.uint8)


def _videos(n_per_class: int, classes: int, rng, frames: int, size: int, event_frames: int):
    order = [c for c in range(classes) for _ in range(n_per_class)]
    rng.shuffle(order)
    for label in order:
        yield label, event_clip(label, rng, frames, size, event_frames)


def write_ssv2_events(root, n_per_class: int = 16, n_val_per_class: int = 8, classes: int = 4,
                      frames: int = 48, size: int = 64, event_frames: int = 3,
                      seed: int = 0) -> dict[str, Path]:
    root = Path(root)
    rng = np.random.default_rng(seed)
    frames_dir = root / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    labels = {TEMPLATES[c]: str(c) for c in range(classes)}
    (root / "something-something-v2-labels.json").write_text(json.dumps(labels))
    next_id = 1
    for split, n in (("train", n_per_class), ("validation", n_val_per_class)):
        entries = []
        for label, clip in _videos(n, classes, rng, frames, size, event_frames):
            vid = str(next_id)
            (frames_dir / vid).mkdir(exist_ok=True)
            for i, frame in enumerate(clip):
                Image.fromarray(frame).save(frames_dir / vid / f"{vid}_{i:06d}.jpeg",
                                            quality=95)
            entries.append({"id": vid, "template": TEMPLATES[label], "label": TEMPLATES[label],
                            "placeholders": []})
            next_id += 1
        (root / f"something-something-v2-{split}.json").write_text(json.dumps(entries))
    return {"root": root, "frames": frames_dir}


def write_kinetics_events(root, n_per_class: int = 16, n_val_per_class: int = 8,
                          classes: int = 4, frames: int = 96, size: int = 64,
                          event_frames: int = 3, fps: int = 10, seed: int = 0
                          ) -> dict[str, Path]:
    """At ``fps`` 10 the official clip (8 * 32 / 30 * fps = 85 frames) fits in 96 frames."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_per_class), ("val", n_val_per_class)):
        (root / split).mkdir(parents=True, exist_ok=True)
        rows = []
        for k, (label, clip) in enumerate(_videos(n, classes, rng, frames, size,
                                                  event_frames)):
            yid = f"{split[:2]}{k:09d}"
            write_video(root / split / f"{yid}_{0:06d}_{10:06d}.mp4", clip, fps=fps,
                        codec="libx264")
            rows.append([KINETICS_LABELS[label], yid, 0, 10, split, 0])
        (root / "annotations").mkdir(exist_ok=True)
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
            writer.writerows(rows)
    return {"root": root}


def synthesize(root, config: dict, seed: int = 0) -> dict[str, Path]:
    keys = ("n_per_class", "n_val_per_class", "classes", "frames", "size", "event_frames")
    kwargs = {k: config[k] for k in keys if k in config}
    if config.get("dataset") == "kinetics":
        return write_kinetics_events(root, seed=seed, **kwargs)
    return write_ssv2_events(root, seed=seed, **kwargs)
