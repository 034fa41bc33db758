"""Something-Something v2: the official label/split json files and the video folders.

Official release (20BN, ``labels/`` folder of the download; the papers' loaders rename the
files to ``something-something-v2-*.json``):

- ``labels.json``: {template without brackets: class index as a string, e.g. "0"}, 174 entries;
- ``train.json`` / ``validation.json``: [{"id": "78687", "label": ..., "template":
  "Holding [something] next to [something]", "placeholders": [...]}, ...];
- ``test.json``: [{"id": "1420"}, ...] (no labels).

The class of an entry is ``labels[template without "[" and "]"]`` (eladb3/SViT and
kami93/kcenter_video ``datasets/ssv2*.py``; jd730/STRG ``util_scripts/sthv2_json.py``).

Videos: ``<videos_dir>/<id>.webm``, the 20BN release (``naming=None``), or frame folders
``<videos_dir>/<id>/`` whose files a ``formats.FrameNaming`` names: each paper extracts the
frames its own way and passes its naming (e.g. ``reproducers/kcenter/data.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reproducers.common.video.formats import (
    FrameNaming,
    SplitIndex,
    VideoSample,
    entry_error,
    expected_count,
    find_file,
    load_json,
    strip_template,
)
from reproducers.harness.errors import UserError

NUM_CLASSES = 174

WEBM_DIRS = ("20bn-something-something-v2", "videos")
FRAME_DIRS = ("frames", "train_test", "img")

LABEL_FILES = ("labels/labels.json", "labels.json", "something-something-v2-labels.json",
               "annotations/something-something-v2-labels.json",
               "sm/annotations/something-something-v2-labels.json")


def split_files(split: str) -> tuple[str, ...]:
    return (f"labels/{split}.json", f"{split}.json", f"something-something-v2-{split}.json",
            f"annotations/something-something-v2-{split}.json",
            f"json_files/something-something-v2-{split}.json")


def read_labels(path: Path) -> dict[str, int]:
    """{class name: index} from ``labels.json``; a bad entry is a UserError naming it."""
    data = load_json(path, "SSv2 labels file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object {{template: index}}, got "
                        f"{type(data).__name__}; use the official labels.json")
    out: dict[str, int] = {}
    for name, value in data.items():
        try:
            index = int(value)
        except (TypeError, ValueError):
            raise entry_error(path, f"entry {name!r}", f"index {value!r} is not an integer",
                              "use the official labels.json") from None
        out[name] = index
    indices = sorted(out.values())
    if indices != list(range(len(indices))):
        raise UserError(f"{path}: class indices are not 0..{len(indices) - 1} without gaps; "
                        f"use the official labels.json")
    return out


def read_split(path: Path, labels: dict[str, int] | None) -> list[tuple[str, int]]:
    """[(video id, class index)] of a split json; ``labels=None`` for the unlabelled test split.

    A bad entry is a UserError naming the file, the entry's position and id, and the fix.
    """
    data = load_json(path, "SSv2 split file")
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of {{id, template, ...}}, got "
                        f"{type(data).__name__}; use the official split file")
    out = []
    for k, entry in enumerate(data):
        where = f"entry #{k}"
        if not isinstance(entry, dict) or "id" not in entry:
            raise entry_error(path, where, "has no 'id'", "use the official split file")
        vid = str(entry["id"])
        where = f"entry #{k} (id {vid})"
        if labels is None:
            out.append((vid, -1))
            continue
        template = entry.get("template")
        if not isinstance(template, str):
            raise entry_error(path, where, "has no 'template' string",
                              "labelled splits need the template field")
        name = strip_template(template)
        if name not in labels:
            raise entry_error(path, where, f"template {name!r} is not in the labels file",
                              "use the labels.json of the same release")
        out.append((vid, labels[name]))
    return out


def videos_dir_for(root: Path, frames: bool) -> Path:
    """The default folder under ``root`` holding the webm videos or (``frames``) the frame
    folders: the first of ``WEBM_DIRS`` / ``FRAME_DIRS`` that exists, else ``root``."""
    for c in FRAME_DIRS if frames else WEBM_DIRS:
        if (Path(root) / c).is_dir():
            return Path(root) / c
    return Path(root)


def video_path(videos_dir: Path, video_id: str, frames: bool) -> Path:
    """``<videos_dir>/<id>.webm``, or ``<videos_dir>/<id>`` for frame folders."""
    return Path(videos_dir) / (video_id if frames else f"{video_id}.webm")


def build_split(root: Path, split: str, *, naming: FrameNaming | None = None,
                videos_dir: Path | None = None, labels_path: Path | None = None,
                split_path: Path | None = None, exclude_ids: Iterable[str] = ()) -> SplitIndex:
    """Samples of ``split`` ("train", "validation" or "test") present on disk.

    ``naming``: the frame folders' file naming (None: the release's webm videos).
    ``exclude_ids`` drops ids before anything else (e.g. a paper's list of videos without
    boxes); ids whose video is absent go to ``missing_ids``.
    """
    root = Path(root)
    frames = naming is not None
    split = {"val": "validation"}.get(split, split)
    if split not in ("train", "validation", "test"):
        raise UserError(f"unknown SSv2 split {split!r}: use train, validation or test")
    labels = None
    names: list[str] = []
    if split != "test":
        labels = read_labels(labels_path or find_file(root, LABEL_FILES, "SSv2 labels file"))
        names = [n for n, _ in sorted(labels.items(), key=lambda kv: kv[1])]
    entries = read_split(split_path or find_file(root, split_files(split), f"SSv2 {split} file"),
                         labels)
    base = Path(videos_dir) if videos_dir is not None else videos_dir_for(root, frames)
    excluded = set(map(str, exclude_ids))
    samples, missing, missing_paths = [], [], []
    for vid, label in entries:
        if vid in excluded:
            continue
        path = video_path(base, vid, frames)
        if path.exists():
            kwargs = naming.read_kwargs(vid) if frames else {}
            samples.append(VideoSample(vid, path, label, read_kwargs=kwargs))
        else:
            missing.append(vid)
            missing_paths.append(str(path))
    return SplitIndex(samples, missing, expected_count("ssv2", split), names, missing_paths)
