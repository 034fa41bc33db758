"""Synthetic MOT17-format sequences: layout, determinism, occlusion/visibility, distractors,
and the real converter + evaluator on them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from reproducers.common.mot.convert import convert_mot17
from reproducers.common.mot.evaluate import evaluate_mot
from reproducers.common.mot.motchallenge import read_gt, read_seqinfo
from reproducers.common.mot.synthetic import render_sequence, write_synthetic_mot

from .helpers import write_res


def digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def test_layout_and_determinism(tmp_path):
    seqs = write_synthetic_mot(tmp_path / "a", num_seqs=2, frames=10, seed=1)
    assert [s.name for s in seqs] == ["SYN-01", "SYN-02"]
    info = read_seqinfo(seqs[0] / "seqinfo.ini")
    assert (info.seq_length, info.im_dir, info.im_width, info.im_height) == (10, "img1", 320, 192)
    assert sorted(p.name for p in (seqs[0] / "img1").iterdir()) == [
        f"{i:06d}.jpg" for i in range(1, 11)]
    assert Image.open(seqs[0] / "img1" / "000001.jpg").size == (320, 192)
    write_synthetic_mot(tmp_path / "b", num_seqs=2, frames=10, seed=1)
    write_synthetic_mot(tmp_path / "c", num_seqs=2, frames=10, seed=2)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
    assert digest(seqs[0]) != digest(seqs[1])


def test_ground_truth_content():
    video, gt = render_sequence(frames=40, width=320, height=192, seed=0, num_pedestrians=6,
                                num_static=2)
    assert video.shape == (40, 192, 320, 3) and gt.shape[1] == 9
    frame, ids, cls, conf, vis = gt[:, 0], gt[:, 1], gt[:, 7], gt[:, 6], gt[:, 8]
    assert set(cls) == {1, 7}
    assert (conf[cls == 7] == 0).all() and (conf[cls == 1] == 1).any()
    assert ((vis >= 0) & (vis <= 1)).all()
    ped = cls == 1
    assert set(np.unique(ids[ped])) == {1, 2, 3, 4, 5, 6}
    # occlusion: the two crossing walkers (ids 1 and 2) hide part of each other at mid-sequence
    assert vis[(ids <= 2) & (frame > 15) & (frame < 26)].min() < 0.6
    # entering / leaving: some pedestrians are not in every frame
    assert any(len(frame[ids == i]) < 40 for i in range(1, 7))
    # static persons do not move; pedestrians do
    for i in np.unique(ids[cls == 7]):
        assert len(np.unique(gt[ids == i, 2])) == 1
    assert len(np.unique(gt[ids == 1, 2])) > 20
    # pixels: the pedestrians stand out from the background
    f, i = int(frame[0]), int(np.argmax((ids == 1) & (frame == frame[0])))
    x, y, w, h = gt[i, 2:6].astype(int)
    person = video[f - 1, max(y, 0):y + h, max(x, 0):x + w].astype(float)
    assert person.std(axis=(0, 1)).max() > 20


def test_convert_and_evaluate_roundtrip(tmp_path):
    seqs = write_synthetic_mot(tmp_path, num_seqs=1, frames=9, seed=3)
    rows = read_gt(seqs[0] / "gt" / "gt.txt", seq_length=9)
    summary = convert_mot17(tmp_path, tmp_path / "annotations")
    assert summary["half-train"]["images"] == 5 and summary["half-val"]["images"] == 4
    # a perfect tracker on half-val, scored against gt_half-val.txt as the official test does
    keep = rows[(rows[:, 0] >= 6) & (rows[:, 7] == 1) & (rows[:, 6] == 1)]
    write_res(tmp_path / "res", "SYN-01",
              [(int(r[0]), int(r[1]), *r[2:6], 1, -1, -1, -1) for r in keep])
    out = evaluate_mot(tmp_path / "train", tmp_path / "res", gt_file="gt/gt_half-val.txt")
    assert out["combined"]["MOTA"] == pytest.approx(100.0)
    assert out["combined"]["GT_Dets"] == len(keep)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_pedestrians >= 2"):
        write_synthetic_mot(tmp_path, num_pedestrians=1)
