"""Frame-accurate, selective video decoding with PyAV (and frame directories).

``read_frames(path, indices)`` returns RGB uint8 ``[T, H, W, 3]`` frames, exactly the pixels
that decoding the stream from the start and keeping the frames at ``indices`` gives (frame
``k`` = the ``k``-th frame the decoder outputs, 0-based), but decodes far less:

1. **Index table.** The video stream's packets are demuxed without decoding (cheap: no
   pixels). Sorting their pts gives frame ``k``'s pts, and their keyframe flags give the
   keyframe indices. Assumption: one packet = one displayed frame (true for h264/hevc in
   mp4, VP8/VP9/AV1 in webm/mkv as FFmpeg muxes them); packets marked *discard* (edit-list
   trimmed) are excluded, as the decoder drops them too.
2. **Seek + forward decode.** The wanted frames are grouped by GOP: for each group it
   seeks (``container.seek(pts, stream=..., backward=True, any_frame=False)``) to the
   keyframe at or before the group's first wanted frame, decodes forward, identifies every
   output frame by its pts, converts only the wanted ones, and stops after the group's last
   one. A new group (a new seek) starts when a keyframe lies between two wanted frames, so
   gaps spanning keyframes are skipped instead of decoded.
3. **Safe fallback.** If the table can't be trusted (a packet without pts, duplicate pts, no
   keyframe, a wanted frame before the first keyframe) or decoding after a seek disagrees
   with it (an output pts not in the table, a skipped or repeated index, a seek that lands
   after the wanted frame), the frames are re-read by plain sequential decoding from the
   start, counting output frames. That is slower but exact by definition.

Colour: ``frame.to_ndarray(format="rgb24")`` (FFmpeg swscale), the same call a sequential
reference uses; ``bgr=True`` returns the same pixels with channels reversed (SViT's official
pipeline decodes with cv2 and feeds BGR).

Errors: an empty, missing, unreadable, truncated or undecodable file raises
:class:`VideoReadError` (not ``UserError``: the dataset layer decides whether to retry or
skip). Truncation is detected from the demuxed packets: fewer than the header's frame count
(mp4), or, without one (webm/mkv), packets ending before the container's duration (video-only
files). Indices outside ``[0, num_frames)`` raise ``IndexError``. Everything is local file
I/O with bounded loops, so a bad file fails fast instead of hanging.

Frame directories (``path`` is a directory) are handled by :mod:`.framedir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .framedir import dir_info, read_dir_frames


class VideoReadError(Exception):
    """A video (or frame directory) could not be read: empty, truncated, corrupt, missing."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.reason))


class _Fallback(Exception):
    """The pts index table or a seek is not trustworthy: re-read sequentially."""


@dataclass(frozen=True)
class _Table:
    pts: np.ndarray        # int64 [N]: pts of frame k, presentation order
    keyframes: np.ndarray  # int64: indices of keyframes, sorted
    header_frames: int     # stream.frames from the container header (0 = unknown)
    packets: int           # video packets read, discarded ones included


def read_frames(path, indices, *, bgr: bool = False, pattern: str | None = None,
                start_number: int = 1) -> np.ndarray:
    """Frames ``indices`` (0-based, any order, repeats allowed) of a video file or a frame
    directory as uint8 ``[T, H, W, 3]``, RGB (or BGR with ``bgr=True``), in request order.

    For a directory, ``pattern`` is a ``str.format`` name for frame ``i`` given the number
    ``i + start_number`` (``"{:05d}.jpg"`` for SSv1, ``"img_{:05d}.jpg"``, SViT's
    ``"{:04d}.jpg"``; kcenter's SSv2 frames are 0-based: ``f"{vid}_{{:06d}}.jpeg"`` with
    ``start_number=0``); ``None`` means the naturally sorted listing of jpg/jpeg/png files.
    """
    idx = _as_indices(indices)
    p = Path(path)
    if p.is_dir():
        frames = read_dir_frames(p, idx, pattern=pattern, start_number=start_number,
                                 error=VideoReadError)
    else:
        frames = _read_video(p, idx)
    return np.ascontiguousarray(frames[..., ::-1]) if bgr else frames


def video_info(path, *, pattern: str | None = None, start_number: int = 1) -> dict:
    """Stream facts without decoding pixels.

    Keys: ``num_frames`` (counted from packets, reliable even when the header says 0, as in
    webm), ``fps`` (average rate; None for a directory), ``width``, ``height``, ``codec``,
    ``keyframes`` (frame indices; None for a directory), and for videos also ``pts`` (frame
    pts in presentation order), ``time_base`` (float seconds), ``duration_pts`` (the stream
    header's duration in time_base units or None) and ``header_frames`` (the header's frame
    count, 0 if unknown): what PySlowFast's PyAV decoder bases its clip window on, see
    :func:`..samplers.dense_clip_pyav`.
    """
    p = Path(path)
    if p.is_dir():
        return dir_info(p, pattern=pattern, start_number=start_number, error=VideoReadError)
    with _open(p) as container:
        stream = container.streams.video[0]
        table = _scan(p, container, stream)
        return {
            "num_frames": int(table.pts.size),
            "fps": float(stream.average_rate) if stream.average_rate else None,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
            "keyframes": table.keyframes.tolist(),
            "pts": table.pts.tolist(),
            "time_base": float(stream.time_base) if stream.time_base else None,
            "duration_pts": stream.duration,
            "header_frames": int(stream.frames or 0),
        }


def _as_indices(indices) -> np.ndarray:
    if hasattr(indices, "detach"):  # torch tensor
        indices = indices.detach().cpu().numpy()
    arr = np.asarray(indices)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"read_frames: indices must be a 1-D sequence of ints, got {arr.dtype} "
                        f"with shape {arr.shape}")
    return arr.astype(np.int64)


class _open:
    """``av.open`` as a context manager that turns every open failure into VideoReadError."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        if not self.path.is_file():
            raise VideoReadError(self.path, "no such file")
        if os.path.getsize(self.path) == 0:
            raise VideoReadError(self.path, "empty file (0 bytes)")
        try:
            self.container = av.open(str(self.path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoReadError(self.path, f"cannot open: {e}") from e
        if not self.container.streams.video:
            self.container.close()
            raise VideoReadError(self.path, "no video stream")
        return self.container

    def __exit__(self, *exc):
        self.container.close()
        return False


def _scan(path: Path, container, stream) -> _Table:
    """Demux the video stream's packets (no decoding) into a pts/keyframe table."""
    pts, key, packets, trusted = [], [], 0, True
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the end-of-stream flush packet
                continue
            packets += 1
            if packet.is_discard:
                continue
            if packet.pts is None:
                trusted = False
                pts.append(packet.dts if packet.dts is not None else -1)
            else:
                pts.append(packet.pts)
            key.append(packet.is_keyframe)
    except av.FFmpegError as e:
        raise VideoReadError(path, f"demuxing failed after {packets} packets: {e}") from e
    header = int(stream.frames or 0)
    if packets == 0:
        raise VideoReadError(path, "no video packets (empty or truncated stream)")
    if header and packets < header:
        raise VideoReadError(path, f"truncated: the header promises {header} frames but only "
                                   f"{packets} packets are readable")
    if not header:
        _check_duration(path, container, stream, max(pts), packets)
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    spts = np.asarray(pts, dtype=np.int64)[order]
    keyframes = np.flatnonzero(np.asarray(key, dtype=bool)[order])
    if not trusted or (spts.size > 1 and np.any(np.diff(spts) <= 0)) or keyframes.size == 0:
        keyframes = np.zeros(0, dtype=np.int64)  # marks the table as untrusted for seeking
    return _Table(spts, keyframes, header, packets)


def _check_duration(path, container, stream, last_pts: int, packets: int) -> None:
    """Without a header frame count (webm/mkv), a video-only file whose packets stop more
    than two frames before the container's duration is truncated. (With other streams the
    container duration may be theirs, so no verdict.)"""
    if len(container.streams) != 1 or not container.duration or not stream.time_base:
        return
    rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
    start = stream.start_time or 0
    covered = float((last_pts - start) * stream.time_base) + 1.0 / rate
    expected = container.duration / av.time_base
    if covered + 2.0 / rate < expected:
        raise VideoReadError(path, f"truncated: packets end at {covered:.2f}s of a "
                                   f"{expected:.2f}s stream ({packets} packets readable)")


def _read_video(path: Path, idx: np.ndarray) -> np.ndarray:
    with _open(path) as container:
        stream = container.streams.video[0]
        table = _scan(path, container, stream)
        n = table.pts.size
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx[(idx < 0) | (idx >= n)][0])
            raise IndexError(f"{path}: frame index {bad} out of range, the video has {n} frames")
        if idx.size == 0:
            h, w = stream.codec_context.height, stream.codec_context.width
            return np.zeros((0, h, w, 3), np.uint8)
        wanted = np.unique(idx)
        try:
            got = _read_seeking(path, container, stream, table, wanted)
        except _Fallback:
            got = None
    if got is None:
        got = _read_sequential(path, wanted)
    return np.stack([got[int(i)] for i in idx])


def _groups(wanted: np.ndarray, keyframes: np.ndarray) -> list[tuple[int, list[int]]]:
    """Split sorted unique wanted indices into (seek keyframe, frames) runs: a new run starts
    when a keyframe lies after the previous wanted frame and at or before the next one."""
    kf_of = keyframes[np.searchsorted(keyframes, wanted, side="right") - 1]
    groups: list[tuple[int, list[int]]] = []
    for w, kf in zip(wanted.tolist(), kf_of.tolist(), strict=True):
        if not groups or kf > groups[-1][1][-1]:
            groups.append((kf, [w]))
        else:
            groups[-1][1].append(w)
    return groups


def _read_seeking(path, container, stream, table: _Table, wanted: np.ndarray) -> dict:
    if table.keyframes.size == 0 or wanted[0] < table.keyframes[0]:
        raise _Fallback
    index_of = {int(p): k for k, p in enumerate(table.pts.tolist())}
    keyset = set(table.keyframes.tolist())
    out: dict[int, np.ndarray] = {}
    for kf, frames in _groups(wanted, table.keyframes):
        container.seek(int(table.pts[kf]), stream=stream, backward=True, any_frame=False)
        need, last, expect = set(frames), frames[-1], None
        try:
            for frame in container.decode(stream):
                k = index_of.get(frame.pts) if frame.pts is not None else None
                if k is None:
                    raise _Fallback
                if expect is None:  # first frame at or after the seek keyframe
                    if k < kf:
                        continue  # landed on an earlier keyframe, or open-GOP leading pictures
                    if k > frames[0] or (k != kf and k not in keyset):
                        raise _Fallback  # landed after the wanted frame, or frames went missing
                    expect = k
                if k != expect:
                    raise _Fallback  # a skipped or repeated frame: the table is not 1:1
                expect += 1
                if k in need:
                    out[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
        except av.FFmpegError as e:
            raise VideoReadError(path, f"decoding failed near frame {expect}: {e}") from e
        if expect is None or expect <= last:
            raise _Fallback  # the decoder ran dry before the last wanted frame
    return out


def _read_sequential(path: Path, wanted: np.ndarray) -> dict:
    """Reference semantics: decode from the start, frame k = the k-th decoder output."""
    need, last, out, k = set(wanted.tolist()), int(wanted[-1]), {}, -1
    with _open(path) as container:
        try:
            for k, frame in enumerate(container.decode(container.streams.video[0])):
                if k in need:
                    out[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
        except av.FFmpegError as e:
            raise VideoReadError(path, f"decoding failed at frame {k + 1}: {e}") from e
    if len(out) < len(need):
        raise VideoReadError(path, f"only {k + 1} frames decodable, frame {last} requested")
    return out
