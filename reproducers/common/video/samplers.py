"""Which frames (and which crop) the official loaders take, as pure index functions.

Generic formulas (PySlowFast / TSN segments, dense clips, crops and views); the index
functions of one paper live in its folder (e.g. ``reproducers/strg/jd730_sampling.py``).

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


def randint(rng: Rng, low: np.ndarray, high: np.ndarray) -> np.ndarray:
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
        return randint(rng, start, end)
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
