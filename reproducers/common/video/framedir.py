"""Frames stored as one image file per frame (SSv1 release, SViT/kcenter/STRG extractions).

Only the requested files are opened. Decoding uses Pillow (libjpeg-turbo); the official
loaders use cv2.imdecode, which is built on the same library, so pixels normally agree, but
two JPEG decoders with different IDCT/upsampling settings may differ by a few levels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def natural_key(name: str) -> list:
    """Sort key treating digit runs as numbers: ``2.jpg`` < ``10.jpg``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_frame_files(root: Path) -> list[Path]:
    """The image files of a frame directory, naturally sorted by name."""
    files = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _paths(root: Path, idx: np.ndarray, pattern, start_number, error) -> list[Path]:
    if pattern is not None:
        return [root / pattern.format(int(i) + start_number) for i in idx]
    files = list_frame_files(root)
    if idx.size and (idx.min() < 0 or idx.max() >= len(files)):
        bad = int(idx[(idx < 0) | (idx >= len(files))][0])
        raise IndexError(f"{root}: frame index {bad} out of range, the directory has "
                         f"{len(files)} image files")
    return [files[int(i)] for i in idx]


def _load(path: Path, error) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError as e:
        raise error(path, "frame file missing") from e
    except OSError as e:  # PIL.UnidentifiedImageError and truncated-file errors
        raise error(path, f"unreadable image: {e}") from e


def read_dir_frames(root: Path, idx: np.ndarray, *, pattern, start_number, error) -> np.ndarray:
    """RGB uint8 [T, H, W, 3] of frames ``idx`` (request order, repeats decoded once)."""
    if idx.size and idx.min() < 0:
        raise IndexError(f"{root}: negative frame index {int(idx.min())}")
    paths = _paths(root, idx, pattern, start_number, error)
    cache: dict[Path, np.ndarray] = {}
    for p in paths:
        if p not in cache:
            cache[p] = _load(p, error)
    if not paths:
        return np.zeros((0, 0, 0, 3), np.uint8)
    shapes = {a.shape for a in cache.values()}
    if len(shapes) > 1:
        raise error(root, f"frames have different sizes {sorted(shapes)}")
    return np.stack([cache[p] for p in paths])


def dir_info(root: Path, *, pattern, start_number, error) -> dict:
    """``video_info`` for a directory: count of frames, size and format of the first one."""
    if pattern is None:
        files = list_frame_files(root)
    else:
        files = []
        while (root / pattern.format(len(files) + start_number)).is_file():
            files.append(root / pattern.format(len(files) + start_number))
    if not files:
        raise error(root, "no frame images (jpg/jpeg/png) found"
                    + (f" matching {pattern!r} from {start_number}" if pattern else ""))
    with Image.open(files[0]) as im:
        width, height, fmt = im.width, im.height, (im.format or "").lower()
    return {"num_frames": len(files), "fps": None, "width": width, "height": height,
            "codec": fmt, "keyframes": None}
