"""Something-Something v1: the official csv files and frame folders.

Official release (20BN-something-something v1): ``something-something-v1-labels.csv`` (one
class name per line, 174 lines; jd730/STRG reads the same list as ``category.txt``),
``something-something-v1-{train,validation}.csv`` with lines ``<id>;<class name>`` and
``something-something-v1-test.csv`` with lines ``<id>``. Frames ship as
``20bn-something-something-v1/<id>/%05d.jpg``, 1-based (jd730/STRG
``sthv1_image_name_formatter``; ``util_scripts/sthv1_json.py`` reads these files).
The class index is the line position in the labels file.
"""

from __future__ import annotations

from pathlib import Path

from reproducers.common.video.formats import (
    FrameNaming,
    SplitIndex,
    VideoSample,
    entry_error,
    expected_count,
    find_file,
)
from reproducers.harness.errors import UserError

LABEL_FILES = ("something-something-v1-labels.csv", "category.txt",
               "annotations/something-something-v1-labels.csv")
FRAME_DIRS = ("20bn-something-something-v1", "frames", "img")
FRAMES = FrameNaming("{:05d}.jpg", 1)  # the release's names (jd730 sthv1_image_name_formatter)


def split_files(split: str) -> tuple[str, ...]:
    return (f"something-something-v1-{split}.csv",
            f"annotations/something-something-v1-{split}.csv")


def _lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason}); re-download the SSv1 "
                        f"annotations") from None


def read_labels(path: Path) -> list[str]:
    """Class names in index order (blank lines are a UserError naming the line)."""
    names = _lines(path)
    while names and not names[-1].strip():
        names.pop()
    for i, name in enumerate(names, 1):
        if not name.strip():
            raise entry_error(path, f"line {i}", "is blank", "use the official labels file")
    if len(set(names)) != len(names):
        raise UserError(f"{path}: repeated class names; use the official labels file")
    return names


def read_split(path: Path, classes: list[str] | None) -> list[tuple[str, int]]:
    """[(video id, class index)] from ``<id>;<name>`` lines (``classes=None``: test, ids only)."""
    index = None if classes is None else {n: i for i, n in enumerate(classes)}
    out = []
    for i, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split(";")
        if index is None:
            if not parts[0].strip():
                raise entry_error(path, f"line {i}", "has no video id", "lines are '<id>'")
            out.append((parts[0].strip(), -1))
            continue
        if len(parts) != 2 or not parts[0].strip():
            raise entry_error(path, f"line {i}", f"{line!r} is not '<id>;<class name>'",
                              "use the official split csv")
        vid, name = parts[0].strip(), parts[1]
        if name not in index:
            raise entry_error(path, f"line {i} (id {vid})",
                              f"class {name!r} is not in the labels file",
                              "use the labels file of the same release")
        out.append((vid, index[name]))
    return out


def build_split(root: Path, split: str, *, frames_dir: Path | None = None,
                labels_path: Path | None = None, split_path: Path | None = None) -> SplitIndex:
    """Samples of ``split`` ("train", "validation" or "test") whose frame folder exists."""
    root = Path(root)
    split = {"val": "validation"}.get(split, split)
    if split not in ("train", "validation", "test"):
        raise UserError(f"unknown SSv1 split {split!r}: use train, validation or test")
    classes = read_labels(labels_path or find_file(root, LABEL_FILES, "SSv1 labels file"))
    entries = read_split(split_path or find_file(root, split_files(split), f"SSv1 {split} csv"),
                         None if split == "test" else classes)
    if frames_dir is None:
        frames_dir = next((root / d for d in FRAME_DIRS if (root / d).is_dir()), root)
    samples, missing, missing_paths = [], [], []
    for vid, label in entries:
        path = Path(frames_dir) / vid
        if path.is_dir():
            samples.append(VideoSample(vid, path, label,
                                       read_kwargs=FRAMES.read_kwargs(vid)))
        else:
            missing.append(vid)
            missing_paths.append(str(path))
    return SplitIndex(samples, missing, expected_count("ssv1", split), classes, missing_paths)
