"""Synthetic datasets: official layouts, decodable round trip, determinism, and a task whose
evidence is in the frame order (reversal flips the label's evidence)."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from reproducers.common.video import (
    TEMPLATES,
    read_frames,
    synthetic_clip,
    video_info,
    write_frame_folders,
    write_kinetics_synthetic,
    write_ssv2_synthetic,
)
from reproducers.common.video.synthetic import KINETICS_LABELS


def object_track(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the object's circular-mean x (0..W) and its area, from the pixels that
    differ from the frame's border colour (the background)."""
    t, h, w, _ = video.shape
    xs, areas = [], []
    for frame in video.astype(np.int32):
        bg = np.median(np.concatenate([frame[0], frame[-1]]), axis=0)
        mask = np.abs(frame - bg).sum(-1) > 60
        angle = np.angle(np.exp(2j * np.pi * np.nonzero(mask)[1] / w).mean())
        xs.append((angle % (2 * np.pi)) * w / (2 * np.pi))
        areas.append(mask.sum())
    return np.array(xs), np.array(areas)


def net_motion(xs: np.ndarray, width: int) -> float:
    """Total horizontal displacement on the wrapping canvas (steps wrapped to +-W/2)."""
    steps = (np.diff(xs) + width / 2) % width - width / 2
    return float(steps.sum())


@pytest.fixture(scope="module")
def ssv2(tmp_path_factory):
    return write_ssv2_synthetic(tmp_path_factory.mktemp("ssv2"), n_per_class=2, frames=16,
                                size=64, seed=0, fps=12, n_val_per_class=1)


def test_ssv2_layout(ssv2):
    labels = json.loads(ssv2["labels"].read_text())
    assert labels == {"Moving something from left to right": "0",
                      "Moving something from right to left": "1",
                      "Moving something towards the camera": "2",
                      "Moving something away from the camera": "3"}
    train = json.loads(ssv2["train"].read_text())
    val = json.loads(ssv2["validation"].read_text())
    assert len(train) == 8 and len(val) == 4
    e = train[0]
    assert set(e) == {"id", "label", "template", "placeholders"} and e["template"] in TEMPLATES
    assert e["label"] == e["template"].replace("[something]", e["placeholders"][0]).lower()
    # class lookup as the official loaders do it: template without brackets
    assert labels[e["template"].replace("[", "").replace("]", "")] == "0"
    ids = [x["id"] for x in train + val]
    assert len(set(ids)) == 12 and all((ssv2["videos"] / f"{i}.webm").is_file() for i in ids)


def test_ssv2_round_trip_and_order_evidence(ssv2):
    entries = json.loads(ssv2["train"].read_text())
    for e in entries:
        path = ssv2["videos"] / f"{e['id']}.webm"
        info = video_info(path)
        assert info["num_frames"] == 16 and info["codec"] in ("vp9", "vp8")
        assert info["header_frames"] == 0  # webm: counted from packets, not the header
        video = read_frames(path, range(16))
        assert video.shape == (16, 64, 64, 3)
        label = int(json.loads(ssv2["labels"].read_text())[
            e["template"].replace("[", "").replace("]", "")])
        xs, areas = object_track(video)
        if label < 2:
            moved, back = net_motion(xs, 64), net_motion(xs[::-1], 64)
            assert (moved > 10) == (label == 0) and (moved < -10) == (label == 1)
            assert back == pytest.approx(-moved)  # reversing the frames flips the evidence
            flipped_xs, _ = object_track(video[:, :, ::-1])
            assert np.sign(net_motion(flipped_xs, 64)) == -np.sign(moved)  # flip swaps 0/1
        else:
            grows = areas[-1] > 2 * areas[0]
            shrinks = areas[0] > 2 * areas[-1]
            assert grows == (label == 2) and shrinks == (label == 3)


def test_random_access_matches_sequential_on_synthetic(ssv2, tmp_path):
    webm = ssv2["videos"] / "1.webm"
    full = read_frames(webm, range(16))
    assert np.array_equal(read_frames(webm, [15, 9, 8, 0, 9]), full[[15, 9, 8, 0, 9]])
    paths = write_kinetics_synthetic(tmp_path, n_per_class=1, frames=30, seed=1,
                                     n_val_per_class=1, classes=2)
    mp4 = next(paths["train"].glob("*.mp4"))
    assert len(video_info(mp4)["keyframes"]) >= 3  # gop 8: several keyframes, B-frames
    full = read_frames(mp4, range(30))
    assert np.array_equal(read_frames(mp4, [29, 8, 7, 16, 23]), full[[29, 8, 7, 16, 23]])


def test_deterministic_for_a_seed(tmp_path):
    a = write_ssv2_synthetic(tmp_path / "a", n_per_class=1, frames=8, seed=5)
    b = write_ssv2_synthetic(tmp_path / "b", n_per_class=1, frames=8, seed=5)
    c = write_ssv2_synthetic(tmp_path / "c", n_per_class=1, frames=8, seed=6)
    files = sorted(p.relative_to(a["root"]) for p in a["root"].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b["root"]) for p in b["root"].rglob("*") if p.is_file())
    assert all((a["root"] / f).read_bytes() == (b["root"] / f).read_bytes() for f in files)
    assert (a["videos"] / "1.webm").read_bytes() != (c["videos"] / "1.webm").read_bytes()
    k1 = write_kinetics_synthetic(tmp_path / "k1", n_per_class=1, frames=8, seed=5)
    k2 = write_kinetics_synthetic(tmp_path / "k2", n_per_class=1, frames=8, seed=5)
    for p in k1["train"].glob("*.mp4"):
        assert p.read_bytes() == (k2["train"] / p.name).read_bytes()


def test_frame_folders_ssv1_layout(tmp_path):
    paths = write_frame_folders(tmp_path, n_per_class=1, frames=10, size=32, seed=2,
                                n_val_per_class=1)
    names = paths["labels"].read_text().splitlines()
    assert names[0] == "Moving something from left to right" and len(names) == 4
    assert (tmp_path / "category.txt").read_text() == paths["labels"].read_text()
    lines = paths["train"].read_text().splitlines()
    vid, label = lines[0].split(";")
    assert (vid, label) == ("1", names[0]) and len(lines) == 4
    vdir = paths["frames"] / vid
    assert sorted(p.name for p in vdir.iterdir())[:2] == ["00001.jpg", "00002.jpg"]
    video = read_frames(vdir, range(10), pattern="{:05d}.jpg")
    assert video.shape == (10, 32, 32, 3)
    assert np.array_equal(video, read_frames(vdir, range(10)))  # default sorted listing
    assert net_motion(object_track(video)[0], 32) > 5  # class 0 moves right


def test_kinetics_layout(tmp_path):
    paths = write_kinetics_synthetic(tmp_path, n_per_class=1, frames=12, size=48, seed=3,
                                     fps=30)
    with open(paths["train_csv"], newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]
    assert len(rows) == 5 and all(r[4] == "train" for r in rows[1:])
    for label, yid, start, end, _, _ in rows[1:]:
        path = paths["train"] / f"{yid}_{int(start):06d}_{int(end):06d}.mp4"
        assert path.is_file() and re.fullmatch(r"[\w-]{11}", yid) and label in KINETICS_LABELS
        info = video_info(path)
        assert (info["codec"], info["num_frames"], info["fps"], info["width"]) == \
            ("h264", 12, 30.0, 48)
    assert paths["val_csv"].read_text().count(",val,") == 4


def test_synthetic_clip_statistics_are_time_reversal_symmetric():
    """Order-blind statistics (mean frame) have the same distribution for the two classes
    of a pair: average over many clips and compare."""
    def mean_frame(label):
        rng = np.random.default_rng(11)
        return np.mean([synthetic_clip(label, frames=12, size=32, rng=rng).mean(0)
                        for _ in range(150)], axis=0)
    diff = np.abs(mean_frame(0) - mean_frame(1)).mean()
    assert diff < 4.0  # pixel levels (measured 1.1, seed-to-seed noise of one class 1.9)
    assert np.abs(mean_frame(0) - mean_frame(2)).mean() > 8.0  # other pair: visible (12.5)
    with pytest.raises(ValueError):
        synthetic_clip(4, rng=np.random.default_rng(0))
