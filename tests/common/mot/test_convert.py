"""Converters to the official SVM COCO-video json (svm.md "Data formats"), on tiny
hand-written MOT17, CrowdHuman and MOTSynth trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from reproducers.cli import main
from reproducers.common.mot.convert import (
    convert_crowdhuman,
    convert_mot17,
    convert_motsynth,
    half_split,
)
from reproducers.harness.errors import UserError


def mot_seq(root: Path, split: str, name: str, n: int, gt_lines=None) -> Path:
    seq = root / split / name
    (seq / "img1").mkdir(parents=True)
    for f in range(1, n + 1):
        (seq / "img1" / f"{f:06d}.jpg").touch()  # mot2coco only lists the image names
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength={n}\n"
        "imWidth=640\nimHeight=480\nimExt=.jpg\n")
    if gt_lines is not None:
        (seq / "gt").mkdir()
        (seq / "gt" / "gt.txt").write_text("".join(f"{ln}\n" for ln in gt_lines))
    return seq


@pytest.fixture
def mot17(tmp_path):
    root = tmp_path / "MOT17"
    long_gt = [f"{f},5,10,20,30,40,1,1,0.9" for f in range(1, 601)]
    long_gt += ["300,9,1,2,3,4,1,1,1", "301,9,1,2,3,4,1,1,1", "302,9,1,2,3,4,1,1,1",
                "302,11,1,2,3,4,0,7,0.2", "303,12,1,2,3,4,0,3,1", "303,13,1,2,3,4,0,1,0.1"]
    mot_seq(root, "train", "A-600", 600, long_gt)
    short_gt = ["1,4,1,1,10,10,1,1,1", "1,8,5,5,10,10,1,1,0.5", "4,8,5,5,10,10,1,1,0.5",
                "5,8,5,5,10,10,1,1,0.5", "7,4,1,1,10,10,1,1,1", "6,3,1,1,1,1,0,8,1"]
    mot_seq(root, "train", "B-7", 7, short_gt)
    mot_seq(root, "test", "C-3", 3)
    return root


def test_half_split_rule():
    assert half_split(600) == 301 and half_split(7) == 4 and half_split(1) == 1


def test_mot17(mot17, tmp_path):
    out = tmp_path / "annotations"
    summary = convert_mot17(mot17, out)
    assert list(summary) == ["train", "test", "half-train", "half-val"]
    js = {s: json.loads((out / f"{s}_cocoformat.json").read_text()) for s in summary}

    def frames(d, video):
        vid = next(v["id"] for v in d["videos"] if v["name"] == video)
        return [i["mot_frame_id"] for i in d["images"] if i["video_id"] == vid]

    # half split: split_frame = n // 2 + 1; 600 -> 1..301 / 302..600, 7 -> 1..4 / 5..7
    assert frames(js["half-train"], "A-600") == list(range(1, 302))
    assert frames(js["half-val"], "A-600") == list(range(302, 601))
    assert frames(js["half-train"], "B-7") == [1, 2, 3, 4]
    assert frames(js["half-val"], "B-7") == [5, 6, 7]
    assert frames(js["train"], "B-7") == list(range(1, 8))
    first_val = js["half-val"]["images"][0]
    assert first_val == {"id": first_val["id"], "video_id": first_val["video_id"],
                         "file_name": "A-600/img1/000302.jpg", "height": 480, "width": 640,
                         "frame_id": 0, "mot_frame_id": 302}

    # video, image and annotation ids continue across subsets (train, test, half-train, half-val)
    assert [v["id"] for s in summary for v in js[s]["videos"]] == list(range(1, 8))
    img_ids = [i["id"] for s in summary for i in js[s]["images"]]
    assert img_ids == list(range(1, len(img_ids) + 1)) and len(img_ids) == 607 + 3 + 305 + 302
    ann_ids = [a["id"] for s in summary if s != "test" for a in js[s]["annotations"]]
    assert ann_ids == list(range(1, len(ann_ids) + 1))
    assert "annotations" not in js["test"] and js["test"]["num_instances"] == 0
    assert js["train"]["videos"][0] == {"id": 1, "name": "A-600", "fps": 25, "width": 640,
                                        "height": 480}

    # class filtering: only class 1 rows, whatever conf and visibility (13 is conf-0 class 1)
    train = js["train"]["annotations"]
    assert {a["mot_class_id"] for a in train} == {1}
    assert len(train) == 600 + 3 + 1 + 5
    conf0 = [a for a in train if a["mot_instance_id"] == 13]
    assert conf0[0]["mot_conf"] == 0.0 and conf0[0]["visibility"] == 0.1
    a0 = train[0]
    assert a0 == {"category_id": 1, "bbox": [10.0, 20.0, 30.0, 40.0], "area": 1200.0,
                  "iscrowd": False, "visibility": 0.9, "mot_instance_id": 5, "mot_conf": 1.0,
                  "mot_class_id": 1, "id": 1, "image_id": 1, "instance_id": 0}

    # instance_id: 0-based per subset, per-video maps in order of first appearance
    def ins_map(d):
        return sorted({(d["images"][a["image_id"] - d["images"][0]["id"]]["video_id"],
                        a["mot_instance_id"], a["instance_id"]) for a in d["annotations"]})

    assert ins_map(js["train"]) == [(1, 5, 0), (1, 9, 1), (1, 13, 2), (2, 4, 3), (2, 8, 4)]
    assert js["train"]["num_instances"] == 5
    assert ins_map(js["half-val"]) == [(6, 5, 0), (6, 9, 1), (6, 13, 2), (7, 4, 4), (7, 8, 3)]
    assert js["half-val"]["num_instances"] == 5
    assert ins_map(js["half-train"]) == [(4, 5, 0), (4, 9, 1), (5, 4, 2), (5, 8, 3)]

    # gt_half files: raw lines of all classes, original frame numbers, in the input tree
    b_gt = mot17 / "train" / "B-7" / "gt"
    assert (b_gt / "gt_half-train.txt").read_text() == (
        "1,4,1,1,10,10,1,1,1\n1,8,5,5,10,10,1,1,0.5\n4,8,5,5,10,10,1,1,0.5\n")
    assert (b_gt / "gt_half-val.txt").read_text() == (
        "5,8,5,5,10,10,1,1,0.5\n7,4,1,1,10,10,1,1,1\n6,3,1,1,1,1,0,8,1\n")
    a_val = (mot17 / "train" / "A-600" / "gt" / "gt_half-val.txt").read_text().splitlines()
    assert len(a_val) == 299 + 4 and "302,11,1,2,3,4,0,7,0.2" in a_val
    assert not (mot17 / "test" / "C-3" / "gt").exists()


@pytest.mark.parametrize("edit, match", [
    (lambda s: (s / "seqinfo.ini").write_text("[Sequence]\nname=B-7\nframeRate=25\nimDir=img1\n"
                                              "seqLength=7\nimWidth=640\nimHeight=480\n"),
     r"seqinfo.ini:3: expected 'imDir=...'; mot2coco reads seqinfo.ini by line position"),
    (lambda s: (s / "img1" / "000007.jpg").unlink(), "seqLength=7 but .* holds 6 files"),
    (lambda s: (s / "seqinfo.ini").write_text((s / "seqinfo.ini").read_text().replace(
        "name=B-7", "name=B-8")), "name=B-8 differs from its folder name B-7"),
    (lambda s: (s / "gt" / "gt.txt").write_text("1,4,1,1,10,10,1,1,1\n8,4,1,1,10,10,1,1,1\n"),
     r"gt.txt:2: frame 8 > seqLength 7"),
])
def test_mot17_errors(mot17, tmp_path, edit, match):
    edit(mot17 / "train" / "B-7")
    with pytest.raises(UserError, match=match):
        convert_mot17(mot17, tmp_path / "out")


def test_crowdhuman(tmp_path):
    root = tmp_path / "crowdhuman"
    for mode, ids in (("train", ["a,1", "b,2"]), ("val", ["c,3"])):
        (root / mode / "Images").mkdir(parents=True)
        lines = []
        for k, i in enumerate(ids):
            Image.new("RGB", (40 + k, 30 + k)).save(root / mode / "Images" / f"{i}.jpg")
            boxes = [{"tag": "person", "fbox": [-5, 3, 20, 40], "vbox": [0, 3, 15, 30],
                      "hbox": [1, 2, 3, 4], "extra": {"box_id": 0}},
                     {"tag": "mask", "fbox": [1, 2, 3, 4], "vbox": [1, 2, 3, 4],
                      "extra": {"ignore": 1}}]
            lines.append(json.dumps({"ID": i, "gtboxes": boxes[k:]}))
        (root / f"annotation_{mode}.odgt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ann"
    summary = convert_crowdhuman(root, out)
    assert summary["train"]["images"] == 2 and summary["train"]["annotations"] == 3
    train = json.loads((out / "crowdhuman_train.json").read_text())
    assert list(train) == ["categories", "images", "annotations"]  # no videos
    assert train["images"] == [{"file_name": "Images/a,1.jpg", "height": 30, "width": 40, "id": 1},
                               {"file_name": "Images/b,2.jpg", "height": 31, "width": 41, "id": 2}]
    assert train["annotations"][0] == {"id": 1, "image_id": 1, "category_id": 1,
                                       "vis_bbox": [0, 3, 15, 30], "bbox": [-5, 3, 20, 40],
                                       "area": 800, "iscrowd": False}
    assert [a["iscrowd"] for a in train["annotations"]] == [False, True, True]
    val = json.loads((out / "crowdhuman_val.json").read_text())
    assert val["images"][0]["id"] == 1 and val["annotations"][0]["id"] == 1  # restart per file
    (root / "annotation_val.odgt").write_text('{"ID": "c,3", "gtboxes": []}\n{"ID": "zz"\n')
    with pytest.raises(UserError, match=r"annotation_val.odgt:2: not an odgt record"):
        convert_crowdhuman(root, out)


def test_motsynth(tmp_path):
    anns = tmp_path / "anns"
    anns.mkdir()
    for name, n in (("10", 2), ("2", 3)):
        images = [{"id": 100 + f, "frame_n": f + 1, "height": 1080, "width": 1920}
                  for f in range(n)]
        annotations = [{"image_id": 100 + j % n, "bbox": [j, 2.5, 10, 20], "iscrowd": j % 2,
                        "ped_id": 7000 + j % 2} for j in range(3)]
        (anns / f"{name}.json").write_text(json.dumps({"images": images,
                                                       "annotations": annotations}))
    out = tmp_path / "MOTSynth" / "all_cocoformat.json"
    assert convert_motsynth(anns, out)["annotations"] == 6
    d = json.loads(out.read_text())
    assert list(d) == ["categories", "videos", "images", "annotations", "num_instances"]
    assert [v["name"] for v in d["videos"]] == ["2", "10"]  # sorted as integers
    assert d["videos"][0] == {"id": 1, "name": "2", "fps": 20, "height": 1080, "width": 1920}
    assert d["images"][3] == {"file_name": "10/img1/000001.jpg", "height": 1080, "width": 1920,
                              "id": 4, "frame_id": 0, "video_id": 2}
    assert d["annotations"][4] == {"category_id": 1, "bbox": [1, 2.5, 10, 20], "area": 200,
                                   "iscrowd": True, "id": 5, "image_id": 5,
                                   "instance_id": 7001}
    assert d["num_instances"] == 7  # official quirk: annotation count + 1


def test_cli_mot_convert(mot17, tmp_path, capsys):
    assert main(["mot-convert", "mot17", "--input", str(mot17), "--output",
                 str(tmp_path / "a"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["half-val"]["images"] == 302 and out["test"]["annotations"] == 0
    assert main(["mot-convert", "crowdhuman", "--input", str(tmp_path / "none"), "--output",
                 str(tmp_path / "b")]) == 2
    assert "annotation_train.odgt: no such file" in capsys.readouterr().err
