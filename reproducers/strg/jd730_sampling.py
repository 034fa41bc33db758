"""jd730/STRG's temporal sampling (kenshohara 3D-ResNets' temporal transforms), the
``sampling: jd730`` option of ``clips.py``."""

from __future__ import annotations

import numpy as np

from reproducers.common.video.samplers import Rng, randint


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
        begin = int(randint(rng, np.array([0]), np.array([max(0, n - clip_len - 1)]))[0])
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
