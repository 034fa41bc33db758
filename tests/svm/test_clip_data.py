"""SVM training clips (COCO-video loading, clip sampling, mixing, collate) and MOT test frames."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.svm.clip_data import (
    RESAMPLE_ONCE,
    RESAMPLE_PER_EPOCH,
    ClipSource,
    CocoVideo,
    MixedClipDataset,
    MotSequenceFrames,
    boxes_to_original,
    collate_clips,
    mot_half_frame_range,
    official_sources,
    sample_clip_frames,
)
from reproducers.svm.seq_transforms import SeqCompose, SeqMosaic

CATS = [{"id": 1, "name": "pedestrian"}]


def write_jpg(path, h, w, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


def video_json(path, videos, *, h=64, w=96, boxes=((10, 10, 20, 30),), prefix=None,
               value=lambda v, f: 40 * f + 20):
    """COCO-video json (the official converters' fields); with ``prefix`` also writes the
    frames. ``videos`` maps name -> frame count."""
    data = {"categories": CATS, "videos": [], "images": [], "annotations": []}
    img_id = ann_id = 0
    for v, (name, n) in enumerate(videos.items()):
        data["videos"].append({"id": v + 1, "name": name})
        for f in range(n):
            img_id += 1
            file_name = f"{name}/img1/{f + 1:06d}.jpg"
            data["images"].append({"id": img_id, "video_id": v + 1, "frame_id": f,
                                   "file_name": file_name, "height": h, "width": w})
            if prefix is not None:
                write_jpg(prefix / file_name, h, w, value(v, f))
            for k, (x, y, bw, bh) in enumerate(boxes):
                ann_id += 1
                data["annotations"].append({
                    "id": ann_id, "image_id": img_id, "category_id": 1, "bbox": [x, y, bw, bh],
                    "area": bw * bh, "iscrowd": False, "instance_id": 100 * v + k})
    path.write_text(json.dumps(data))
    return path


def crowdhuman_json(path, prefix, n=2, h=80, w=60):
    data = {"categories": CATS, "images": [], "annotations": []}
    for i in range(n):
        data["images"].append({"id": 10 + i, "file_name": f"Images/{i}.jpg", "height": h,
                               "width": w})
        write_jpg(prefix / f"Images/{i}.jpg", h, w, 60 + 50 * i)
        data["annotations"] += [
            {"id": 500 + 2 * i, "image_id": 10 + i, "category_id": 1, "bbox": [5, 5, 20, 40],
             "area": 800, "iscrowd": False},
            {"id": 501 + 2 * i, "image_id": 10 + i, "category_id": 1, "bbox": [30, 5, 20, 20],
             "area": 400, "iscrowd": True}]
    path.write_text(json.dumps(data))
    return path


# ---- loading ------------------------------------------------------------------------------

def test_box_rules_of_the_official_loader(tmp_path):
    data = {"categories": CATS + [{"id": 2, "name": "car"}],
            "videos": [{"id": 1, "name": "v"}],
            "images": [{"id": 1, "video_id": 1, "frame_id": 0, "file_name": "a.jpg",
                        "height": 64, "width": 96}],
            "annotations": []}
    anns = [([10, 10, 20, 30], {"instance_id": 7}),     # kept -> [10, 10, 30, 40]
            ([5, 5, 10, 10], {"iscrowd": True}),        # ignore box
            ([1, 1, 0.5, 10], {}),                      # w < 1
            ([1, 1, 10, 0.5], {}),                      # h < 1
            ([1, 1, 10, 10], {"area": 0}),              # area <= 0
            ([200, 200, 10, 10], {}),                   # no overlap with the image
            ([-20, 5, 20, 10], {}),                     # touches the image only at x = 0
            ([90, 60, 20, 20], {"instance_id": 8}),     # crosses the border: kept, unclipped
            ([1, 1, 10, 10], {"category_id": 2}),       # other class
            ([1, 1, 10, 10], {"ignore": True})]
    for i, (bbox, extra) in enumerate(anns):
        ann = {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": bbox,
               "area": bbox[2] * bbox[3], "iscrowd": False}
        ann.update(extra)
        data["annotations"].append(ann)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    ann = CocoVideo(path, tmp_path).annotations(1)
    np.testing.assert_array_equal(ann["bboxes"], [[10, 10, 30, 40], [90, 60, 110, 80]])
    assert ann["bboxes"].dtype == np.float32 and ann["labels"].dtype == np.int64
    np.testing.assert_array_equal(ann["labels"], [0, 0])
    np.testing.assert_array_equal(ann["instance_ids"], [7, 8])
    np.testing.assert_array_equal(ann["bboxes_ignore"], [[5, 5, 15, 15]])


def test_clip_sampling_strides_and_clamping(tmp_path):
    assert sample_clip_frames(3, 10, 2, 4) == [3, 7]
    assert sample_clip_frames(8, 10, 2, 4) == [8, 9]
    assert sample_clip_frames(9, 10, 2, 1) == [9, 9]
    assert sample_clip_frames(0, 1, 2, 3) == [0, 0]
    ds = CocoVideo(video_json(tmp_path / "m.json", {"s": 10}), tmp_path)
    assert len(ds) == 10
    strides = set()
    for seed in range(60):
        a, b = ds.clip_image_ids(0, np.random.default_rng(seed))
        strides.add(b - a)
        assert ds.clip_image_ids(9, np.random.default_rng(seed)) == [10, 10]  # last frame
    assert strides == {1, 2, 3, 4}


def test_crowdhuman_images_are_one_frame_videos(tmp_path):
    ds = CocoVideo(crowdhuman_json(tmp_path / "ch.json", tmp_path / "img"), tmp_path / "img",
                   strides=(1,))
    assert len(ds) == 2
    clip = ds.load_clip(1, np.random.default_rng(0))
    assert len(clip) == 2 and clip[0]["filename"] == clip[1]["filename"]
    np.testing.assert_array_equal(clip[0]["img"], clip[1]["img"])
    assert clip[0]["img"].dtype == np.uint8 and clip[0]["img"].shape == (80, 60, 3)
    np.testing.assert_array_equal(clip[0]["bboxes"], [[5, 5, 25, 45]])  # crowd box dropped
    np.testing.assert_array_equal(clip[0]["instance_ids"], [502])       # = annotation id
    assert clip[0]["frame_id"] == 0 and clip[0]["video_id"] == 11


def test_motsynth_sample_ratio_draws(tmp_path):
    path = video_json(tmp_path / "ms.json", {"a": 30, "b": 40})
    once = CocoVideo(path, tmp_path, sample_ratio=0.1, seed=3)
    assert len(once) == 3 + 4
    starts0 = list(once.starts)
    assert [f for v, f in starts0 if v == 0] == sorted(f for v, f in starts0 if v == 0)
    once.set_epoch(4)
    assert once.starts == starts0  # released behaviour: the first draw is kept

    per = CocoVideo(path, tmp_path, sample_ratio=0.1, seed=3, resample=RESAMPLE_PER_EPOCH)
    assert per.starts == starts0  # epoch 0 draws the same subset
    draws = []
    for epoch in range(1, 5):
        per.set_epoch(epoch)
        assert len(per) == 7
        draws.append(list(per.starts))
    assert any(d != starts0 for d in draws)
    again = CocoVideo(path, tmp_path, sample_ratio=0.1, seed=3, resample=RESAMPLE_PER_EPOCH)
    again.set_epoch(4)
    assert again.starts == draws[-1]  # deterministic in (seed, epoch)
    other = CocoVideo(path, tmp_path, sample_ratio=0.1, seed=4)
    assert other.starts != starts0
    assert RESAMPLE_ONCE == once.resample


def test_loader_errors(tmp_path):
    path = video_json(tmp_path / "m.json", {"s": 2})
    ds = CocoVideo(path, tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"000001\.jpg: image not found \(listed in .*m\.json"):
        ds.load_clip(0, np.random.default_rng(0))
    (tmp_path / "noimg.json").write_text(json.dumps({"videos": [], "annotations": []}))
    with pytest.raises(UserError, match=r"noimg\.json: no 'images' list"):
        CocoVideo(tmp_path / "noimg.json", tmp_path)
    with pytest.raises(UserError, match=r"missing\.json: annotation file not found"):
        CocoVideo(tmp_path / "missing.json", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match=r"bad\.json: not valid JSON"):
        CocoVideo(tmp_path / "bad.json", tmp_path)
    data = json.loads(path.read_text())
    data["images"][1]["frame_id"] = 5
    (tmp_path / "gap.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"gap\.json: video s has frame_ids"):
        CocoVideo(tmp_path / "gap.json", tmp_path)
    data = json.loads(path.read_text())
    data.pop("videos")
    (tmp_path / "novid.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="load_img_as_vid=True"):
        CocoVideo(tmp_path / "novid.json", tmp_path, load_img_as_vid=False)


def test_official_sources():
    src = official_sources("/data")
    assert [s.name for s in src] == ["motsynth", "mot17_half_train", "crowdhuman_train",
                                     "crowdhuman_val"]
    assert [s.sample_ratio for s in src] == [0.1, 1.0, 1.0, 1.0]
    assert str(src[1].ann_file) == "/data/MOT17/annotations/half-train_cocoformat.json"
    assert str(src[3].img_prefix) == "/data/crowdhuman/val"
    assert src[0].strides == (1, 2, 3, 4) and src[2].strides == (1,)


# ---- mixing, collate ----------------------------------------------------------------------

def _mixed(tmp_path, **kw):
    mot = video_json(tmp_path / "mot.json", {"s": 4}, prefix=tmp_path / "mot")
    ch = crowdhuman_json(tmp_path / "ch.json", tmp_path / "ch")
    specs = [ClipSource("mot", mot, tmp_path / "mot"),
             ClipSource("ch", ch, tmp_path / "ch", strides=(1,))]
    return MixedClipDataset.from_sources(specs, **kw)


def test_mixed_dataset_items_and_collate(tmp_path):
    ds = _mixed(tmp_path, img_scale=(64, 96), seed=1)
    assert len(ds) == 6 and ds.locate(4) == (1, 0)
    clip = ds[0]
    assert len(clip) == 2
    for f in clip:
        assert f["img"].dtype == np.float32 and f["img"].shape == (64, 96, 3)
        assert f["bboxes"].dtype == np.float32 and f["bboxes"].shape[1] == 4
        assert f["labels"].dtype == np.int64 and (f["labels"] == 0).all()
        assert f["instance_ids"].dtype == np.int64
        assert len(f["labels"]) == len(f["bboxes"]) == len(f["instance_ids"])
    again = ds[0]
    for a, b in zip(clip, again, strict=True):
        np.testing.assert_array_equal(a["img"], b["img"])
        np.testing.assert_array_equal(a["bboxes"], b["bboxes"])
    ds.set_epoch(1)
    assert not np.array_equal(ds[0][0]["img"], clip[0]["img"])

    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_clips)
    batch = next(iter(loader))
    assert len(batch) == 2
    for per_frame in batch:
        assert per_frame["img"].shape == (3, 3, 64, 96) and per_frame["img"].dtype == torch.float32
        assert len(per_frame["gt_bboxes"]) == len(per_frame["gt_labels"]) == 3
        assert all(b.dtype == torch.float32 and b.shape[-1] == 4 for b in per_frame["gt_bboxes"])
        assert all(lb.dtype == torch.int64 for lb in per_frame["gt_labels"])
        assert per_frame["img_metas"][0]["batch_input_shape"] == (64, 96)


def test_collate_pads_to_the_largest_frame_and_multiple_of_32():
    def f(h, w, n):
        return {"img": np.ones((h, w, 3), np.float32), "bboxes": np.zeros((n, 4), np.float32),
                "labels": np.zeros(n, np.int64)}
    batch = collate_clips([[f(64, 96, 2)], [f(70, 40, 0)]])
    assert batch[0]["img"].shape == (2, 3, 96, 96)
    assert batch[0]["img"][1, :, 70:].abs().sum() == 0 and batch[0]["img"][1, :, :70, 40:].sum() == 0
    assert batch[0]["img"][1, :, :70, :40].min() == 1
    assert [b.shape for b in batch[0]["gt_bboxes"]] == [(2, 4), (0, 4)]
    assert batch[0]["gt_instance_ids"][0].tolist() == [-1, -1]


def test_partner_frame_i_goes_with_frame_i(tmp_path):
    # one 3-frame video, flat frames of value 40 * f + 20; stride 1: clip from start s is
    # frames (s, min(s + 1, 2))
    path = video_json(tmp_path / "v.json", {"s": 3}, h=32, w=48, prefix=tmp_path)
    pipe = SeqCompose([SeqMosaic(img_scale=(32, 48), center_ratio_range=(1.0, 1.0))])
    ds = MixedClipDataset([CocoVideo(path, tmp_path, strides=(1,))], pipeline=pipe, seed=5)
    for index in range(3):
        rng = ds.rng_for(index)
        partners = [int(rng.integers(0, 3)) for _ in range(3)]
        clip = ds[index]
        for i, f in enumerate(clip):
            quadrants = [f["img"][:32, :48], f["img"][:32, 48:], f["img"][32:, :48],
                         f["img"][32:, 48:]]
            starts = [index, *partners]
            for q, s in enumerate(starts):
                expected = 40 * min(s + i, 2) + 20
                assert abs(float(quadrants[q].mean()) - expected) < 2


# ---- test side ----------------------------------------------------------------------------

def write_sequence(root, n=3, h=108, w=192):
    seq = root / "MOT17-02-FRCNN"
    (seq / "img1").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\nframeRate=30\nseqLength={n}\n"
        f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n")
    for k in range(1, n + 1):
        write_jpg(seq / "img1" / f"{k:06d}.jpg", h, w, 30 * k)
    return seq


def test_mot_sequence_frames(tmp_path):
    seq = write_sequence(tmp_path)
    ds = MotSequenceFrames(seq, img_scale=(80, 144))
    assert len(ds) == 3 and ds.name == "MOT17-02-FRCNN"
    item = ds[1]
    assert item["img"].shape == (3, 96, 160) and item["img"].dtype == torch.float32
    assert item["img_shape"] == (80, 142) and item["pad_shape"] == (96, 160)
    assert item["ori_shape"] == (108, 192)
    assert item["frame_id"] == 1 and item["mot_frame_id"] == 2
    np.testing.assert_allclose(item["scale_factor"], [142 / 192, 80 / 108] * 2)
    assert (item["img"][:, 80:] == 0).all() and (item["img"][:, :, 142:] == 0).all()
    # grey 60 -> normalised RGB
    np.testing.assert_allclose(item["img"][:, 40, 70].numpy(),
                               [(60 - 123.675) / 58.395, (60 - 116.28) / 57.12,
                                (60 - 103.53) / 57.375], atol=0.05)
    boxes = np.array([[10, 20, 30, 40, 0.9]], np.float32)
    back = boxes_to_original(boxes, item["scale_factor"])
    np.testing.assert_allclose(back[0, :4], [10 * 192 / 142, 20 * 108 / 80, 30 * 192 / 142,
                                             40 * 108 / 80], rtol=1e-5)
    assert back[0, 4] == np.float32(0.9)
    t = boxes_to_original(torch.from_numpy(boxes), item["scale_factor"])
    np.testing.assert_allclose(t.numpy(), back)

    part = MotSequenceFrames(seq, img_scale=(80, 144), frame_range=(2, 3))
    assert len(part) == 2 and part[0]["frame_id"] == 0 and part[0]["mot_frame_id"] == 2
    assert mot_half_frame_range(600, "train") == (1, 301)
    assert mot_half_frame_range(600, "val") == (302, 600)


def test_mot_sequence_errors(tmp_path):
    with pytest.raises(UserError, match="seqinfo.ini"):
        MotSequenceFrames(tmp_path / "nothing")
    seq = write_sequence(tmp_path, n=2)
    (seq / "img1" / "000002.jpg").unlink()
    with pytest.raises(UserError, match=r"000002\.jpg: frame image not found"):
        MotSequenceFrames(seq)
    with pytest.raises(UserError, match="frame range"):
        MotSequenceFrames(seq, frame_range=(1, 5))
