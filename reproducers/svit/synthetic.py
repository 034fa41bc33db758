"""SViT's synthetic smoke data: the shared moving-square SSv2 task (``common/video/
synthetic.py``) written in SViT's layout with Something-Else boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from reproducers.common.video.synthetic import TEMPLATES, labelled_clips, ssv2_entry, write_json


def _box_entry(vid: str, index: int, obj: tuple[float, ...] | None, category: str) -> dict:
    labels = []
    if obj is not None:
        x1, y1, x2, y2 = obj
        labels.append({"box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
                       "category": category, "standard_category": "0000"})
        # a "hand" holding it: a box on the object's upper-left corner (not drawn)
        hx, hy = max(x1 - 4.0, 0.0), max(y1 - 4.0, 0.0)
        labels.append({"box2d": {"x1": hx, "y1": hy, "x2": hx + 10.0, "y2": hy + 10.0},
                       "category": "hand", "standard_category": "hand"})
    return {"name": f"{vid}/{index + 1:04d}.jpg", "labels": labels,
            "gt_placeholders": [category], "nr_instances": len(labels)}


def write_svit_synthetic(root, n_per_class: int = 4, frames: int = 24, size: int = 64,
                         seed: int = 0, *, n_val_per_class: int | None = None, classes: int = 4,
                         empty_every: int = 8, quality: int = 95) -> dict[str, Path]:
    """SSv2 as eladb3/SViT reads it, with Something-Else boxes:
    ``sm/annotations/something-something-v2-labels.json``,
    ``json_files/something-something-v2-{train,validation}.json``, ``frames/<id>/%04d.jpg``
    (1-based JPEG) and ``bbox_jsons/<id>.json`` (one entry per frame: the square's box as
    object ``0000`` and a hand box at its corner). Every ``empty_every``-th video gets an
    empty box list and is listed in ``empty_bbox_{train,val}.json`` (SViT drops such videos),
    so the full and box-filtered evaluation sets differ. Returns the paths under keys
    ``root, frames, labels, train, validation, empty_train, empty_val``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    frames_dir, boxes_dir = root / "frames", root / "bbox_jsons"
    labels_path = root / "sm" / "annotations" / "something-something-v2-labels.json"
    for d in (frames_dir, boxes_dir, labels_path.parent, root / "json_files"):
        d.mkdir(parents=True, exist_ok=True)
    labels = {TEMPLATES[c].replace("[", "").replace("]", ""): str(c) for c in range(classes)}
    write_json(labels_path, labels)
    paths = {"root": root, "frames": frames_dir, "labels": labels_path}
    next_id = 1
    for split, n, empty_key in (("train", n_per_class, "empty_train"),
                                ("validation", n_val_per_class or n_per_class, "empty_val")):
        entries, empty, clip_boxes = [], [], []
        for k, (label, obj, clip) in enumerate(labelled_clips(n, frames, size, rng, classes,
                                                              clip_boxes)):
            vid = str(next_id)
            next_id += 1
            vdir = frames_dir / vid
            vdir.mkdir(exist_ok=True)
            for i, frame in enumerate(clip):
                Image.fromarray(frame).save(vdir / f"{i + 1:04d}.jpg", quality=quality)
            if empty_every and k % empty_every == empty_every - 1:
                boxes: list = []
                empty.append(vid)
            else:
                boxes = [_box_entry(vid, i, b, obj) for i, b in enumerate(clip_boxes)]
            write_json(boxes_dir / f"{vid}.json", boxes)
            entries.append(ssv2_entry(vid, label, obj))
        paths[split] = root / "json_files" / f"something-something-v2-{split}.json"
        write_json(paths[split], entries)
        name = "empty_bbox_train.json" if split == "train" else "empty_bbox_val.json"
        paths[empty_key] = root / name
        write_json(paths[empty_key], empty)
    return paths
