"""Kinetics-400/700: the official annotation csv files and the mp4 naming.

Official csv (CVDF-hosted ``annotations/{train,val,test}.csv``; ActivityNet crawler
``kinetics-400_{split}.csv``): a header line, then
``label,youtube_id,time_start,time_end,split[,is_cc]`` (the test csv may lack ``label``).
A clip is stored as ``<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`` (the CVDF file
names; kami93/kcenter_video ``kinetics_mp4.py``; jd730/STRG ``util_scripts/kinetics_json.py``
uses the same key), either flat in ``<videos_dir>/`` (K-center: ``{PATH_TO_MP4}/{SPLIT_DIR}``)
or in ``<videos_dir>/<label>/`` (the CVDF ``arrange_by_classes.py`` and ActivityNet crawler
layout). ``layout="auto"`` takes ``<label>/`` when that file exists, else the flat file.

Class indices: ``class_order="sorted"`` indexes the sorted unique labels of the csv
(K-center ``kinetics_mp4.py``, PySlowFast); ``"first_seen"`` indexes them in order of first
appearance in the train csv (jd730/STRG ``kinetics_json.load_labels``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reproducers.common.video.formats import (
    SplitIndex,
    VideoSample,
    entry_error,
    expected_count,
    find_file,
)
from reproducers.harness.errors import UserError

REQUIRED = ("youtube_id", "time_start", "time_end")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class KineticsRow:
    label: str | None
    youtube_id: str
    time_start: int
    time_end: int
    line: int = field(default=0, compare=False)  # line in the csv, for messages

    @property
    def key(self) -> str:
        return clip_name(self.youtube_id, self.time_start, self.time_end)


def clip_name(youtube_id: str, time_start: int, time_end: int) -> str:
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}"


def csv_files(version: int, split: str) -> tuple[str, ...]:
    return (f"annotations/{split}.csv", f"{split}.csv", f"kinetics-{version}_{split}.csv",
            f"kinetics_{version}_{split}.csv", f"annotations/kinetics-{version}_{split}.csv")


def read_csv(path: Path) -> list[KineticsRow]:
    """Rows of an official csv; a missing column or bad row is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Kinetics csv not found: {path} (put the official annotation csv "
                        f"there or pass its path)")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        absent = [c for c in REQUIRED if c not in header]
        if absent:
            raise UserError(f"{path} line 1: header {header} lacks {', '.join(absent)}; the "
                            f"official header is label,youtube_id,time_start,time_end,split")
        reader.fieldnames = header
        rows = []
        for row in reader:
            line = reader.line_num
            try:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except (TypeError, ValueError):
                raise entry_error(path, f"line {line}", f"time_start/time_end "
                                  f"{row.get('time_start')!r}/{row.get('time_end')!r} are not "
                                  f"numbers", "use the official csv") from None
            yid = (row.get("youtube_id") or "").strip()
            if not yid:
                raise entry_error(path, f"line {line}", "has no youtube_id", "use the official csv")
            label = row.get("label")
            label = label.strip() if label and label.strip() else None
            rows.append(KineticsRow(label, yid, start, end, line))
    return rows


def class_names(rows: Sequence[KineticsRow], order: str = "sorted") -> list[str]:
    labels = [r.label for r in rows if r.label is not None]
    if order == "sorted":
        return sorted(set(labels))
    if order == "first_seen":
        return list(dict.fromkeys(labels))
    raise UserError(f"unknown Kinetics class order {order!r}: use sorted or first_seen")


def clip_path(videos_dir: Path, row: KineticsRow, layout: str = "auto") -> Path:
    """The mp4 of ``row`` under ``layout``: "flat", "by_label" or "auto" (by_label if present)."""
    flat = Path(videos_dir) / f"{row.key}.mp4"
    if layout == "flat" or row.label is None:
        return flat
    nested = Path(videos_dir) / row.label / f"{row.key}.mp4"
    if layout == "by_label":
        return nested
    if layout != "auto":
        raise UserError(f"unknown Kinetics layout {layout!r}: use flat, by_label or auto")
    return nested if nested.exists() else flat


def build_split(root: Path, split: str, *, version: int = 400, csv_path: Path | None = None,
                videos_dir: Path | None = None, layout: str = "auto",
                class_order: str = "sorted", classes: Sequence[str] | None = None) -> SplitIndex:
    """Samples of ``split`` ("train", "val" or "test") whose mp4 exists.

    ``classes`` fixes the class list (e.g. from the train csv); by default it comes from this
    split's csv in ``class_order`` (K-center indexes each split's own sorted labels).
    """
    root = Path(root)
    split = {"validation": "val"}.get(split, split)
    if split not in SPLITS:
        raise UserError(f"unknown Kinetics split {split!r}: use train, val or test")
    if version not in (400, 700):
        raise UserError(f"unknown Kinetics version {version}: use 400 or 700")
    csv_path = csv_path or find_file(root, csv_files(version, split), f"Kinetics {split} csv")
    rows = read_csv(csv_path)
    names = list(classes) if classes is not None else class_names(rows, class_order)
    index = {n: i for i, n in enumerate(names)}
    if videos_dir is None:
        videos_dir = next((root / d for d in (split, f"videos/{split}") if (root / d).is_dir()),
                          root)
    samples, missing, missing_paths = [], [], []
    for row in rows:
        if row.label is not None and row.label not in index:
            raise entry_error(csv_path, f"line {row.line} ({row.key})",
                              f"label {row.label!r} is not in the class list",
                              "use the class list of the same release")
        label = -1 if row.label is None else index[row.label]
        path = clip_path(videos_dir, row, layout)
        if path.is_file():
            samples.append(VideoSample(row.key, path, label))
        else:
            missing.append(row.key)
            missing_paths.append(str(path))
    return SplitIndex(samples, missing, expected_count(f"k{version}", split), names,
                      missing_paths)
