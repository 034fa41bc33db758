"""SViT's SSv2 layout: its frame naming, its per-video Something-Else box files, and the
box-driven frame sampling built on them.

SViT (eladb3/SViT ``slowfast/datasets/ssv2.py`` and ``ssv2_frames.py``) reads one box file per
video, ``<root>/bbox_jsons/<int(id)>.json`` holding that video's list of Something-Else frame
entries (``common/video/something_else.py`` parses them); its *length* is the video length
used for segment sampling and sampled entry ``i`` reads the jpg numbered as in
``entry["name"]`` (``frames/<id>/%04d.jpg``). ``svit_slot_boxes`` gives the per-frame
[hand, hand, object, object] box layout SViT builds before its HAOG matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from reproducers.common.video.formats import FrameNaming, VideoSample
from reproducers.common.video.samplers import Rng, ssv2_uniform_segments
from reproducers.common.video.something_else import FrameBoxes, read_box_file

# eladb3/SViT Ssv2.get_frame_path: <root>/frames/<id>/%04d.jpg, 1-based
FRAMES = FrameNaming("{:04d}.jpg", 1)
FRAMES_DIR = "frames"


def box_file_path(root: Path, video_id: str) -> Path:
    """SViT's per-video file: ``<root>/bbox_jsons/<int(id)>.json``."""
    return Path(root) / "bbox_jsons" / f"{int(video_id)}.json"


def svit_frame_map(frames: Sequence[FrameBoxes]) -> tuple[int, ...]:
    """Sampled entry i -> 0-based frame position (``int(NNNN) - 1``), as SViT's loader maps it."""
    return tuple(f.frame_number - 1 for f in frames)


def svit_slot_boxes(frame: FrameBoxes) -> np.ndarray:
    """(4, 4) xyxy boxes in SViT's slot order [hand, hand, object, object]; zeros when absent.

    The first two hands and the first two objects of ``labels`` fill the slots in order
    (SViT ``Ssv2_frames.get_boxes``, per frame, before ``box_ops.match_haog``).
    """
    out = np.zeros((4, 4), dtype=np.float32)
    count = {"hand": 0, "obj": 0}
    offset = {"hand": 0, "obj": 2}
    for box in frame.boxes:
        cat = "hand" if box.standard_category == "hand" else "obj"
        if count[cat] > 1:
            continue
        out[offset[cat] + count[cat]] = box.xyxy
        count[cat] += 1
    return out


def attach_svit_boxes(samples: Iterable[VideoSample], root: Path,
                      boxes: Mapping[str, Sequence[FrameBoxes]] | None = None
                      ) -> tuple[list[VideoSample], list[str]]:
    """Give each sample SViT's length and frame map from its box file.

    Returns (samples that have a box file, ids without one). ``boxes`` may hold already
    parsed lists keyed by video id (otherwise ``bbox_jsons/<int(id)>.json`` is read).
    """
    kept, no_boxes = [], []
    for s in samples:
        if boxes is not None and s.video_id in boxes:
            frames = list(boxes[s.video_id])
        else:
            path = box_file_path(root, s.video_id)
            if not path.is_file():
                no_boxes.append(s.video_id)
                continue
            frames = read_box_file(path)
        if not frames:
            no_boxes.append(s.video_id)
            continue
        kept.append(replace(s, num_frames=len(frames), frame_map=svit_frame_map(frames)))
    return kept, no_boxes


def svit_indices(box_entries: Sequence[dict], num_frames: int = 16, *, train: bool,
                 rng: Rng = None) -> np.ndarray:
    """SViT's SSv2 frames: segment sampling over the *box file's* length, mapped to files.

    ``box_entries`` is the per-video Something-Else list (``bbox_jsons/<int(id)>.json``, one
    entry per annotated frame). Segment indices (:func:`ssv2_uniform_segments` with
    ``len(box_entries)``) select entries, and each entry's ``name`` (``"<vid>/0001.jpg"``)
    gives the file: returned index = ``int(basename[:-4]) - 1``, so frame file
    ``frames/<id>/{index + 1:04d}.jpg`` (``read_frames(dir, idx, pattern="{:04d}.jpg")``).
    official: slowfast/datasets/ssv2.py::Ssv2.get_frames_list, ::get_seq_frames and
    ::get_frame_path in eladb3/SViT.
    """
    if not box_entries:
        raise ValueError("svit_indices: empty box list (SViT drops such videos: "
                         "data/ssv2/empty_bbox_*.json)")
    seq = ssv2_uniform_segments(len(box_entries), num_frames, train=train, rng=rng)
    return np.array([int(box_entries[i]["name"].split("/")[-1][:-4]) - 1 for i in seq],
                    dtype=np.int64)
