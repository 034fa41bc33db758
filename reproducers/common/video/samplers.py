"""Which frames (and which crop) each paper's official loader takes, as pure index functions.

Every function returns 0-based frame indices (``np.int64``) into the decoded video (or the
sorted frame files), to pass to :func:`.decode.read_frames`. Training randomness comes from
an injectable ``rng``: a ``numpy.random.Generator``, a ``torch.Generator``, an int seed, or
None (fresh entropy); the official code draws from Python's global ``random`` instead, so a
seed reproduces *our* draws, not theirs, but the distributions are the same.

Rounding and clamping replicate the official code exactly: ``np.round`` is round-half-even,
``torch.linspace`` computes in float32 and ``.long()`` truncates. The float32 linspace is
computed by the installed torch (2.x), so an index whose exact value is an integer can land
one below it (pinned in the tests), as it does in the official loaders on the same torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

Rng = np.random.Generator | torch.Generator | int | None


def _generator(rng: Rng):
    if isinstance(rng, np.random.Generator | torch.Generator):
        return rng
    return np.random.default_rng(rng)


def _uniform(rng: Rng, high: float) -> float:
    """A float uniform in [0, high) (``random.uniform(0, high)`` in the official code)."""
    g = _generator(rng)
    if isinstance(g, torch.Generator):
        return float(torch.rand((), dtype=torch.float64, generator=g)) * high
    return float(g.uniform(0.0, high))


def _randint(rng: Rng, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers uniform in [low, high] inclusive, elementwise (``random.randint``)."""
    g = _generator(rng)
    if isinstance(g, torch.Generator):
        span = torch.as_tensor(high - low + 1, dtype=torch.float64)
        draw = torch.floor(torch.rand(span.shape, dtype=torch.float64, generator=g) * span)
        return low + draw.numpy().astype(np.int64)
    return g.integers(low, high + 1).astype(np.int64)


def _linspace_long(start: float, end: float, steps: int, last: int) -> np.ndarray:
    """``torch.linspace(start, end, steps).clamp(0, last).long()`` (SlowFast temporal_sampling),
    computed with torch itself so the float32 rounding is the official one."""
    return torch.linspace(start, end, steps).clamp(0, last).long().numpy()


# ---------------------------------------------------------------- SSv2 / TSN segments

def ssv2_uniform_segments(num_frames: int, num_segments: int, *, train: bool,
                          rng: Rng = None) -> np.ndarray:
    """PySlowFast's SSv2 segment sampling (used by SViT with 16, kcenter with 32 segments).

    ``seg = (num_frames - 1) / num_segments``; segment i spans
    ``[round(seg*i), round(seg*(i+1))]`` (``np.round``: half to even). Train: a uniform
    integer in the span, inclusive; test/val: ``(start + end) // 2``. Short videos repeat
    frames. official: slowfast/datasets/ssv2.py::Ssv2.get_seq_frames in
    facebookresearch/SlowFast (same formula in eladb3/SViT and kami93/kcenter_video).
    """
    if num_frames < 1 or num_segments < 1:
        raise ValueError(f"ssv2_uniform_segments: num_frames={num_frames}, "
                         f"num_segments={num_segments} must be >= 1")
    seg = float(num_frames - 1) / num_segments
    i = np.arange(num_segments, dtype=np.float64)
    start = np.round(seg * i).astype(np.int64)
    end = np.round(seg * (i + 1)).astype(np.int64)
    if train:
        return _randint(rng, start, end)
    return (start + end) // 2


# ---------------------------------------------------------------- Kinetics / dense clips

def _clip_size(clip_len: int, stride: int, fps: float | None, target_fps: float) -> float:
    # decoder.py: clip_size = sampling_rate * num_frames / target_fps * fps
    return stride * clip_len / target_fps * (target_fps if fps is None else fps)


def _start(delta: float, *, train: bool, rng: Rng, clip_idx: int, num_clips: int,
           use_offset: bool) -> float:
    """official: slowfast/datasets/decoder.py::get_start_end_idx (start only)."""
    if train:
        return _uniform(rng, delta)
    if not 0 <= clip_idx < num_clips:
        raise ValueError(f"clip_idx={clip_idx} must be in [0, num_clips={num_clips})")
    if use_offset:  # DATA.USE_OFFSET_SAMPLING: centre clip, or first..last evenly
        return float(np.floor(delta / 2)) if num_clips == 1 else \
            clip_idx * float(np.floor(delta / (num_clips - 1)))
    return delta * clip_idx / num_clips


def dense_clip(num_frames: int, clip_len: int, stride: int, *, train: bool, rng: Rng = None,
               clip_idx: int = 0, num_clips: int = 1, fps: float | None = None,
               target_fps: float = 30.0, use_offset: bool = False) -> np.ndarray:
    """Kinetics-style dense clip: ``clip_len`` frames about ``stride`` apart (at
    ``target_fps``), PySlowFast's decode-all-then-sample formula.

    ``clip_size = stride * clip_len / target_fps * fps`` frames (``fps=None``: the video is
    at ``target_fps``); ``delta = max(num_frames - clip_size, 0)``. Train: start uniform in
    ``[0, delta)``. Test clip ``clip_idx`` of ``num_clips``: start ``delta * clip_idx /
    num_clips`` (so the last clip does NOT end at the video's end, and 1 clip starts at 0),
    or with ``use_offset`` (``DATA.USE_OFFSET_SAMPLING``) ``floor(delta/2)`` for 1 clip and
    ``clip_idx * floor(delta / (num_clips - 1))`` otherwise. Indices:
    ``linspace(start, start + clip_size - 1, clip_len)`` in float32, clamped to the video,
    truncated. The effective step is ``(clip_size - 1) / (clip_len - 1)``, e.g. 4.2 not 4 for
    16 x 4. official: slowfast/datasets/decoder.py::get_start_end_idx and
    ::temporal_sampling in facebookresearch/SlowFast (also in eladb3/SViT, kami93/kcenter_video).

    PySlowFast's *PyAV* backend decodes a pts window first and re-samples inside it, which can
    shift indices by a frame: :func:`dense_clip_pyav` reproduces that path.
    """
    if num_frames < 1 or clip_len < 1 or stride < 1:
        raise ValueError(f"dense_clip: num_frames={num_frames}, clip_len={clip_len}, "
                         f"stride={stride} must be >= 1")
    size = _clip_size(clip_len, stride, fps, target_fps)
    delta = max(num_frames - size, 0)
    start = _start(delta, train=train, rng=rng, clip_idx=clip_idx, num_clips=num_clips,
                   use_offset=use_offset)
    return _linspace_long(start, start + size - 1, clip_len, num_frames - 1)


def dense_clip_pyav(frame_pts: Sequence[int], duration_pts: int | None, header_frames: int,
                    clip_len: int, stride: int, *, train: bool, rng: Rng = None,
                    clip_idx: int = 0, num_clips: int = 1, fps: float | None = None,
                    target_fps: float = 30.0, use_offset: bool = False) -> np.ndarray:
    """The frames PySlowFast's PyAV backend actually returns for a dense clip.

    It maps the clip's float frame range to a pts window with ``pts_per_frame = duration /
    header_frames`` (stream header values; ``start_pts = int(start * ppf)``, same for the
    end), keeps decoded frames with ``start_pts <= pts <= end_pts`` plus the first frame after
    ``end_pts`` (``buffer_size=0`` still stores the frame that triggers the break), then
    samples ``linspace(0, clip_size - 1, clip_len)`` inside that window, clamped. With no
    header duration it decodes everything, i.e. :func:`dense_clip`. Inputs come from
    :func:`.decode.video_info` (``pts``, ``duration_pts``, ``header_frames``, ``fps``).
    official: slowfast/datasets/decoder.py::pyav_decode, ::pyav_decode_stream and ::decode
    in kami93/kcenter_video (kcenter_transformer/datasets/kinetics/decoder.py) and eladb3/SViT.
    """
    pts = np.asarray(frame_pts, dtype=np.int64)
    if duration_pts is None or not header_frames:
        return dense_clip(pts.size, clip_len, stride, train=train, rng=rng, clip_idx=clip_idx,
                          num_clips=num_clips, fps=fps, target_fps=target_fps,
                          use_offset=use_offset)
    size = _clip_size(clip_len, stride, fps, target_fps)
    delta = max(header_frames - size, 0)
    start = _start(delta, train=train, rng=rng, clip_idx=clip_idx, num_clips=num_clips,
                   use_offset=use_offset)
    ppf = duration_pts / header_frames
    start_pts, end_pts = int(start * ppf), int((start + size - 1) * ppf)
    first = int(np.searchsorted(pts, start_pts, side="left"))
    after = int(np.searchsorted(pts, end_pts, side="right"))  # first frame beyond end_pts
    window = min(after + 1, pts.size) - first
    if window <= 0:
        raise ValueError(f"dense_clip_pyav: empty pts window [{start_pts}, {end_pts}] "
                         f"(the official loader would fail and pick another video)")
    return first + _linspace_long(0.0, size - 1, clip_len, window - 1)


# ---------------------------------------------------------------- paper recipes

def svit_indices(box_entries: Sequence[dict], num_frames: int = 16, *, train: bool,
                 rng: Rng = None) -> np.ndarray:
    """SViT's SSv2 frames: segment sampling over the *box file's* length, mapped to files.

    ``box_entries`` is the per-video Something-Else list (``bbox_jsons/<int(id)>.json``, one
    entry per annotated frame). Segment indices (:func:`ssv2_uniform_segments` with
    ``len(box_entries)``) select entries, and each entry's ``name`` (``"<vid>/0001.jpg"``)
    gives the file: returned index = ``int(basename[:-4]) - 1``, so frame file
    ``frames/<id>/{index + 1:04d}.jpg`` (``read_frames(dir, idx, pattern="{:04d}.jpg")``).
    official: slowfast/datasets/ssv2.py::Ssv2.get_frames_list, ::get_seq_frames and
    ::get_frame_path in eladb3/SViT.
    """
    if not box_entries:
        raise ValueError("svit_indices: empty box list (SViT drops such videos: "
                         "data/ssv2/empty_bbox_*.json)")
    seq = ssv2_uniform_segments(len(box_entries), num_frames, train=train, rng=rng)
    return np.array([int(box_entries[i]["name"].split("/")[-1][:-4]) - 1 for i in seq],
                    dtype=np.int64)


def kcenter_indices(num_frames: int, *, dataset: str, train: bool, rng: Rng = None,
                    fps: float | None = None, stream: dict | None = None) -> np.ndarray:
    """The 32 frames K-centered patch sampling builds its 32x14x14 patch grid from.

    ``dataset="ssv2"``: 32 uniform segments over the frame count (train random, else middle).
    ``dataset="kinetics"``: NUM_FRAMES 32, SAMPLING_RATE 8 at TARGET_FPS 30; train a random
    start, val *and* test start at frame 0 (1 temporal view: ``delta * 0 / 1``). Give
    ``stream`` (the :func:`.decode.video_info` dict) to reproduce the official PyAV window
    exactly (:func:`dense_clip_pyav`); otherwise the decode-all formula (:func:`dense_clip`).
    official: kcenter_transformer/datasets/ssv2/ssv2.py and kinetics/kinetics_mp4.py +
    kinetics/decoder.py in kami93/kcenter_video.
    """
    if dataset == "ssv2":
        return ssv2_uniform_segments(num_frames, 32, train=train, rng=rng)
    if dataset != "kinetics":
        raise ValueError(f"kcenter_indices: dataset must be 'ssv2' or 'kinetics', got {dataset!r}")
    if stream is not None:
        return dense_clip_pyav(stream["pts"], stream["duration_pts"], stream["header_frames"],
                               32, 8, train=train, rng=rng, fps=stream["fps"])
    return dense_clip(num_frames, 32, 8, train=train, rng=rng, fps=fps)


def kcenter_patch_coords(num_frames: int = 32, crop_size: int = 224, patch_size: int = 16,
                         std: float = 0.5) -> np.ndarray:
    """The (t, h, w) coordinates kcenter appends to every 16x16 patch: float32
    ``[T, crop/patch, crop/patch, 3]``, ``t = linspace(-R_t/2, R_t/2, T)`` with
    ``R_t = sqrt(patch)/std`` and ``h, w = linspace(-R_s/2, R_s/2, n)`` with
    ``R_s = sqrt(patch/2)/std`` (8.0 and 5.657 for the released configs).
    official: kcenter_transformer/datasets/kinetics/kinetics_patch.py in kami93/kcenter_video.
    """
    n = crop_size // patch_size
    r_t, r_s = np.sqrt(patch_size) / std, np.sqrt(patch_size / 2) / std
    t = torch.linspace(-r_t / 2, r_t / 2, num_frames)
    s = torch.linspace(-r_s / 2, r_s / 2, n)
    grid = torch.stack(torch.meshgrid(t, s, s, indexing="ij"), dim=-1)
    return grid.numpy()


def strg_indices(num_frames: int, clip_len: int = 32, *, mode: str, rng: Rng = None,
                 n_val_samples: int = 3, inference_stride: int = 0,
                 t_stride: int = 1) -> np.ndarray:
    """jd730/STRG's (kenshohara 3D-ResNets') temporal transforms, 0-based, ``[clips, clip_len]``.

    Frames are first subsampled by ``t_stride``. ``mode="train"``: TemporalRandomCrop, one
    run of consecutive frames starting uniformly in ``[0, max(0, n - clip_len - 1)]`` (the
    last possible start is never drawn), loop-padded. ``"val"``: TemporalEvenCrop, starts
    every ``max(1, ceil((n - 1 - clip_len) / (n_val_samples - 1)))`` frames, at most
    ``n_val_samples`` clips, stopping after the first loop-padded one. ``"inference"``:
    SlidingWindow with ``inference_stride`` (0 = clip_len), stopping after the first padded
    window. Loop padding repeats the clip cyclically. official: temporal_transforms.py in
    jd730/STRG.
    """
    frames = list(range(num_frames))[::t_stride]
    if not frames:
        raise ValueError(f"strg_indices: num_frames={num_frames} must be >= 1")

    def loop(clip: list[int]) -> list[int]:
        return [clip[i % len(clip)] for i in range(clip_len)]

    n = len(frames)
    if mode == "train":
        begin = int(_randint(rng, np.array([0]), np.array([max(0, n - clip_len - 1)]))[0])
        return np.array([loop(frames[begin:begin + clip_len])], dtype=np.int64)
    if mode == "val":
        if n_val_samples < 2:
            raise ValueError("strg_indices: n_val_samples must be >= 2 (the official "
                             "TemporalEvenCrop divides by n_val_samples - 1)")
        step = max(1, -(-(n - 1 - clip_len) // (n_val_samples - 1)))
        starts, limit = frames[::step], n_val_samples
    elif mode == "inference":
        starts, limit = frames[::inference_stride or clip_len], len(frames)
    else:
        raise ValueError(f"strg_indices: mode must be train, val or inference, got {mode!r}")
    out = []
    for s in starts[:limit]:
        clip = list(range(s, min(frames[-1] + 1, s + clip_len)))
        out.append(loop(clip))
        if len(clip) < clip_len:
            break
    return np.array(out, dtype=np.int64)


# ---------------------------------------------------------------- spatial crops and views

class CropBox(NamedTuple):
    """A square crop: rows ``top:top+size``, columns ``left:left+size``."""

    top: int
    left: int
    size: int


def spatial_crop_boxes(height: int, width: int, crop_size: int, num_crops: int = 3
                       ) -> list[CropBox]:
    """PySlowFast's test crops: 3 crops along the long side (left/centre/right, or
    top/centre/bottom when ``height > width``; a square frame counts as wide), centred
    (``ceil((side - crop) / 2)``) on the short side; ``num_crops=1`` is the centre crop
    (spatial index 1). The frame is assumed already resized (short side = crop size in the
    official test pipeline). official: slowfast/datasets/transform.py::uniform_crop in
    facebookresearch/SlowFast (same in eladb3/SViT, kami93/kcenter_video).
    """
    if num_crops not in (1, 3):
        raise ValueError(f"spatial_crop_boxes: num_crops must be 1 or 3, got {num_crops}")
    if crop_size > min(height, width):
        raise ValueError(f"spatial_crop_boxes: crop {crop_size} larger than frame "
                         f"{height}x{width}; resize the short side first")
    boxes = []
    for idx in ([1] if num_crops == 1 else [0, 1, 2]):
        y = -(-(height - crop_size) // 2)
        x = -(-(width - crop_size) // 2)
        if height > width:
            y = {0: 0, 1: y, 2: height - crop_size}[idx]
        else:
            x = {0: 0, 1: x, 2: width - crop_size}[idx]
        boxes.append(CropBox(y, x, crop_size))
    return boxes


def apply_spatial_crop(frames, box: CropBox, *, channels_last: bool = True):
    """Crop ``frames`` (numpy or torch; ``[..., H, W, C]`` or, with ``channels_last=False``,
    ``[..., H, W]``) to ``box``; returns a view."""
    ys, xs = slice(box.top, box.top + box.size), slice(box.left, box.left + box.size)
    return frames[..., ys, xs, :] if channels_last else frames[..., ys, xs]


class View(NamedTuple):
    """One test view: temporal clip ``clip_idx`` x spatial crop ``crop_idx``."""

    view_idx: int
    clip_idx: int
    crop_idx: int
    indices: np.ndarray
    box: CropBox


def multi_view_indices(temporal: Callable[[int, int], np.ndarray], *, num_clips: int,
                       num_crops: int, height: int, width: int, crop_size: int) -> list[View]:
    """All ``num_clips x num_crops`` test views in PySlowFast's order: view ``v`` is clip
    ``v // num_crops`` and crop ``v % num_crops`` (``_spatial_temporal_idx``).

    ``temporal(clip_idx, num_clips)`` gives a clip's frames, e.g.
    ``lambda c, n: dense_clip(300, 16, 4, train=False, clip_idx=c, num_clips=n)`` (Kinetics,
    10 x 3) or ``lambda c, n: ssv2_uniform_segments(48, 16, train=False)`` (SSv2: SViT's
    yaml asks 10 x 3, whose 10 temporal views are identical, i.e. 1 x 3).
    official: slowfast/datasets/kinetics.py::Kinetics.__getitem__ (test branch).
    """
    boxes = spatial_crop_boxes(height, width, crop_size, num_crops)
    views = []
    for c in range(num_clips):
        idx = np.asarray(temporal(c, num_clips), dtype=np.int64)
        for s, box in enumerate(boxes):
            views.append(View(c * num_crops + s, c, s if num_crops > 1 else 1, idx, box))
    return views
