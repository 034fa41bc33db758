"""Tiny synthetic action datasets in the official on-disk formats, for smoke runs and tests.

The task needs temporal order. Classes come in time-reversed pairs: a clip of class 0
played backwards is a valid clip of class 1 with the same parameters, and likewise 2/3. So
any order-blind model (a single frame, frame averaging, shuffled frames) sees the same
distribution for both classes of a pair and is at chance within it:

- 0 ``Moving [something] from left to right`` / 1 ``... from right to left``: a square
  moves horizontally at constant speed on a *wrapping* canvas (it leaves on one side and
  re-enters on the other), so even its position in a single frame at a known time is
  uniform and uninformative.
- 2 ``Moving [something] towards the camera`` / 3 ``... away from the camera``: the square
  grows / shrinks geometrically.

A horizontal flip turns class 0 into class 1 and vice versa: this is why SSv2 recipes
(SViT, kcenter) train without flip, and why a flip augmentation must swap left/right labels.

Everything is deterministic for a seed (pixels and file bytes; the muxers run bitexact).
Default sizes are tiny (64x64, 24 frames) so a dataset is written in about a second.
"""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path

import av
import numpy as np
from av.codec.context import Flags
from PIL import Image

TEMPLATES = (
    "Moving [something] from left to right",
    "Moving [something] from right to left",
    "Moving [something] towards the camera",
    "Moving [something] away from the camera",
)
KINETICS_LABELS = ("sliding left to right", "sliding right to left",
                   "approaching camera", "receding from camera")
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230),
           "yellow": (230, 210, 40), "white": (235, 235, 235)}


def synthetic_clip(label: int, *, frames: int = 24, size: int = 64,
                   rng: np.random.Generator, boxes: list | None = None) -> np.ndarray:
    """One clip of class ``label`` (0..3) as RGB uint8 ``[frames, size, size, 3]``.

    ``boxes``: a list that receives the square's pixel box (x1, y1, x2, y2) per frame (the
    full width when it wraps around the edge)."""
    if label not in range(len(TEMPLATES)):
        raise ValueError(f"synthetic_clip: label must be 0..{len(TEMPLATES) - 1}, got {label}")
    background = rng.integers(0, 70, size=3)
    colour = np.array(list(COLOURS.values())[int(rng.integers(len(COLOURS)))])
    t = np.arange(frames) / max(frames - 1, 1)
    yy, xx = np.mgrid[0:size, 0:size]
    video = np.empty((frames, size, size, 3), np.uint8)
    video[:] = background
    if label < 2:
        side = int(rng.integers(size // 6, size // 3))
        y0 = int(rng.integers(0, size - side))
        x0 = rng.uniform(0, size)
        travel = rng.uniform(0.4, 0.8) * size * (1 if label == 0 else -1)
        for f in range(frames):
            left = (x0 + travel * t[f]) % size
            inside_x = ((xx - left) % size) < side  # wraps around the right edge
            mask = inside_x & (yy >= y0) & (yy < y0 + side)
            video[f][mask] = colour
            _append_box(boxes, mask)
    else:
        small = rng.uniform(0.1, 0.3) * size
        large = min(small * rng.uniform(2.0, 3.0), 0.9 * size)  # a 2-3x change in size
        cy, cx = rng.uniform(size * 0.4, size * 0.6, size=2)
        for f in range(frames):
            frac = t[f] if label == 2 else 1.0 - t[f]
            half = small * (large / small) ** frac / 2
            box = (np.abs(yy - cy) < half) & (np.abs(xx - cx) < half)
            video[f][box] = colour
            _append_box(boxes, box)
    return video


def _append_box(boxes: list | None, mask: np.ndarray) -> None:
    if boxes is None:
        return
    ys, xs = np.nonzero(mask)
    boxes.append(None if len(xs) == 0 else
                 (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))


def labelled_clips(n_per_class: int, frames: int, size: int, rng: np.random.Generator,
                   classes: int, boxes: list | None = None):
    """(label, object name, clip); ``boxes`` (a list) is refilled with each clip's boxes."""
    for _ in range(n_per_class):
        for label in range(classes):
            colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
            if boxes is not None:
                boxes.clear()
            yield label, f"a {colour} square", synthetic_clip(label, frames=frames, size=size,
                                                                rng=rng, boxes=boxes)


def write_video(path, video: np.ndarray, *, fps: int, codec: str, gop: int = 8) -> None:
    """Encode ``[T, H, W, 3]`` RGB uint8 with PyAV (bitexact muxing, single-threaded)."""
    t, h, w, _ = video.shape
    if h % 2 or w % 2:
        raise ValueError(f"write_video: yuv420p needs even sizes, got {h}x{w}")
    options = {"libx264": {"crf": "12", "preset": "veryfast"},
               "libvpx-vp9": {"crf": "12", "b": "0", "deadline": "good", "cpu-used": "8",
                              "row-mt": "0"},
               "libvpx": {"crf": "8", "b": "1M", "deadline": "good", "cpu-used": "8"}}[codec]
    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.thread_count = 1
        stream.codec_context.flags |= int(Flags.bitexact)
        for i, rgb in enumerate(video):
            frame = _yuv420p(rgb)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _yuv420p(rgb: np.ndarray) -> av.VideoFrame:
    """RGB -> yuv420p (BT.601, limited range) in numpy, into a freshly allocated frame.

    swscale's conversion (``reformat`` or the implicit one in ``encode``) gave run-to-run
    different bitstreams, apparently depending on the input buffer's alignment."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    sub = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, 3).mean(axis=(1, 3))
    r, g, b = sub[..., 0], sub[..., 1], sub[..., 2]
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    frame = av.VideoFrame(rgb.shape[1], rgb.shape[0], "yuv420p")
    for plane, arr in zip(frame.planes, (y, u, v), strict=True):
        data = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        padded = np.zeros((data.shape[0], plane.line_size), np.uint8)
        padded[:, :data.shape[1]] = data
        plane.update(padded.tobytes())
    return frame


def _vp_codec() -> str:
    return "libvpx-vp9" if "libvpx-vp9" in av.codecs_available else "libvpx"


def ssv2_entry(vid: str, label: int, obj: str) -> dict:
    template = TEMPLATES[label]
    return {"id": vid, "label": template.replace("[something]", obj).lower(),
            "template": template, "placeholders": [obj]}


def write_ssv2_synthetic(root, n_per_class: int = 4, frames: int = 24, size: int = 64,
                         seed: int = 0, fps: int = 12, *, n_val_per_class: int | None = None,
                         classes: int = 4) -> dict[str, Path]:
    """Something-Something v2 layout: ``labels/labels.json`` (template without brackets ->
    class-id string), ``labels/train.json`` and ``labels/validation.json`` (lists of
    ``{"id", "label", "template", "placeholders"}``) and ``20bn-something-something-v2/
    <id>.webm`` (VP9, or VP8 when libvpx-vp9 is missing; 12 fps as the release). Returns the
    paths under keys ``root, videos, labels, train, validation``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    videos, labels_dir = root / "20bn-something-something-v2", root / "labels"
    videos.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    codec, next_id, paths = _vp_codec(), 1, {"root": root, "videos": videos}
    labels = {TEMPLATES[c].replace("[", "").replace("]", ""): str(c) for c in range(classes)}
    write_json(labels_dir / "labels.json", labels)
    paths["labels"] = labels_dir / "labels.json"
    for split, n in (("train", n_per_class), ("validation", n_val_per_class or n_per_class)):
        entries = []
        for label, obj, clip in labelled_clips(n, frames, size, rng, classes):
            vid = str(next_id)
            next_id += 1
            write_video(videos / f"{vid}.webm", clip, fps=fps, codec=codec)
            entries.append(ssv2_entry(vid, label, obj))
        paths[split] = labels_dir / f"{split}.json"
        write_json(paths[split], entries)
    return paths


def write_frame_folders(root, n_per_class: int = 4, frames: int = 24, size: int = 64,
                        seed: int = 0, *, pattern: str = "{:05d}.jpg", start_number: int = 1,
                        n_val_per_class: int | None = None, classes: int = 4,
                        quality: int = 95) -> dict[str, Path]:
    """Something-Something v1 layout: ``20bn-something-something-v1/<id>/00001.jpg`` (JPEG,
    1-based), ``something-something-v1-labels.csv`` (one class name per line; also copied to
    ``category.txt`` as STRG reads it) and ``something-something-v1-{train,validation}.csv``
    (``id;label`` lines). Returns the paths under keys ``root, frames, labels, train,
    validation``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    frames_dir = root / "20bn-something-something-v1"
    frames_dir.mkdir(parents=True, exist_ok=True)
    names = [TEMPLATES[c].replace("[", "").replace("]", "") for c in range(classes)]
    paths = {"root": root, "frames": frames_dir, "labels": root / "something-something-v1-labels.csv"}
    paths["labels"].write_text("\n".join(names) + "\n")
    (root / "category.txt").write_text("\n".join(names) + "\n")
    next_id = 1
    for split, n in (("train", n_per_class), ("validation", n_val_per_class or n_per_class)):
        lines = []
        for label, _, clip in labelled_clips(n, frames, size, rng, classes):
            vdir = frames_dir / str(next_id)
            vdir.mkdir(exist_ok=True)
            for i, frame in enumerate(clip):
                Image.fromarray(frame).save(vdir / pattern.format(i + start_number),
                                            quality=quality)
            lines.append(f"{next_id};{names[label]}")
            next_id += 1
        paths[split] = root / f"something-something-v1-{split}.csv"
        paths[split].write_text("\n".join(lines) + "\n")
    return paths


def write_kinetics_synthetic(root, n_per_class: int = 4, frames: int = 30, size: int = 64,
                             seed: int = 0, fps: int = 30, *, n_val_per_class: int | None = None,
                             classes: int = 4) -> dict[str, Path]:
    """Kinetics-400 layout (cvdfoundation release, as kcenter reads it):
    ``annotations/{train,val}.csv`` with header ``label,youtube_id,time_start,time_end,
    split,is_cc`` and h264 mp4 files ``{train,val}/<youtube_id>_<start:06d>_<end:06d>.mp4``
    (flat per split). Class index = position in the sorted label list (kcenter). Returns the
    paths under keys ``root, train, val, train_csv, val_csv``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(string.ascii_letters + string.digits + "-_"))
    paths: dict[str, Path] = {"root": root}
    for split, n in (("train", n_per_class), ("val", n_val_per_class or n_per_class)):
        vdir = root / split
        vdir.mkdir(parents=True, exist_ok=True)
        rows = []
        for label, _, clip in labelled_clips(n, frames, size, rng, classes):
            yid = "".join(rng.choice(alphabet, 11))
            start = int(rng.integers(0, 300))
            write_video(vdir / f"{yid}_{start:06d}_{start + 10:06d}.mp4", clip, fps=fps,
                        codec="libx264")
            rows.append([KINETICS_LABELS[label], yid, start, start + 10, split, 0])
        csv_path = root / "annotations" / f"{split}.csv"
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
            writer.writerows(rows)
        paths[split], paths[f"{split}_csv"] = vdir, csv_path
    return paths


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")
