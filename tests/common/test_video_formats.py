"""Official annotation formats parsed from small files written in those formats."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from reproducers.common.video import kinetics, something_else, ssv1, ssv2
from reproducers.common.video.dataset import fingerprint
from reproducers.common.video.formats import SPECS, FrameNaming, id_hash
from reproducers.harness.errors import UserError

TEMPLATES = ["Approaching [something] with your camera", "Pushing [something] from left to right",
             "Pushing [something] from right to left"]


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _ssv2_root(tmp_path: Path) -> Path:
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(TEMPLATES)}
    _write(tmp_path / "labels" / "labels.json", labels)
    train = [{"id": str(i), "label": "x", "template": TEMPLATES[i % 3], "placeholders": ["x"]}
             for i in range(1, 7)]
    _write(tmp_path / "labels" / "train.json", train)
    _write(tmp_path / "labels" / "validation.json",
           [{"id": "10", "label": "y", "template": TEMPLATES[2], "placeholders": ["y"]}])
    _write(tmp_path / "labels" / "test.json", [{"id": "20"}, {"id": "21"}])
    videos = tmp_path / "20bn-something-something-v2"
    videos.mkdir()
    for vid in ("1", "2", "3", "5", "6", "10", "20"):  # 4 and 21 are missing
        (videos / f"{vid}.webm").write_bytes(b"x")
    return tmp_path


def test_counts_match_the_documented_sources():
    assert SPECS["ssv2"].expected == {"train": 168_913, "validation": 24_777, "test": 27_157}
    assert SPECS["ssv1"].expected == {"train": 86_017, "validation": 11_522, "test": 10_960}
    assert SPECS["ssv2"].num_classes == SPECS["ssv1"].num_classes == 174
    assert SPECS["k400"].expected["train"] == 246_534 and SPECS["k700"].num_classes == 700
    assert not SPECS["ssv2"].flip_allowed and not SPECS["ssv1"].flip_allowed
    assert SPECS["k400"].flip_allowed


def test_ssv2_official_json(tmp_path):
    root = _ssv2_root(tmp_path)
    split = ssv2.build_split(root, "train")
    assert split.ids == ["1", "2", "3", "5", "6"] and split.missing_ids == ["4"]
    assert [s.label for s in split.samples] == [1, 2, 0, 2, 0]
    assert split.expected == 168_913 and split.classes[1] == "Pushing something from left to right"
    assert split.samples[0].path == root / "20bn-something-something-v2" / "1.webm"
    val = ssv2.build_split(root, "val")
    assert val.ids == ["10"] and val.samples[0].label == 2 and val.expected == 24_777
    test = ssv2.build_split(root, "test")
    assert test.ids == ["20"] and test.samples[0].label == -1 and test.missing_ids == ["21"]
    assert ssv2.build_split(root, "train", exclude_ids=["2", "4"]).ids == ["1", "3", "5", "6"]


@pytest.mark.parametrize("naming,folder,first", [
    (FrameNaming("{:04d}.jpg", 1), "frames", "0001.jpg"),
    (FrameNaming("{vid}_{:06d}.jpeg", 0), "train_test", "7_000000.jpeg"),
    (FrameNaming("{:06d}.jpg", 1), "img", "000001.jpg")])
def test_ssv2_frame_folders_take_the_naming_given(tmp_path, naming, folder, first):
    root = _ssv2_root(tmp_path)
    (root / folder / "7").mkdir(parents=True)
    _write(root / "labels" / "validation.json",
           [{"id": "7", "label": "z", "template": TEMPLATES[0], "placeholders": ["z"]}])
    split = ssv2.build_split(root, "validation", naming=naming)
    (s,) = split.samples
    assert s.path == root / folder / "7"
    kw = s.read_kwargs
    assert kw["pattern"].format(kw["start_number"]) == first == naming.name("7", 0)


def test_ssv1_release_frame_naming():
    assert ssv1.FRAMES.name("3", 0) == "00001.jpg"
    assert FrameNaming("{vid}_{:06d}.jpeg", 0).name("3", 4) == "3_000004.jpeg"


def test_ssv2_malformed_entries_name_file_and_entry(tmp_path):
    root = _ssv2_root(tmp_path)
    bad = _write(tmp_path / "bad_train.json", [{"id": "1", "template": TEMPLATES[0]}, {"id": "9"}])
    with pytest.raises(UserError, match=r"bad_train\.json entry #1 \(id 9\): has no 'template'"):
        ssv2.build_split(root, "train", split_path=bad)
    _write(bad, [{"id": "3", "template": "Juggling [something]"}])
    with pytest.raises(UserError, match=r"entry #0 \(id 3\): template 'Juggling something'"):
        ssv2.build_split(root, "train", split_path=bad)
    _write(bad, '[{"id": "1",')
    with pytest.raises(UserError, match=r"bad_train\.json: not valid JSON at line 1"):
        ssv2.build_split(root, "train", split_path=bad)
    labels = _write(tmp_path / "bad_labels.json", {"Approaching something": "zero"})
    with pytest.raises(UserError, match=r"bad_labels\.json entry 'Approaching something'"):
        ssv2.build_split(root, "train", labels_path=labels)
    with pytest.raises(UserError, match="SSv2 labels file not found"):
        ssv2.build_split(tmp_path / "nowhere", "train")


SE_FRAME = {"url": "u", "split": "80perc_95", "gt_placeholders": ["bottle"], "nr_instances": 3,
            "task_index": 681, "labels": [
                {"box2d": {"y1": 95.4, "y2": 178.5, "x1": 16.5, "x2": 137.2},
                 "gt_annotation": "object 0", "category": "bottle", "standard_category": "0000"},
                {"box2d": {"y1": 115.8, "y2": 230.7, "x1": 0, "x2": 31.6},
                 "gt_annotation": "object hand", "category": "hand", "standard_category": "hand"},
                {"box2d": {"y1": 1, "y2": 2, "x1": 3, "x2": 4},
                 "gt_annotation": "object 1", "category": "cap", "standard_category": "0001"}]}


def _se_video(vid: str, numbers) -> list[dict]:
    return [{**SE_FRAME, "name": f"{vid}/{n:04d}.jpg"} for n in numbers]


def test_something_else_release_and_per_video_files(tmp_path):
    part = _write(tmp_path / "bounding_box_smthsmth_part1.json",
                  {"151201": _se_video("151201", [1, 2, 3]), "7": _se_video("7", [2, 4])})
    release = something_else.read_release(part)
    assert set(release) == {"151201", "7"}
    frames = release["7"]
    assert [f.frame_number for f in frames] == [2, 4]
    assert frames[0].boxes[1].standard_category == "hand"
    assert frames[0].boxes[0].xyxy == (16.5, 95.4, 137.2, 178.5)
    out = tmp_path / "root" / "bbox_jsons"
    assert something_else.write_per_video_files([part], out) == 2
    assert something_else.read_box_file(out / "7.json") == frames


def test_something_else_malformed_entry(tmp_path):
    entry = {**SE_FRAME, "name": "7/0001.jpg"}
    entry["labels"] = [{"box2d": {"x1": 0, "y1": 0, "x2": 1, "y2": 1}, "category": "hand"}]
    path = _write(tmp_path / "bbox_jsons" / "7.json", [{**SE_FRAME, "name": "7/0001.jpg"}, entry])
    with pytest.raises(UserError, match=r"7\.json frame entry #1 label #0: has no "
                                        r"'standard_category'"):
        something_else.read_box_file(path)
    _write(path, [{**SE_FRAME, "name": "7/first.png"}])
    with pytest.raises(UserError, match=r"frame entry #0: 'name' '7/first.png'"):
        something_else.read_box_file(path)


def test_ssv1_official_csv(tmp_path):
    names = ["Holding something", "Pushing something from left to right", "Turning something"]
    (tmp_path / "something-something-v1-labels.csv").write_text("\n".join(names) + "\n")
    (tmp_path / "something-something-v1-train.csv").write_text(
        "1;Turning something\n2;Holding something\n3;Holding something\n")
    (tmp_path / "something-something-v1-test.csv").write_text("8\n9\n")
    for vid in ("1", "2", "8"):
        (tmp_path / "20bn-something-something-v1" / vid).mkdir(parents=True)
    split = ssv1.build_split(tmp_path, "train")
    assert split.ids == ["1", "2"] and [s.label for s in split.samples] == [2, 0]
    assert split.missing_ids == ["3"] and split.expected == 86_017
    assert split.samples[0].read_kwargs == {"pattern": "{:05d}.jpg", "start_number": 1}
    test = ssv1.build_split(tmp_path, "test")
    assert test.ids == ["8"] and test.samples[0].label == -1 and test.expected == 10_960
    (tmp_path / "something-something-v1-validation.csv").write_text("4;Holding something\n5\n")
    with pytest.raises(UserError, match=r"validation\.csv line 2: '5' is not '<id>;<class"):
        ssv1.build_split(tmp_path, "validation")
    (tmp_path / "something-something-v1-validation.csv").write_text("4;Dancing\n")
    with pytest.raises(UserError, match=r"line 1 \(id 4\): class 'Dancing'"):
        ssv1.build_split(tmp_path, "validation")


K_HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"


def test_kinetics_csv_both_layouts(tmp_path):
    rows = ["riding a bike,aaaaaaaaaaa,14,24,train,0", "abseiling,bbbbbbbbbbb,0,10,train,0",
            '"passing American football (in game)",ccccccccccc,5,15,train,0',
            "abseiling,ddddddddddd,3,13,train,0"]
    csv_path = _write(tmp_path / "annotations" / "train.csv", K_HEADER + "\n".join(rows) + "\n")
    videos = tmp_path / "train"
    (videos / "riding a bike").mkdir(parents=True)
    (videos / "riding a bike" / "aaaaaaaaaaa_000014_000024.mp4").write_bytes(b"x")  # by label
    (videos / "bbbbbbbbbbb_000000_000010.mp4").write_bytes(b"x")  # flat
    (videos / "ccccccccccc_000005_000015.mp4").write_bytes(b"x")
    split = kinetics.build_split(tmp_path, "train")
    assert split.classes == ["abseiling", "passing American football (in game)", "riding a bike"]
    assert split.ids == ["aaaaaaaaaaa_000014_000024", "bbbbbbbbbbb_000000_000010",
                         "ccccccccccc_000005_000015"]
    assert [s.label for s in split.samples] == [2, 0, 1]
    assert split.missing_ids == ["ddddddddddd_000003_000013"] and split.expected == 246_534
    first = kinetics.build_split(tmp_path, "train", class_order="first_seen", version=700)
    assert first.classes[0] == "riding a bike" and first.expected == 545_317
    assert kinetics.build_split(tmp_path, "train", layout="flat").missing_ids[0] == \
        "aaaaaaaaaaa_000014_000024"
    assert csv_path.exists()


def test_kinetics_malformed(tmp_path):
    p = _write(tmp_path / "val.csv", "label,youtube,time_start,time_end\nx,y,1,2\n")
    with pytest.raises(UserError, match=r"val\.csv line 1: header .* lacks youtube_id"):
        kinetics.read_csv(p)
    _write(p, K_HEADER + "a,aaaaaaaaaaa,1,11,val,0\nb,bbbbbbbbbbb,one,11,val,0\n")
    with pytest.raises(UserError, match=r"val\.csv line 3: time_start/time_end 'one'"):
        kinetics.read_csv(p)
    _write(p, "youtube_id,time_start,time_end,split\naaaaaaaaaaa,1,11,test\n")  # test: no label
    assert kinetics.read_csv(p)[0].label is None


def test_fingerprint_counts_and_hash(tmp_path):
    root = _ssv2_root(tmp_path)
    split = ssv2.build_split(root, "train")
    fp = fingerprint(split)
    assert fp["found"] == 5 and fp["expected"] == 168_913
    assert fp["missing"] == ["4"] and fp["n_missing"] == 1
    assert fp["id_hash"] == hashlib.sha256(b"1\n2\n3\n5\n6").hexdigest()
    assert id_hash(["6", "5", "3", "2", "1"]) == fp["id_hash"]  # order-free
    assert fingerprint(ssv2.build_split(root, "train", exclude_ids=["1"]))["id_hash"] != \
        fp["id_hash"]
