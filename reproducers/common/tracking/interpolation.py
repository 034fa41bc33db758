"""Linear track interpolation applied to ByteTrack output before MOT evaluation.

Reproduces mmtrack 0.14 ``mmtrack/core/track/interpolation.py`` (``interpolate_tracks``), as
called by SVM's ``MOTChallengeDatasetVideo.format_track_results`` (one video at a time,
``interpolate_tracks_cfg=dict(min_num_frames=5, max_num_frames=20)``, skipped when the video
has no track row at all). Rows are ``(frame_id, track_id, x1, y1, x2, y2, score)``; frame ids
are the frame indices within the video. Code written anew; behaviour:

* every track id from ``min(track_id)`` to ``max(track_id)`` is visited in increasing order;
* a track with ``<= 2`` rows is **dropped** from the output (even though interpolation needs
  ``> min_num_frames`` rows, short tracks are not merely left alone: they disappear);
* a track with ``> min_num_frames`` rows (i.e. at least ``min_num_frames + 1``) gets, for each
  pair of consecutive rows ``i, i+1`` with ``d = frame[i+1] - frame[i]`` and
  ``1 < d < max_num_frames`` (so at most ``max_num_frames - 2`` missing frames), rows for the
  frames ``frame[i] + j``, ``j = 1 .. d-1``: box ``left + j / d * (right - left)``, score 1;
  gaps with ``d >= max_num_frames`` stay empty;
* a track with 3 .. ``min_num_frames`` rows is kept unchanged;
* per track the interpolated rows are appended after the original ones; the tracks are
  concatenated in id order and the result is ordered by ``np.argsort`` of the frame column with
  numpy's default (not stable) sort, as the original -- so the order of rows inside a frame is
  numpy's.

Differences: an empty input (or one where every track is dropped) returns an empty ``(0, 7)``
array instead of raising inside ``np.max`` / ``np.concatenate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stack_track_results(per_frame: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
                        ) -> np.ndarray:
    """Per-frame ``(ids, bboxes, scores)`` (e.g. ``ByteTracker.update`` outputs, frame ``t`` at
    position ``t``) -> ``(N, 7)`` float64 rows ``(frame_id, track_id, x1, y1, x2, y2, score)``.

    As ``format_track_results``: the boxes and scores pass through float32.
    """
    rows = []
    for frame_id, (ids, bboxes, scores) in enumerate(per_frame):
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        frame = np.full(len(ids), frame_id, dtype=np.float64)
        rows.append(np.concatenate([frame[:, None], ids[:, None].astype(np.float64),
                                    bboxes.astype(np.float64),
                                    scores[:, None].astype(np.float64)], axis=1))
    if not rows:
        return np.zeros((0, 7))
    return np.concatenate(rows)


def _interpolate_track(track: np.ndarray, max_num_frames: int) -> np.ndarray:
    frames = track[:, 0]
    filled = []
    for i in np.flatnonzero(np.diff(frames) > 1):
        left, right = track[i], track[i + 1]
        gap = int(right[0] - left[0])
        if not 1 < gap < max_num_frames:
            continue
        j = np.arange(1, gap, dtype=np.float64)[:, None]
        rows = np.ones((gap - 1, 7))
        rows[:, 0] = left[0] + j[:, 0]
        rows[:, 1] = left[1]
        rows[:, 2:6] = j / gap * (right[2:6] - left[2:6]) + left[2:6]
        filled.append(rows)
    return np.concatenate([track, *filled]) if filled else track


def interpolate_tracks(results: np.ndarray, min_num_frames: int = 5,
                       max_num_frames: int = 20) -> np.ndarray:
    """Interpolate gaps in tracks (see module docstring for the exact rules).

    ``results``: ``(N, 7)`` rows ``(frame_id, track_id, x1, y1, x2, y2, score)`` of one video,
    each track's rows in increasing frame order (as :func:`stack_track_results` makes them).
    Returns the ``(M, 7)`` float64 rows, ordered by frame.
    """
    results = np.asarray(results, dtype=np.float64).reshape(-1, 7)
    if len(results) == 0:
        return np.zeros((0, 7))
    out = []
    for track_id in range(int(results[:, 1].min()), int(results[:, 1].max()) + 1):
        track = results[results[:, 1] == track_id]
        if len(track) <= 2:
            continue
        if len(track) > min_num_frames:
            track = _interpolate_track(track, max_num_frames)
        out.append(track)
    if not out:
        return np.zeros((0, 7))
    merged = np.concatenate(out)
    return merged[merged[:, 0].argsort()]
