"""Charades v1 (Sigurdsson et al., ECCV 2016) as STRG evaluates it: multi-label, 157 classes.

Official release files under the data root:

- ``Charades_v1_classes.txt``: lines ``c000 Holding some clothes`` (code, space, name); the
  class index is the number in the code.
- ``Charades_v1_train.csv`` / ``Charades_v1_test.csv`` (the test split is the usual
  validation set): a header row with at least ``id`` and ``actions``; ``actions`` is
  ``c092 11.90 21.20;c147 0.00 12.60`` (class, start s, end s), empty for videos without one.
- Frames ``Charades_v1_rgb/<id>/<id>-%06d.jpg``, 1-based, 24 fps.

A video's target is the union of its actions (multi-hot over 157 classes), the video-level
classification protocol of the Non-local and STRG papers (sigmoid scores, mAP over classes).
Counts: 7,985 train and 1,863 test videos (Charades v1 README, 9,848 videos).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from reproducers.common.video.formats import FrameNaming, SplitIndex, VideoSample
from reproducers.harness.errors import UserError

NUM_CLASSES = 157
FPS = 24
EXPECTED = {"train": 7_985, "test": 1_863}
CLASSES_FILE = "Charades_v1_classes.txt"
SPLIT_FILES = {"train": "Charades_v1_train.csv", "test": "Charades_v1_test.csv"}
FRAMES_DIR = "Charades_v1_rgb"
NAMING = FrameNaming("{vid}-{:06d}.jpg", 1)
_FIX = "re-download it from the Charades v1 release (allenai.org/plato/charades)"


def read_classes(path: Path) -> list[str]:
    """Class names by index (``c000`` -> 0); every index 0..156 exactly once."""
    if not Path(path).is_file():
        raise UserError(f"Charades class list not found: {path}; {_FIX}")
    names: dict[int, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        code, _, name = line.strip().partition(" ")
        if len(code) != 4 or code[0] != "c" or not code[1:].isdigit():
            raise UserError(f"{path} line {n}: expected 'cNNN name', got {line!r}; {_FIX}")
        names[int(code[1:])] = name
    if sorted(names) != list(range(NUM_CLASSES)):
        raise UserError(f"{path}: expected classes c000..c{NUM_CLASSES - 1}, found "
                        f"{len(names)}; {_FIX}")
    return [names[i] for i in range(NUM_CLASSES)]


def parse_actions(text: str, where: str) -> list[tuple[int, float, float]]:
    """``c092 11.90 21.20;c147 0.00 12.60`` -> [(92, 11.9, 21.2), (147, 0.0, 12.6)]."""
    actions = []
    for item in filter(None, (s.strip() for s in text.split(";"))):
        parts = item.split()
        try:
            if len(parts) != 3 or parts[0][0] != "c":
                raise ValueError
            cls, start, end = int(parts[0][1:]), float(parts[1]), float(parts[2])
        except ValueError:
            raise UserError(f"{where}: bad action {item!r}, expected 'cNNN start end'; "
                            f"{_FIX}") from None
        if not 0 <= cls < NUM_CLASSES:
            raise UserError(f"{where}: class c{cls:03d} outside c000..c156; {_FIX}")
        actions.append((cls, start, end))
    return actions


def targets(actions: list[tuple[int, float, float]]) -> torch.Tensor:
    """Multi-hot float vector (157,): 1 for every class among the video's actions."""
    out = torch.zeros(NUM_CLASSES)
    for cls, _, _ in actions:
        out[cls] = 1.0
    return out


def build_split(root: Path, split: str) -> SplitIndex:
    """The videos of ``split`` ("train" or "test") whose frame folder exists."""
    if split not in SPLIT_FILES:
        raise UserError(f"Charades split {split!r}: choose one of {sorted(SPLIT_FILES)}")
    root = Path(root)
    classes = read_classes(root / CLASSES_FILE)
    path = root / SPLIT_FILES[split]
    if not path.is_file():
        raise UserError(f"Charades {split} csv not found: {path}; {_FIX}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"id", "actions"} <= set(reader.fieldnames):
            raise UserError(f"{path}: the header must name 'id' and 'actions'; {_FIX}")
        rows = list(reader)
    samples, missing, missing_paths = [], [], []
    for n, row in enumerate(rows, 2):
        vid = row["id"].strip()
        actions = parse_actions(row["actions"] or "", f"{path} line {n} ({vid})")
        folder = root / FRAMES_DIR / vid
        if not folder.is_dir():
            missing.append(vid)
            missing_paths.append(str(folder))
            continue
        samples.append(VideoSample(vid, folder, -1, read_kwargs=NAMING.read_kwargs(vid),
                                   meta={"actions": actions, "targets": targets(actions)}))
    return SplitIndex(samples, missing, EXPECTED[split], classes, missing_paths)
