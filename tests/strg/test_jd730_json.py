"""jd730/STRG's ActivityNet-style annotation json and temporal sampling, from small files
written in that format and hand-derived indices (jd730/STRG util_scripts/*_json.py,
datasets/videodataset.py, temporal_transforms.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reproducers.harness.errors import UserError
from reproducers.strg import jd730_json
from reproducers.strg.jd730_sampling import strg_indices


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _strg_db(tmp_path: Path) -> dict:
    return {"labels": ["Holding something", "Turning something"], "database": {
        "1": {"subset": "training", "annotations": {"label": "Turning something",
                                                     "segment": [1, 31]},
              "video_path": str(tmp_path / "img" / "1")},
        "2": {"subset": "training", "annotations": {"label": "Holding something",
                                                     "segment": [3, 9]},
              "video_path": "img/2"},  # relative: resolved against root
        "3": {"subset": "training", "annotations": {"label": "Holding something",
                                                     "segment": [1, 1]}, "video_path": "img/3"},
        "4": {"subset": "training", "annotations": {"label": "Holding something"}},
        "5": {"subset": "validation", "annotations": {"label": "Turning something",
                                                       "segment": [1, 11]}},  # root/label/id
        "6": {"subset": "testing", "annotations": {"segment": [1, 5]}}}}


def test_jd730_json(tmp_path):
    db = _strg_db(tmp_path)
    for d in ("img/1", "img/2", "img/3", "Turning something/5", "test/6"):
        (tmp_path / d).mkdir(parents=True)
    path = _write(tmp_path / "ssv1.json", db)
    train = jd730_json.build_split(path, "train", root=tmp_path, dataset="ssv1")
    assert train.ids == ["1", "2"] and train.missing_ids == ["3", "4"]
    s1, s2 = train.samples
    assert (s1.label, s1.num_frames, s1.frame_map) == (1, 30, None)
    assert (s2.path, s2.num_frames, s2.frame_map) == (tmp_path / "img" / "2", 6, (2, 3, 4, 5, 6, 7))
    assert s1.read_kwargs == {"pattern": "{:05d}.jpg", "start_number": 1}
    assert train.expected == 86_017
    val = jd730_json.build_split(path, "validation", root=tmp_path, dataset="k700")
    assert val.samples[0].path == tmp_path / "Turning something" / "5"
    assert val.samples[0].read_kwargs["pattern"] == "image_{:05d}.jpg" and val.expected == 35_000
    test = jd730_json.build_split(path, "testing", root=tmp_path)
    assert test.samples[0].label == -1 and test.samples[0].path == tmp_path / "test" / "6"


def test_jd730_json_malformed(tmp_path):
    db = _strg_db(tmp_path)
    db["database"]["2"]["annotations"]["label"] = "Juggling"
    path = _write(tmp_path / "k700.json", db)
    with pytest.raises(UserError, match=r"k700\.json database\['2'\]: label 'Juggling'"):
        jd730_json.build_split(path, "training", root=tmp_path)
    db = _strg_db(tmp_path)
    db["database"]["5"]["subset"] = "val"
    _write(path, db)
    with pytest.raises(UserError, match=r"database\['5'\]: 'subset' must be one of"):
        jd730_json.build_split(path, "validation", root=tmp_path)
    _write(path, {"labels": [], "db": {}})
    with pytest.raises(UserError, match="expected {'labels'"):
        jd730_json.build_split(path, "training", root=tmp_path)


def test_jd730_frame_namings_are_the_official_ones():
    assert jd730_json.SSV2_FRAMES.name("3", 4) == "000005.jpg"
    assert jd730_json.KINETICS_FRAMES.name("a", 0) == "image_00001.jpg"
    assert jd730_json.NAMING_OF_DATASET["ssv1"].name("3", 0) == "00001.jpg"


def test_strg_indices():
    # TemporalEvenCrop: 40 frames, 32, 3 samples -> starts 1, 5, 9 (1-based) = 0, 4, 8
    val = strg_indices(40, 32, mode="val")
    assert val[:, 0].tolist() == [0, 4, 8] and val[2, -1] == 39
    # SlidingWindow 16/16 over 40: the last window 32..39 is loop-padded, then it stops
    inf = strg_indices(40, 16, mode="inference")
    assert inf[2].tolist() == [32, 33, 34, 35, 36, 37, 38, 39] * 2 and inf.shape == (3, 16)
    short = strg_indices(10, 16, mode="train", rng=0)
    assert short.tolist() == [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]]
    starts = {int(strg_indices(40, 32, mode="train", rng=s)[0, 0]) for s in range(200)}
    assert starts == set(range(8))  # [0, 40 - 32 - 1]: start 8 is never drawn (official)
