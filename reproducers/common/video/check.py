"""``data check``: which videos of a split are missing or unreadable, without training.

Each video is opened and its header read (``video_info``: for a file PyAV demuxes every
packet without decoding pixels and compares the packet count with the header's frame
count; for a frame folder it counts the frames), then its first and last frame are decoded.
That catches what stops or corrupts a run:

- a missing file or folder;
- an empty or non-video file (no header: opening fails);
- a truncated mp4: with the index (moov) at the end, as ffmpeg writes by default, the cut
  removes it and opening fails; with the index first, fewer packets remain than the header
  promises, or the last frame no longer decodes;
- a frame folder whose first or last image is missing or corrupt.

Decoding every frame of every video would also find damage in the middle of a stream, at
the cost of a full decode of the dataset; first + last is the cheap check PySlowFast-style
loaders effectively depend on (they fail on the header or the requested range).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reproducers.common.video.decode import VideoReadError, read_frames, video_info
from reproducers.common.video.formats import SplitIndex, VideoSample


def check_video(sample: VideoSample, read_fn: Callable = read_frames,
                info_fn: Callable = video_info) -> tuple[str, str | None]:
    """("ok" | "missing" | "unreadable", reason or None) for one video."""
    path = Path(sample.path)
    if not path.exists():
        return "missing", None
    kwargs = sample.read_kwargs
    try:
        n = sample.num_frames
        if n is None:
            n = int(info_fn(path, **kwargs)["num_frames"])
        if n < 1:
            return "unreadable", "no frames"
        ends = [0, n - 1]
        if sample.frame_map is not None:
            ends = [sample.frame_map[0], sample.frame_map[n - 1]]
        read_fn(path, ends, **kwargs)
    except (VideoReadError, OSError) as e:
        return "unreadable", getattr(e, "reason", None) or f"{type(e).__name__}: {e}"
    except IndexError as e:
        return "unreadable", f"fewer frames than the annotation says ({e})"
    return "ok", None


def check_dataset(samples: Sequence[VideoSample], *, read_fn: Callable = read_frames,
                  info_fn: Callable = video_info, workers: int = 4,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Open every video of ``samples`` (``workers`` threads; PyAV releases the GIL).

    Returns {"total", "usable", "missing": [paths], "unreadable": [(path, reason)],
    "usable_share"}, in the order of ``samples``. ``check_split`` also counts the videos a
    split builder already found absent.
    """
    samples = list(samples)
    results: list[tuple[str, str | None]] = [("ok", None)] * len(samples)

    def one(i: int) -> None:
        results[i] = check_video(samples[i], read_fn, info_fn)

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(one, range(len(samples))):
            done += 1
            if progress is not None:
                progress(done, len(samples))
    missing = [str(s.path) for s, (st, _) in zip(samples, results, strict=True)
               if st == "missing"]
    unreadable = [(str(s.path), r) for s, (st, r) in zip(samples, results, strict=True)
                  if st == "unreadable"]
    usable = len(samples) - len(missing) - len(unreadable)
    return {"total": len(samples), "usable": usable, "missing": missing,
            "unreadable": unreadable, "usable_share": usable / len(samples) if samples else 0.0}


def check_split(split: SplitIndex, **kwargs) -> dict:
    """``check_dataset`` over a parsed split, its absent videos counted as missing."""
    result = check_dataset(split.samples, **kwargs)
    absent = list(split.missing_paths) or [f"(id {i})" for i in split.missing_ids]
    total = result["total"] + len(absent)
    result.update(total=total, missing=absent + result["missing"],
                  usable_share=result["usable"] / total if total else 0.0)
    return result


def format_report(name: str, result: dict, limit: int = 50) -> str:
    """Human-readable text of ``check_dataset``'s result for the CLI."""
    lines = [f"{name}: {result['usable']} of {result['total']} videos usable "
             f"({result['usable_share']:.2%})"]
    if result["missing"]:
        lines.append(f"missing ({len(result['missing'])}):")
        lines += [f"  {p}" for p in result["missing"][:limit]]
    if result["unreadable"]:
        lines.append(f"unreadable ({len(result['unreadable'])}):")
        lines += [f"  {p}: {r}" for p, r in result["unreadable"][:limit]]
    hidden = max(0, len(result["missing"]) - limit) + max(0, len(result["unreadable"]) - limit)
    if hidden:
        lines.append(f"... and {hidden} more (use --json for the full list)")
    return "\n".join(lines)
