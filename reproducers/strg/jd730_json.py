"""The ActivityNet-style annotation json of jd730/STRG (Kinetics-700, SSv1, SSv2).

Format (jd730/STRG ``util_scripts/{kinetics_json,sthv1_json,sthv2_json}.py``, read by
``datasets/videodataset.py``)::

    {"labels": [class name, ...],                      # class index = list position
     "database": {video_id: {"subset": "training" | "validation" | "testing",
                             "annotations": {"label": class name,   # absent for testing
                                             "segment": [1, n_frames + 1]},
                             "video_path": "<frame folder>"}}}   # sthv1/sthv2 only

- The loader keeps the entries of one subset; the frame folder is ``video_path`` when given,
  else ``<root>/<label>/<video_id>`` (Kinetics jpg layout of ``generate_video_jpgs.py``).
  A relative ``video_path`` is resolved against ``root`` here (jd730 resolves it against the
  working directory).
- Frames read are ``range(segment[0], segment[1])``, 1-based file numbers
  (``image_%05d.jpg`` for Kinetics, ``%05d.jpg`` SSv1, ``%06d.jpg`` SSv2).
- Entries whose folder is missing, whose ``segment`` is absent (``kinetics_json`` writes it
  only for folders it found) or empty (``segment[1] == 1``, which jd730 skips) are reported
  as missing rather than dropped silently.
- Test entries without a label and ``video_path`` go to ``<root>/test/<video_id>`` (the
  folder ``kinetics_json`` counts frames in; jd730's loader would raise KeyError there).
"""

from __future__ import annotations

from pathlib import Path

from reproducers.common.video import ssv1
from reproducers.common.video.formats import (
    FrameNaming,
    SplitIndex,
    VideoSample,
    entry_error,
    expected_count,
    load_json,
)
from reproducers.harness.errors import UserError

SUBSETS = ("training", "validation", "testing")
_FIX = "regenerate the json with jd730/STRG's util_scripts"


def read_json(path: Path) -> tuple[list[str], dict]:
    """(labels, database) after checking the top-level shape."""
    data = load_json(path, "STRG annotation json")
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list) \
            or not isinstance(data.get("database"), dict):
        raise UserError(f"{path}: expected {{'labels': [...], 'database': {{...}}}}; {_FIX}")
    labels = data["labels"]
    if not all(isinstance(x, str) for x in labels):
        raise UserError(f"{path}: 'labels' must be a list of class names; {_FIX}")
    return labels, data["database"]


# Frame namings of jd730's extractions, as its loaders build the file names.
KINETICS_FRAMES = FrameNaming("image_{:05d}.jpg", 1)  # jd730 image_name_formatter
SSV2_FRAMES = FrameNaming("{:06d}.jpg", 1)  # jd730 sthv2_image_name_formatter
NAMING_OF_DATASET = {"k700": KINETICS_FRAMES, "k400": KINETICS_FRAMES, "ssv1": ssv1.FRAMES,
                     "ssv2": SSV2_FRAMES}


def build_split(json_path: Path, subset: str, *, root: Path, dataset: str | None = None,
                naming: FrameNaming | None = None) -> SplitIndex:
    """Samples of ``subset`` ("training"/"validation"/"testing", or train/val/test).

    ``dataset`` ("k700", "ssv1", "ssv2") selects the official count for the fingerprint and
    the frame naming (``NAMING_OF_DATASET``, Kinetics' by default; ``naming`` overrides it).
    """
    json_path, root = Path(json_path), Path(root)
    subset = {"train": "training", "val": "validation", "test": "testing"}.get(subset, subset)
    if subset not in SUBSETS:
        raise UserError(f"unknown STRG subset {subset!r}: use training, validation or testing")
    naming = naming or NAMING_OF_DATASET.get(dataset or "", KINETICS_FRAMES)
    labels, database = read_json(json_path)
    index = {n: i for i, n in enumerate(labels)}
    samples, missing, missing_paths = [], [], []
    for vid, entry in database.items():
        where = f"database[{vid!r}]"
        if not isinstance(entry, dict) or entry.get("subset") not in SUBSETS:
            raise entry_error(json_path, where, f"'subset' must be one of {', '.join(SUBSETS)}",
                              _FIX)
        if entry["subset"] != subset:
            continue
        ann = entry.get("annotations")
        if not isinstance(ann, dict):
            raise entry_error(json_path, where, "has no 'annotations' object", _FIX)
        name = ann.get("label")
        if name is None and subset != "testing":
            raise entry_error(json_path, where, "has no annotations.label", _FIX)
        if name is not None and name not in index:
            raise entry_error(json_path, where, f"label {name!r} is not in 'labels'", _FIX)
        if "video_path" in entry:
            path = Path(entry["video_path"])
            path = path if path.is_absolute() else root / path
        else:
            path = root / (name if name is not None else "test") / vid
        seg = ann.get("segment")
        if seg is None:
            missing.append(vid)
            missing_paths.append(str(path))
            continue
        if not (isinstance(seg, (list, tuple)) and len(seg) == 2
                and all(isinstance(x, int) for x in seg) and 1 <= seg[0] <= seg[1]):
            raise entry_error(json_path, where, f"segment {seg!r} is not [first, end) frame "
                              f"numbers (1-based)", _FIX)
        if seg[1] == seg[0] or not path.is_dir():
            missing.append(vid)
            missing_paths.append(str(path))
            continue
        frame_map = None if seg[0] == 1 else tuple(range(seg[0] - 1, seg[1] - 1))
        samples.append(VideoSample(str(vid), path, -1 if name is None else index[name],
                                   num_frames=seg[1] - seg[0], frame_map=frame_map,
                                   read_kwargs=naming.read_kwargs(str(vid))))
    return SplitIndex(samples, missing, expected_count(dataset, subset), labels, missing_paths)
