"""Shared pieces of the dataset-format parsers: dataset declarations, samples, file helpers.

The per-dataset parsers live beside this module (``ssv2.py``, ``something_else.py``,
``ssv1.py``, ``kinetics.py``; a paper's own annotation formats live in its folder); each
returns a ``SplitIndex``. A ``FrameNaming`` says how a frame folder names its files: each
paper passes the naming of its own frame extraction.

Official sample counts (``SPECS[name].expected``), with their sources:

- SSv2: train 168,913, validation 24,777, test 27,157 (220,847 videos in all, the number
  kami93/kcenter_video's README gives for its ``train_test`` folder); 174 classes.
- SSv1: train 86,017, validation 11,522, test 10,960 (the 20BN-something-something v1
  release, 108,499 videos); 174 classes.
- Kinetics-400: rows of the official annotation csv files as hosted by the CVDF:
  train 246,534, val 19,906, test 39,805 (cvdfoundation/kinetics-dataset
  ``arrange_by_classes.py`` docstring, which also counts the videos the CVDF actually hosts:
  240,258 / 19,881 / 38,685). K-center's README reports its own copy: 241,199 / 19,877.
- Kinetics-700: train 545,317, val 35,000, test 70,000 (Carreira et al., arXiv 1907.06987,
  Table 1; consistent with its "around 650k clips" and 50 val / 100 test clips per class).
  Secondary: not re-counted from the csv files.
- Something-Else boxes: 180,049 annotated SSv2 videos (joaanna/something_else README).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reproducers.harness.errors import UserError


@dataclass(frozen=True)
class DatasetVideoSpec:
    """What a video dataset declares once: classes, official split sizes, flip policy.

    ``flip_allowed`` is False for Something-Something v1/v2: their labels name left and
    right ("Pushing something from left to right"), so a horizontal flip changes the class.
    """

    name: str
    num_classes: int
    expected: Mapping[str, int | None]  # split name -> official number of videos
    flip_allowed: bool
    source: str  # where ``expected`` comes from


SPECS: dict[str, DatasetVideoSpec] = {
    "ssv2": DatasetVideoSpec(
        "ssv2", 174, {"train": 168_913, "validation": 24_777, "test": 27_157}, False,
        "20BN Something-Something v2 release (220,847 videos)"),
    "ssv1": DatasetVideoSpec(
        "ssv1", 174, {"train": 86_017, "validation": 11_522, "test": 10_960}, False,
        "20BN Something-Something v1 release (108,499 videos)"),
    "k400": DatasetVideoSpec(
        "k400", 400, {"train": 246_534, "val": 19_906, "test": 39_805}, True,
        "rows of the CVDF-hosted Kinetics-400 annotation csv files"),
    "k700": DatasetVideoSpec(
        "k700", 700, {"train": 545_317, "val": 35_000, "test": 70_000}, True,
        "Kinetics-700 note (arXiv 1907.06987) Table 1; secondary"),
}
SOMETHING_ELSE_VIDEOS = 180_049

# Split-name aliases the annotation files use for the same split.
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "validation", "valid": "validation", "validation": "validation",
    "test": "test", "testing": "test",
}


def get_spec(name: str) -> DatasetVideoSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UserError(f"unknown video dataset {name!r}: declare one of "
                        f"{', '.join(sorted(SPECS))}") from None


def expected_count(dataset: str | None, split: str) -> int | None:
    """Official count of ``split`` ("train"/"val"/"validation"/"training"...) or None."""
    if dataset is None:
        return None
    spec = get_spec(dataset)
    canon = SPLIT_ALIASES.get(split, split)
    for key, value in spec.expected.items():
        if SPLIT_ALIASES.get(key, key) == canon:
            return value
    return None


@dataclass
class VideoSample:
    """One video of a split.

    ``path`` is a video file or a frame folder. ``num_frames`` is known when the annotation
    says it (box json length, STRG segment); otherwise the dataset asks ``video_info``.
    ``frame_map`` maps a sampled index (0..num_frames-1) to the 0-based position of the frame
    in the folder's sorted frame list (SViT: box-json entry -> jpg; STRG: segment frames).
    """

    video_id: str
    path: Path
    label: int  # -1 when the split has no public label (test)
    num_frames: int | None = None
    frame_map: tuple[int, ...] | None = None
    read_kwargs: dict = field(default_factory=dict)  # frame folders: pattern, start_number
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FrameNaming:
    """How a frame folder names its files, in ``decode.read_frames``'s terms.

    ``pattern`` is a ``str.format`` name with one positional field for the frame number
    (``index + start_number``); ``{vid}`` in it stands for the video id.
    """

    pattern: str
    start_number: int

    def read_kwargs(self, video_id: str) -> dict:
        return {"pattern": self.pattern.replace("{vid}", video_id),
                "start_number": self.start_number}

    def name(self, video_id: str, index: int) -> str:
        """File name of frame ``index`` (0-based position)."""
        return self.pattern.replace("{vid}", video_id).format(index + self.start_number)



@dataclass
class SplitIndex:
    """A parsed split: samples on disk, ids the annotation lists but the disk lacks."""

    samples: list[VideoSample]
    missing_ids: list[str]
    expected: int | None
    classes: list[str]
    missing_paths: list[str] = field(default_factory=list)  # where the missing ids were sought

    @property
    def ids(self) -> list[str]:
        return [s.video_id for s in self.samples]


def id_hash(ids: Sequence[str]) -> str:
    """sha256 of the sorted ids, one per line (the convention of every fingerprint here)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def load_json(path: Path, what: str) -> Any:
    """Parse ``path``; a missing or malformed file is a UserError naming it and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path} (put the official file there or pass "
                        f"its path)")
    try:
        with path.open("rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON at line {e.lineno} column {e.colno} "
                        f"({e.msg}); re-download the {what}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason}); re-download the {what}") from None


def find_file(root: Path, candidates: Sequence[str], what: str) -> Path:
    """The first of ``root/candidate`` that exists; UserError listing them all otherwise."""
    root = Path(root)
    for rel in candidates:
        p = root / rel
        if p.exists():
            return p
    tried = ", ".join(str(root / c) for c in candidates)
    raise UserError(f"{what} not found under {root}: tried {tried}")


def strip_template(template: str) -> str:
    """SSv2 class name from a template: "Putting [something] on [something]" without brackets."""
    return template.replace("[", "").replace("]", "")


def entry_error(path: Path, where: str, problem: str, fix: str) -> UserError:
    """A UserError for one bad entry: "<file> <entry>: <problem>; <fix>"."""
    return UserError(f"{path} {where}: {problem}; {fix}")
