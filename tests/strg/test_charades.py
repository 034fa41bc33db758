"""Charades v1 format: classes, the actions column, multi-hot targets, frame naming, errors."""

from __future__ import annotations

import pytest

from reproducers.harness.errors import UserError
from reproducers.strg import charades


def _write(root, rows, classes=None):
    classes = classes if classes is not None else [f"c{i:03d} Class {i}" for i in range(157)]
    (root / charades.CLASSES_FILE).write_text("\n".join(classes) + "\n")
    lines = ["id,subject,scene,actions,length"] + rows
    (root / "Charades_v1_test.csv").write_text("\n".join(lines) + "\n")


def test_split_targets_and_naming(tmp_path):
    _write(tmp_path, ['46GP8,HR43,Kitchen,"c092 11.90 21.20;c147 0.00 12.60;c092 1 2",24.8',
                      "N11GT,S2,Hall,,30.1", "MISSN,S3,Hall,c001 0 1,3.0"])
    for vid in ("46GP8", "N11GT"):
        (tmp_path / charades.FRAMES_DIR / vid).mkdir(parents=True)
    split = charades.build_split(tmp_path, "test")
    assert split.ids == ["46GP8", "N11GT"] and split.missing_ids == ["MISSN"]
    assert split.expected == 1_863 and len(split.classes) == 157
    first = split.samples[0]
    assert first.meta["actions"] == [(92, 11.9, 21.2), (147, 0.0, 12.6), (92, 1.0, 2.0)]
    assert first.meta["targets"].nonzero().flatten().tolist() == [92, 147]
    assert split.samples[1].meta["targets"].sum() == 0
    assert charades.NAMING.name("46GP8", 0) == "46GP8-000001.jpg"


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="class list not found"):
        charades.build_split(tmp_path, "test")
    _write(tmp_path, ["X,S,H,c999 0 1,1"])
    with pytest.raises(UserError, match="outside c000..c156"):
        charades.build_split(tmp_path, "test")
    _write(tmp_path, ["X,S,H,c001 zero 1,1"])
    with pytest.raises(UserError, match="bad action"):
        charades.build_split(tmp_path, "test")
    _write(tmp_path, [], classes=["c000 A"])
    with pytest.raises(UserError, match="expected classes c000..c156"):
        charades.build_split(tmp_path, "test")
    with pytest.raises(UserError, match="choose one of"):
        charades.build_split(tmp_path, "validation")
