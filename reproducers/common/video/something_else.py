"""Something-Else ground-truth boxes for SSv2 videos: the official release and per-video files.

Official release (joaanna/something_else README and its ``annotations.json`` sample): files
``bounding_box_smthsmth_part{1..4}.json``, each {video id: [frame entry, ...]}; a frame entry is

    {"name": "151201/0001.jpg", "labels": [{"box2d": {"x1", "y1", "x2", "y2"},  (pixels)
      "category": "bottle", "standard_category": "0000" | "hand", "gt_annotation": ...}, ...],
     "gt_placeholders": [...], "nr_instances": 2, ...}

The annotations assume the videos are burst into frames at 12 fps (same README).

A per-video file (``write_per_video_files``: ``<int(id)>.json``) holds one video's list of
frame entries unchanged, as eladb3/SViT stores them; how a paper samples and lays out the
boxes lives in that paper's folder (``reproducers/svit/ssv2_layout.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reproducers.common.video.formats import entry_error, load_json
from reproducers.harness.errors import UserError

_FRAME_NAME = re.compile(r"(\d+)\.jpg$")
_FIX = "use the official Something-Else box annotations"


@dataclass(frozen=True)
class Box:
    category: str
    standard_category: str  # "hand" or an object slot id such as "0000"
    xyxy: tuple[float, float, float, float]  # pixels of the original frame


@dataclass(frozen=True)
class FrameBoxes:
    name: str  # "<vid>/<NNNN>.jpg"
    frame_number: int  # NNNN, 1-based
    boxes: tuple[Box, ...]


def parse_video_boxes(entries: object, path: Path, video_id: str | None = None
                      ) -> list[FrameBoxes]:
    """Validate one video's list of frame entries; a bad entry is a UserError naming it."""
    vid = "" if video_id is None else f"video {video_id} "
    if not isinstance(entries, list):
        raise UserError(f"{path} {vid}: expected a list of frame entries, got "
                        f"{type(entries).__name__}; {_FIX}")
    frames = []
    for k, entry in enumerate(entries):
        where = f"{vid}frame entry #{k}"
        if not isinstance(entry, dict):
            raise entry_error(path, where, "is not an object", _FIX)
        name = entry.get("name")
        m = _FRAME_NAME.search(name) if isinstance(name, str) else None
        if m is None:
            raise entry_error(path, where, f"'name' {name!r} is not '<vid>/<NNNN>.jpg'", _FIX)
        labels = entry.get("labels")
        if not isinstance(labels, list):
            raise entry_error(path, where, "has no 'labels' list", _FIX)
        boxes = []
        for j, lab in enumerate(labels):
            lwhere = f"{where} label #{j}"
            box = lab.get("box2d") if isinstance(lab, dict) else None
            if not isinstance(box, dict) or not all(
                    isinstance(box.get(c), (int, float)) for c in ("x1", "y1", "x2", "y2")):
                raise entry_error(path, lwhere, "has no numeric box2d {x1, y1, x2, y2}", _FIX)
            std = lab.get("standard_category")
            if not isinstance(std, str):
                raise entry_error(path, lwhere, "has no 'standard_category' ('hand' or an "
                                  "object id; it tells hands from objects)", _FIX)
            boxes.append(Box(str(lab.get("category", "")), std,
                             (float(box["x1"]), float(box["y1"]), float(box["x2"]),
                              float(box["y2"]))))
        frames.append(FrameBoxes(name, int(m.group(1)), tuple(boxes)))
    return frames


def read_box_file(path: Path) -> list[FrameBoxes]:
    """One per-video box file (a list of frame entries)."""
    return parse_video_boxes(load_json(path, "Something-Else box file"), Path(path))


def read_release(path: Path) -> dict[str, list[FrameBoxes]]:
    """One official release part: {video id: [frame entry, ...]}."""
    data = load_json(path, "Something-Else release file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected {{video id: [frame entries]}}, got "
                        f"{type(data).__name__}; {_FIX}")
    return {str(vid): parse_video_boxes(entries, Path(path), str(vid))
            for vid, entries in data.items()}


def write_per_video_files(release_paths: Iterable[Path], out_dir: Path) -> int:
    """Split release parts into one ``<out_dir>/<int(id)>.json`` file per video (eladb3/SViT's
    ``bbox_jsons``); returns the count. The files keep the release's entries unchanged
    (SViT's exact split is not published).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for p in release_paths:
        data = load_json(p, "Something-Else release file")
        if not isinstance(data, dict):
            raise UserError(f"{p}: expected {{video id: [frame entries]}}; {_FIX}")
        for vid, entries in data.items():
            parse_video_boxes(entries, Path(p), str(vid))
            (out_dir / f"{int(vid)}.json").write_text(json.dumps(entries))
            n += 1
    return n
