"""``python -m reproducers data check svm_mot17 --data-root DIR``: every image the training
jsons and the half-val sequences name, without training.

An image is *missing* when its file is absent and *unreadable* when PIL cannot read its
header or its size differs from the json's ``width``/``height`` (the official loader trusts
those for the box rules). For half-val, each sequence's ground-truth file is also parsed with
the strict MOTChallenge reader: a malformed line makes the sequence unreadable, with
``file:line`` in the reason.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from reproducers.common.mot.motchallenge import read_gt, read_seqinfo
from reproducers.harness.errors import UserError

from . import data
from .clip_data import CocoVideo, official_sources, sequence_frame_path


def _image_problem(path: Path, size: tuple[int, int] | None) -> str | None:
    try:
        with Image.open(path) as im:
            got = im.size
    except Exception as exc:  # PIL raises many types for broken files
        return f"cannot read the image header ({type(exc).__name__}: {exc})"
    if size is not None and tuple(got) != tuple(size):
        return f"image is {got[0]}x{got[1]}, the json says {size[0]}x{size[1]}"
    return None


def _check_images(items) -> tuple[int, list, list]:
    total, missing, unreadable = 0, [], []
    for path, size in items:
        total += 1
        if not path.is_file():
            missing.append(str(path))
            continue
        why = _image_problem(path, size)
        if why:
            unreadable.append([str(path), why])
    return total, missing, unreadable


def _train_items(root: Path, config):
    wanted = config.get("sources")
    for src in official_sources(root):
        if wanted and src.name not in wanted:
            continue
        vid = CocoVideo(src.ann_file, src.img_prefix, name=src.name)
        for img in vid.images.values():
            size = (img["width"], img["height"]) if "width" in img and "height" in img else None
            yield src.img_prefix / img["file_name"], size


def check(root, split: str, config) -> dict:
    root = Path(root)
    if split == "half-train":
        total, missing, unreadable = _check_images(_train_items(root, config))
    elif split == "half-val":
        ev = data.build_eval(root, dict(config))
        total, missing, unreadable = 0, [], []
        for seq in ev.sequences:
            info = read_seqinfo(seq.folder / "seqinfo.ini")
            first, last = seq.frame_range
            items = [(sequence_frame_path(seq.folder, info, n), None)
                     for n in range(first, last + 1)]
            t, m, u = _check_images(items)
            total, missing, unreadable = total + t, missing + m, unreadable + u
            try:
                read_gt(seq.folder / seq.gt_file, seq_length=info.seq_length)
            except UserError as exc:
                unreadable.append([str(seq.folder / seq.gt_file), str(exc)])
    else:
        raise UserError(f"--split {split}: svm_mot17 has half-train and half-val")
    usable = total - len(missing) - len(unreadable)
    return {"total": total, "usable": usable, "missing": missing, "unreadable": unreadable,
            "usable_share": usable / total if total else 0.0}
