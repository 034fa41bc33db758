"""MOTChallenge text formats: ``seqinfo.ini``, ground truth ``gt.txt``, tracker results.

Ground truth (MOT16/17/20 ``gt/gt.txt``), one box per line::

    frame, id, bb_left, bb_top, bb_width, bb_height, conf, class, visibility

``frame`` is 1-based; ``conf`` is the "consider" flag (0 = ignore this box); ``class`` is
one of ``MOT_CLASSES``. MOT15 ground truth has 10 columns with class -1 (x, y, z world
coordinates instead of class/visibility); it is read with ``check_classes=False``.

Tracker results::

    frame, id, bb_left, bb_top, bb_width, bb_height, score, -1, -1, -1

TrackEval (``trackeval/datasets/mot_challenge_2d_box.py``, ``_base_dataset.py``) reads the
first 6 columns as frame, id and box, column 7 as the tracker confidence and column 8, when
present, as the class (which must be <= 1 for trackers). It needs at least 8 columns of
ground truth. Its errors name neither the line nor, often, the file; the readers here check
the same things first and raise ``UserError("<file>:<line>: ...")``:

- 6..10 comma- (or whitespace-) separated columns, the same count on every line (8..10 for
  ground truth); a trailing comma is allowed (TrackEval drops one trailing empty field);
- every value a finite number; frame and id integers (``1.0`` is accepted: the official SVM
  writer prints ids as floats); 1 <= frame <= seqLength; id >= 0 (TrackEval relabels ids by
  indexing an array with them, a negative id silently aliases another one);
- width and height >= 0;
- no id twice in one frame (TrackEval rejects that too, without the line);
- ground-truth classes in 1..13 (``MotChallenge2DBox`` raises on any other class when it
  preprocesses a frame), unless ``check_classes=False`` (MOT15).

Blank lines are skipped.
"""

from __future__ import annotations

import configparser
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...harness.atomic import write_text_atomic
from ...harness.errors import UserError

MOT_CLASSES = {
    1: "pedestrian", 2: "person_on_vehicle", 3: "car", 4: "bicycle", 5: "motorbike",
    6: "non_mot_vehicle", 7: "static_person", 8: "distractor", 9: "occluder",
    10: "occluder_on_ground", 11: "occluder_full", 12: "reflection", 13: "crowd",
}
# MotChallenge2DBox.get_preprocessed_seq_data: predictions matched (IoU >= 0.5, Hungarian) to
# ground truth of these classes are removed before scoring (MOT20 adds 6, non_mot_vehicle).
DISTRACTOR_CLASSES = (2, 7, 8, 12)

GT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "conf", "class", "visibility")
RESULT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "score")


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``.

    Only ``seq_length`` is required (it is all TrackEval reads); the other fields are None
    when absent. ``name`` defaults to the sequence folder's name."""

    name: str
    seq_length: int
    im_dir: str | None = None
    frame_rate: int | None = None
    im_width: int | None = None
    im_height: int | None = None
    im_ext: str | None = None

    def to_ini(self) -> str:
        """The file text, keys in the official order (``mot2coco.py`` reads them by line)."""
        lines = ["[Sequence]", f"name={self.name}"]
        for key, value in (("imDir", self.im_dir), ("frameRate", self.frame_rate),
                           ("seqLength", self.seq_length), ("imWidth", self.im_width),
                           ("imHeight", self.im_height), ("imExt", self.im_ext)):
            if value is not None:
                lines.append(f"{key}={value}")
        return "\n".join(lines) + "\n"


def read_seqinfo(path: Path) -> SeqInfo:
    """Parse ``seqinfo.ini`` with configparser, as TrackEval does (keys are case-insensitive)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; every sequence folder needs a seqinfo.ini "
                        "with a [Sequence] section giving seqLength")
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8-sig"), source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        if line is None and getattr(exc, "errors", None):
            line = exc.errors[0][0]
        where = f"{path}:{line}" if line is not None else str(path)
        first = str(exc).splitlines()[0]
        raise UserError(f"{where}: not a valid ini file ({first}); fix the file") from None
    if "Sequence" not in parser:
        raise UserError(f"{path}: no [Sequence] section; seqinfo.ini must start with [Sequence]")
    sec = parser["Sequence"]

    def integer(key: str, required: bool = False) -> int | None:
        if key not in sec:
            if required:
                raise UserError(f"{path}: [Sequence] has no {key}=; add it (the number of "
                                "frames of the sequence)")
            return None
        try:
            value = int(sec[key].strip())
        except ValueError:
            raise UserError(f"{path}: {key}={sec[key]!r} is not an integer; fix it") from None
        if value <= 0:
            raise UserError(f"{path}: {key}={value} must be positive")
        return value

    seq_length = integer("seqLength", required=True)
    return SeqInfo(
        name=sec.get("name", path.parent.name).strip(),
        seq_length=seq_length,
        im_dir=sec["imDir"].strip() if "imDir" in sec else None,
        frame_rate=integer("frameRate"),
        im_width=integer("imWidth"),
        im_height=integer("imHeight"),
        im_ext=sec["imExt"].strip() if "imExt" in sec else None,
    )


def write_seqinfo(path: Path, info: SeqInfo) -> Path:
    return write_text_atomic(Path(path), info.to_ini())


@dataclass
class MotTable:
    """A validated MOTChallenge text file.

    ``rows``: float64 ``[N, len(GT_COLUMNS)]`` (ground truth) or ``[N, len(RESULT_COLUMNS)]``
    (results), in file order; missing optional columns are -1 (visibility, score).
    ``tokens``: the original fields of each data line (no blank lines) and ``line_numbers``
    their 1-based line numbers; ``num_columns``: the file's column count."""

    path: Path
    rows: np.ndarray
    tokens: list[list[str]]
    line_numbers: np.ndarray
    num_columns: int

    def normalized_text(self, min_columns: int = 0) -> str:
        """The data lines comma-joined (blank lines dropped, whitespace-separated files made
        comma-separated), padded with ``1`` up to ``min_columns`` fields. The values are the
        original strings, so TrackEval reads exactly the same numbers."""
        pad = max(0, min_columns - self.num_columns)
        tail = ",1" * pad
        return "".join(",".join(t) + tail + "\n" for t in self.tokens)


def _split(line: str) -> list[str] | None:
    text = line.strip()
    if not text:
        return None
    if "," in text:
        tokens = [t.strip() for t in text.split(",")]
        if tokens[-1] == "":
            tokens.pop()
        return tokens
    return text.split()


def parse_mot_file(path: Path, kind: str, *, seq_length: int | None = None,
                   check_classes: bool = True) -> MotTable:
    """Read and validate a ground-truth (``kind="gt"``) or result (``kind="results"``) file.

    Raises ``UserError`` naming ``file:line`` for the first malformed line (see the module
    docstring for the rules)."""
    if kind not in ("gt", "results"):
        raise ValueError(f"kind must be 'gt' or 'results', got {kind!r}")
    path = Path(path)
    is_gt = kind == "gt"
    what = "ground-truth" if is_gt else "tracker result"
    layout = ("frame,id,x,y,w,h,conf,class,visibility" if is_gt
              else "frame,id,x,y,w,h,score,-1,-1,-1")
    lo, hi = (8, 10) if is_gt else (6, 10)
    if not path.is_file():
        raise UserError(f"{path}: no such {what} file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; expected {what} lines {layout}") from None

    tokens: list[list[str]] = []
    numbers: list[int] = []
    ncols = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        toks = _split(line)
        if toks is None:
            continue
        if not lo <= len(toks) <= hi:
            raise UserError(f"{path}:{lineno}: expected {lo} to {hi} comma-separated columns "
                            f"({layout}), got {len(toks)}; fix or remove the line")
        if ncols is None:
            ncols = len(toks)
        elif len(toks) != ncols:
            raise UserError(f"{path}:{lineno}: {len(toks)} columns, but line {numbers[0]} has "
                            f"{ncols}; every line needs the same columns ({layout})")
        tokens.append(toks)
        numbers.append(lineno)

    width = len(GT_COLUMNS) if is_gt else len(RESULT_COLUMNS)
    line_numbers = np.asarray(numbers, dtype=np.int64)
    if not tokens:
        return MotTable(path, np.zeros((0, width)), [], line_numbers, ncols or 0)

    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        for toks, lineno in zip(tokens, numbers, strict=True):
            for col, tok in enumerate(toks):
                try:
                    ok = math.isfinite(float(tok))
                except ValueError:
                    ok = False
                if not ok:
                    name = (GT_COLUMNS + ("x3d",) if is_gt else
                            RESULT_COLUMNS + ("x3d", "y3d", "z3d"))[col]
                    raise UserError(f"{path}:{lineno}: column {col + 1} ({name}) is {tok!r}, "
                                    "not a finite number; fix the line")
        raise AssertionError("unreachable")  # pragma: no cover

    def fail(mask: np.ndarray, message: str) -> None:
        bad = np.flatnonzero(mask)
        if bad.size:
            i = int(bad[0])
            raise UserError(f"{path}:{numbers[i]}: {message.format(row=values[i])}")

    frame, ids = values[:, 0], values[:, 1]
    fail(frame != np.round(frame), "frame {row[0]:g} is not an integer")
    fail(frame < 1, "frame {row[0]:g} < 1; MOTChallenge frames are 1-based")
    if seq_length is not None:
        fail(frame > seq_length, "frame {row[0]:g} > seqLength " + str(seq_length)
             + " of seqinfo.ini; fix the frame number or seqLength")
    fail(ids != np.round(ids), "id {row[1]:g} is not an integer")
    fail(ids < 0, "id {row[1]:g} is negative; " + ("ids" if is_gt else "track ids")
         + " must be integers >= 0")
    fail(values[:, 4] < 0, "negative width {row[4]:g}; width and height must be >= 0")
    fail(values[:, 5] < 0, "negative height {row[5]:g}; width and height must be >= 0")
    if is_gt and check_classes:  # MOT15 gt: columns 8-10 are world x, y, z (or -1)
        cls = values[:, 7]
        fail(cls != np.round(cls), "class {row[7]:g} is not an integer")
        fail((cls < 1) | (cls > 13),
             "class {row[7]:g} is not a MOTChallenge class (1..13); for MOT15-style "
             "ground truth (class -1) evaluate with --benchmark MOT15")
    if not is_gt and ncols >= 8:  # TrackEval: int(column 8) is the class, must be <= 1
        fail(np.trunc(values[:, 7]) > 1, "column 8 (class) is {row[7]:g}; TrackEval reads it "
             "as the class and accepts pedestrians only: write -1 (or 1) there")

    key = frame.astype(np.int64) * (int(ids.max()) + 1) + ids.astype(np.int64)
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if dup.size:
        first, second = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise UserError(f"{path}:{numbers[second]}: id {ids[second]:g} appears twice in frame "
                        f"{frame[second]:g} (also line {numbers[first]}); ids must be unique "
                        "within a frame")

    rows = np.full((len(values), width), -1.0)
    n = min(width, ncols)
    rows[:, :n] = values[:, :n]
    return MotTable(path, rows, tokens, line_numbers, ncols)


def read_gt(path: Path, *, seq_length: int | None = None,
            check_classes: bool = True) -> np.ndarray:
    """Ground truth as float64 ``[N, 9]``: ``GT_COLUMNS`` (visibility -1 when absent)."""
    return parse_mot_file(path, "gt", seq_length=seq_length, check_classes=check_classes).rows


def read_results(path: Path, *, seq_length: int | None = None) -> np.ndarray:
    """Tracker results as float64 ``[N, 7]``: ``RESULT_COLUMNS`` (score -1 when absent)."""
    return parse_mot_file(path, "results", seq_length=seq_length).rows


def format_results(rows: Iterable) -> str:
    """Result lines as the official SVM writer prints them
    (``MOTChallengeDatasetVideo.format_track_results`` in
    ``mmtrack/datasets/streaming_dataset/mot_challenge_dataset_video.py``)::

        f"{mot_frame_id},{track_id},{x1:.3f},{y1:.3f},{w:.3f},{h:.3f},{score:.3f},-1,-1,-1"

    ``rows``: ``[N, >=7]`` frame, id, x, y, w, h, score. Lines are ordered by frame (stable).
    One difference: the official writer prints the id as a float (``1.0``, a side effect
    of concatenating it with the float boxes); here it is an integer. Every MOT evaluator
    reads both as the same id."""
    arr = np.asarray(rows, dtype=np.float64)
    if arr.size == 0:
        return ""
    if arr.ndim != 2 or arr.shape[1] < 7:
        raise ValueError(f"results rows must be [N, >=7] (frame,id,x,y,w,h,score), "
                         f"got shape {arr.shape}")
    order = np.argsort(arr[:, 0], kind="stable")
    out = []
    for f, i, x, y, w, h, s in arr[order, :7]:
        out.append(f"{int(f)},{int(i)},{x:.3f},{y:.3f},{w:.3f},{h:.3f},{s:.3f},-1,-1,-1\n")
    return "".join(out)


def write_results(path: Path, rows: Iterable) -> Path:
    """Write tracker results atomically in the official SVM format (see ``format_results``)."""
    return write_text_atomic(Path(path), format_results(rows))
