"""ByteTracker throughput (CPU, numpy/scipy) on a synthetic crowded scene.

~100 boxes per frame over 200 frames: 110 pedestrians-like boxes moving at constant velocity
with position noise, a few of them missed each frame, random detector-like scores (so all three
association rounds and new tentative tracks occur), plus a handful of false positives. The
detections are drawn once (fixed seed); each round tracks the whole video from frame 0.
``frames_per_s`` in ``extra_info`` is frames / median round time. Tracker only: detection and
interpolation are not timed (interpolation is a one-off per video).

Run: pytest benchmarks/test_tracker.py --benchmark-only
"""

from __future__ import annotations

import numpy as np

from reproducers.common.tracking import ByteTracker

NUM_FRAMES = 200
NUM_OBJECTS = 110


def synthetic_video(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    start = rng.uniform([0, 0], [1920, 1080], size=(NUM_OBJECTS, 2))
    velocity = rng.normal(0, 3, size=(NUM_OBJECTS, 2))
    wh = rng.uniform([20, 50], [80, 200], size=(NUM_OBJECTS, 2))
    frames = []
    for f in range(NUM_FRAMES):
        seen = rng.random(NUM_OBJECTS) > 0.1  # ~10% missed per frame
        centre = start[seen] + velocity[seen] * f + rng.normal(0, 1.5, size=(seen.sum(), 2))
        size = wh[seen] * rng.uniform(0.95, 1.05, size=(seen.sum(), 1))
        scores = np.clip(rng.normal(0.8, 0.15, size=seen.sum()), 0.05, 1.0)
        n_fp = rng.integers(0, 6)
        fp_centre = rng.uniform([0, 0], [1920, 1080], size=(n_fp, 2))
        fp_size = rng.uniform(20, 100, size=(n_fp, 2))
        boxes = np.concatenate([np.concatenate([centre - size / 2, centre + size / 2], 1),
                                np.concatenate([fp_centre - fp_size / 2,
                                                fp_centre + fp_size / 2], 1)])
        scores = np.concatenate([scores, rng.uniform(0.1, 0.8, size=n_fp)])
        order = rng.permutation(len(boxes))
        frames.append((boxes[order].astype(np.float32), scores[order].astype(np.float32)))
    return frames


def test_tracker_frames_per_second(benchmark):
    video = synthetic_video()
    tracker = ByteTracker()

    def track_video():
        outputs = 0
        for frame_id, (boxes, scores) in enumerate(video):
            ids, _, _ = tracker.update(frame_id, boxes, scores)
            outputs += len(ids)
        return outputs

    outputs = benchmark.pedantic(track_video, rounds=5, warmup_rounds=1, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update({
        "frames": NUM_FRAMES,
        "detections_per_frame": float(np.mean([len(s) for _, s in video])),
        "outputs_per_frame": outputs / NUM_FRAMES,
        "tracks_started": tracker.num_tracks,
        "frames_per_s": NUM_FRAMES / median,
        "device": "cpu",
    })
    print(f"\nByteTracker: {NUM_FRAMES / median:.0f} frames/s, "
          f"{benchmark.extra_info['detections_per_frame']:.0f} detections/frame, "
          f"{tracker.num_tracks} track ids")
    # sanity: most objects are tracked through (a broken tracker would start a track per box)
    assert tracker.num_tracks < 3 * NUM_OBJECTS
