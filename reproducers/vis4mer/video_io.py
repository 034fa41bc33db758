"""Video input/output of the prepare stage: PyAV decoding, OpenCV-equivalent area resize,
atomic .npy writes.

``resize_area`` reproduces cv2.resize(..., interpolation=cv2.INTER_AREA) as used by the
official extract_features/*.py of md-mohaiminul/ViS4mer (to within one grey level: the
weights are OpenCV's, the arithmetic float32 instead of OpenCV's fixed point), without
depending on OpenCV.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from reproducers.common.video.decode import VideoReadError, video_info
from reproducers.common.video.decode import read_frames as decode_frames
from reproducers.harness.atomic import write_atomic
from reproducers.harness.errors import UserError


@lru_cache(maxsize=32)
def _area_weights(n_in: int, n_out: int, true_area: bool) -> np.ndarray:
    """Per-axis weights of OpenCV's INTER_AREA (resizeArea tables when both axes shrink,
    else the linear-table "area mode"); matches cv2.resize to within 1 grey level."""
    inv = n_out / n_in
    s = 1.0 / inv
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        if true_area:
            f1 = i * s
            f2, cell = f1 + s, min(s, n_in - f1)
            s2 = min(math.floor(f2), n_in - 1)
            s1 = min(math.ceil(f1), s2)
            if s1 - f1 > 1e-3:
                w[i, s1 - 1] += (s1 - f1) / cell
            w[i, s1:s2] += 1.0 / cell
            if f2 - s2 > 1e-3:
                w[i, s2] += min(min(f2 - s2, 1.0), cell) / cell
        else:
            sx = math.floor(i * s)
            fx = float(np.float32((i + 1) - (sx + 1) * inv))
            fx = 0.0 if fx <= 0 else fx - math.floor(fx)
            if sx >= n_in - 1:
                w[i, n_in - 1] = 1.0
            else:
                w[i, sx] += 1 - fx
                w[i, sx + 1] += fx
    return w


def resize_area(frames: np.ndarray, size: int, device: str = "cpu") -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8 tensor, like cv2 INTER_AREA."""
    n, h, w, _ = frames.shape
    true_area = h >= size and w >= size
    wy = torch.from_numpy(_area_weights(h, size, true_area)).float().to(device)
    wx = torch.from_numpy(_area_weights(w, size, true_area)).float().to(device)
    x = torch.from_numpy(frames).to(device).float()
    out = torch.einsum("oh,nhwc,pw->nopc", wy, x, wx)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _open(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError) as e:
        raise UserError(f"cannot open video {path} ({e})") from e
    if not container.streams.video:
        container.close()
        raise UserError(f"video {path} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def count_frames(path: Path) -> int:
    """Frames in the video (common.video.decode.video_info: counted from packets)."""
    try:
        return int(video_info(path)["num_frames"])
    except VideoReadError as e:
        raise UserError(f"cannot read video {path} ({e.reason})") from e


def video_timing(path: Path) -> tuple[float, float]:
    """(fps, duration in s as ffmpeg prints it, i.e. what moviepy's VideoFileClip reads)."""
    container, stream = _open(path)
    with container:
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        d = container.duration  # microseconds
        if d is None and stream.duration is not None and stream.time_base is not None:
            d = int(stream.duration * stream.time_base * 1_000_000)
    if not fps or d is None:
        raise UserError(f"video {path} has no frame rate or duration in its header")
    return fps, ((d + 5000) // 10000) / 100.0


def read_frames(path: Path, indices: Sequence[int],
                chunk: int = 64) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, RGB uint8 frame) for the sorted distinct ``indices`` through the shared
    frame-accurate decoder (common.video.decode.read_frames), ``chunk`` frames at a time so a
    long movie is never held whole; indices past the last frame get the last frame (what
    moviepy returns for times past the end in the official extractors)."""
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return
    last = count_frames(path) - 1
    if last < 0:
        raise UserError(f"video {path} has no decodable frame")
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        try:
            frames = decode_frames(path, [min(i, last) for i in part])
        except VideoReadError as e:
            raise UserError(f"cannot read video {path} ({e.reason})") from e
        yield from zip(part, frames, strict=True)


# ---------------------------------------------------------------- writing


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """np.save through harness.atomic (temp file in the destination folder, fsync, rename)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a handle: np.save(path) would append ".npy" to the name
            np.save(fh, array)

    write_atomic(Path(path), write)
