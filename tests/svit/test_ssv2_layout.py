"""SViT's SSv2 layout: frame naming, Something-Else box slots and frame maps, box-driven
sampling (eladb3/SViT slowfast/datasets/ssv2.py and ssv2_frames.py), on small hand-written
files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reproducers.common.video import something_else, ssv2
from reproducers.common.video.samplers import ssv2_uniform_segments
from reproducers.svit.ssv2_layout import (
    FRAMES,
    attach_svit_boxes,
    svit_frame_map,
    svit_indices,
    svit_slot_boxes,
)

TEMPLATE = "Pushing [something] from left to right"
SE_FRAME = {"gt_placeholders": ["bottle"], "nr_instances": 3, "labels": [
    {"box2d": {"y1": 95.4, "y2": 178.5, "x1": 16.5, "x2": 137.2},
     "category": "bottle", "standard_category": "0000"},
    {"box2d": {"y1": 115.8, "y2": 230.7, "x1": 0, "x2": 31.6},
     "category": "hand", "standard_category": "hand"},
    {"box2d": {"y1": 1, "y2": 2, "x1": 3, "x2": 4},
     "category": "cap", "standard_category": "0001"}]}


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _se_video(vid: str, numbers) -> list[dict]:
    return [{**SE_FRAME, "name": f"{vid}/{n:04d}.jpg"} for n in numbers]


def test_frame_naming_is_the_official_one():
    assert FRAMES.name("3", 0) == "0001.jpg"


def test_slots_and_frame_map_from_the_box_file(tmp_path):
    frames = something_else.read_box_file(_write(tmp_path / "7.json", _se_video("7", [2, 4])))
    assert svit_frame_map(frames) == (1, 3)
    slots = svit_slot_boxes(frames[0])
    np.testing.assert_allclose(slots[0], [0, 115.8, 31.6, 230.7])  # hand first
    np.testing.assert_allclose(slots[2], [16.5, 95.4, 137.2, 178.5])  # then objects
    np.testing.assert_allclose(slots[3], [3, 1, 4, 2])
    assert not slots[1].any()


def test_attach_boxes_gives_length_and_frame_map(tmp_path):
    _write(tmp_path / "labels" / "labels.json", {TEMPLATE.replace("[", "").replace("]", ""): "0"})
    _write(tmp_path / "labels" / "train.json",
           [{"id": str(i), "label": "x", "template": TEMPLATE} for i in (1, 2, 3)])
    for vid in ("1", "2", "3"):
        (tmp_path / "20bn-something-something-v2" / f"{vid}.webm").parent.mkdir(exist_ok=True)
        (tmp_path / "20bn-something-something-v2" / f"{vid}.webm").write_bytes(b"x")
    for vid in ("1", "2"):
        _write(tmp_path / "bbox_jsons" / f"{vid}.json", _se_video(vid, [1, 2, 3, 5]))
    split = ssv2.build_split(tmp_path, "train")
    kept, no_boxes = attach_svit_boxes(split.samples, tmp_path)
    assert [s.video_id for s in kept] == ["1", "2"] and no_boxes == ["3"]
    assert kept[0].num_frames == 4 and kept[0].frame_map == (0, 1, 2, 4)


def test_svit_indices_follow_box_file_names():
    # 20 box entries whose files start at 0003.jpg: length 20 drives the segments and the
    # names give the frame files (index = number - 1)
    boxes = [{"name": f"42/{i + 3:04d}.jpg", "labels": []} for i in range(20)]
    seq = ssv2_uniform_segments(20, 16, train=False)  # seg = 19/16 = 1.1875
    assert seq.tolist() == [0, 1, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 16, 17, 18]
    assert svit_indices(boxes, 16, train=False).tolist() == (seq + 2).tolist()
    with pytest.raises(ValueError):
        svit_indices([], train=False)
