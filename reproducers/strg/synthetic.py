"""Synthetic Something-Something v1 data for STRG smoke runs, with its box store.

Two boxes (a red and a blue square) move on a noisy background; their interaction decides the
class: 0 they approach each other, 1 they move apart, 2 they cross (swap sides), 3 the red one
circles the still blue one. Classes 0 and 1 are each other's time reversal, so a model that
ignores temporal order cannot separate them. Written in the real layouts: frame folders
``20bn-something-something-v1/<id>/%05d.jpg``, ``something-something-v1-labels.csv``,
``something-something-v1-{train,validation}.csv`` (``id;label``) and the box stores
``proposals/{train,validation}.pt`` with the true boxes of every second frame (what the
prepare stage would write from an RPN; a third box slot is padded by the store's rule).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .box_store import BoxStoreWriter

CLASSES = ("Pushing two things together", "Pulling two things apart",
           "Moving two things past each other", "Moving something around something")


def _centres(label: int, t: float, rng: np.random.Generator, size: int):
    """Centres (red, blue) at time t in [0, 1]."""
    c, span = size / 2, size * 0.3
    if label == 0:
        d = span * (1 - t) + 6
        return (c - d, c), (c + d, c)
    if label == 1:
        d = span * t + 6
        return (c - d, c), (c + d, c)
    if label == 2:
        d = span * (1 - 2 * t)
        return (c - d, c - 6), (c + d, c + 6)
    a = 2 * math.pi * t
    return (c + span * math.cos(a), c + span * math.sin(a)), (c, c)


def _video(label: int, frames: int, size: int, rng: np.random.Generator):
    half = max(3, size // 10)
    jitter = rng.uniform(-3, 3, 2)
    images, boxes = [], []
    for i in range(frames):
        img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        frame_boxes = []
        for (x, y), colour in zip(_centres(label, i / (frames - 1), rng, size),
                                  ((230, 40, 40), (40, 40, 230)), strict=True):
            x, y = x + jitter[0], y + jitter[1]
            x1, y1 = int(max(0, x - half)), int(max(0, y - half))
            x2, y2 = int(min(size, x + half)), int(min(size, y + half))
            img[y1:y2, x1:x2] = colour
            frame_boxes.append([x1, y1, x2, y2])
        images.append(img)
        boxes.append(torch.tensor(frame_boxes, dtype=torch.float32))
    return images, boxes


def write_ssv1_with_boxes(root, *, n_per_class: int = 8, n_val_per_class: int = 4,
                          frames: int = 16, size: int = 64, boxes_per_frame: int = 3,
                          frame_step: int = 2, seed: int = 0) -> dict[str, Path]:
    root = Path(root)
    rng = np.random.default_rng(seed)
    frames_dir = root / "20bn-something-something-v1"
    frames_dir.mkdir(parents=True, exist_ok=True)
    (root / "something-something-v1-labels.csv").write_text("\n".join(CLASSES) + "\n")
    paths = {"root": root}
    next_id = 1
    for split, n in (("train", n_per_class), ("validation", n_val_per_class)):
        writer = BoxStoreWriter(boxes_per_frame, frame_step)
        lines = []
        for label in [c for c in range(len(CLASSES)) for _ in range(n)]:
            vid = str(next_id)
            next_id += 1
            images, boxes = _video(label, frames, size, rng)
            (frames_dir / vid).mkdir(exist_ok=True)
            for i, img in enumerate(images):
                Image.fromarray(img).save(frames_dir / vid / f"{i + 1:05d}.jpg", quality=95)
            kept = list(range(0, frames, frame_step))
            writer.add(vid, (size, size), kept, [boxes[i] for i in kept],
                       [torch.tensor([0.9, 0.8]) for _ in kept])
            lines.append(f"{vid};{CLASSES[label]}")
        paths[split] = root / f"something-something-v1-{split}.csv"
        paths[split].write_text("\n".join(lines) + "\n")
        writer.finish().save(root / "proposals" / f"{split}.pt")
    return paths


def write_charades_with_boxes(root, *, n_per_class: int = 8, n_val_per_class: int = 4,
                              frames: int = 24, size: int = 64, boxes_per_frame: int = 3,
                              frame_step: int = 2, seed: int = 0) -> dict[str, Path]:
    """Charades v1 layout (``Charades_v1_classes.txt`` with c000..c156,
    ``Charades_v1_{train,test}.csv`` with the ``actions`` column, frames
    ``Charades_v1_rgb/<id>/<id>-%06d.jpg`` at 24 fps) and box stores: every video shows two of
    the four interactions one after the other, so its target has two classes (c000-c003)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = [f"c{i:03d} " + (CLASSES[i] if i < len(CLASSES) else f"Unused class {i}")
             for i in range(157)]
    (root / "Charades_v1_classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "Charades_v1_classes.txt").write_text("\n".join(names) + "\n")
    half, seconds = frames // 2, frames / 24
    paths, next_id = {"root": root}, 1
    for split, n in (("train", n_per_class), ("test", n_val_per_class)):
        writer = BoxStoreWriter(boxes_per_frame, frame_step)
        lines = ["id,subject,scene,actions,length"]
        for first in [c for c in range(len(CLASSES)) for _ in range(n)]:
            second = int((first + rng.integers(1, len(CLASSES))) % len(CLASSES))
            vid = f"S{next_id:04d}"
            next_id += 1
            a_img, a_box = _video(first, half, size, rng)
            b_img, b_box = _video(second, frames - half, size, rng)
            images, boxes = a_img + b_img, a_box + b_box
            folder = root / "Charades_v1_rgb" / vid
            folder.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(images):
                Image.fromarray(img).save(folder / f"{vid}-{i + 1:06d}.jpg", quality=95)
            kept = list(range(0, frames, frame_step))
            writer.add(vid, (size, size), kept, [boxes[i] for i in kept],
                       [torch.tensor([0.9, 0.8]) for _ in kept])
            mid = half / 24
            lines.append(f'{vid},P,Room,"c{first:03d} 0.00 {mid:.2f};c{second:03d} {mid:.2f} '
                         f'{seconds:.2f}",{seconds:.2f}')
        paths[split] = root / f"Charades_v1_{split}.csv"
        paths[split].write_text("\n".join(lines) + "\n")
        writer.finish().save(root / "proposals" / f"{split}.pt")
    return paths
