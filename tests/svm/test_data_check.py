"""`data check svm_mot17`: missing and unreadable images of the training jsons and the
half-val sequences, malformed ground truth with file:line, without training."""

from __future__ import annotations

import pytest

from reproducers.harness.errors import UserError
from reproducers.svm import SMOKE_DATA
from reproducers.svm.data_check import check
from reproducers.svm.synthetic import synthesize

TINY = {**SMOKE_DATA, "num_seqs": 2, "frames": 12, "num_pedestrians": 3}


@pytest.fixture()
def root(tmp_path):
    synthesize(tmp_path, TINY, seed=0)
    return tmp_path


def test_clean_data_is_fully_usable(root):
    train = check(root, "half-train", TINY)
    val = check(root, "half-val", TINY)
    assert (train["total"], train["usable"]) == (14, 14)  # 2 x (12 // 2 + 1) half-train frames
    assert (val["total"], val["usable"]) == (10, 10)  # frames 8..12 of 2 sequences
    assert train["missing"] == train["unreadable"] == val["missing"] == val["unreadable"] == []


def test_missing_broken_and_malformed_are_listed(root):
    seq = root / "MOT17" / "train"
    (seq / "SYN-01" / "img1" / "000002.jpg").unlink()
    (seq / "SYN-02" / "img1" / "000012.jpg").write_bytes(b"not a jpeg")
    gt = seq / "SYN-01" / "gt" / "gt_half-val.txt"
    lines = gt.read_text().splitlines()
    lines[2] = "9,1,10,10,oops,40,1,1,1"
    gt.write_text("\n".join(lines) + "\n")
    train = check(root, "half-train", TINY)
    assert train["missing"] == [str(seq / "SYN-01" / "img1" / "000002.jpg")]
    val = check(root, "half-val", TINY)
    reasons = dict(val["unreadable"])
    assert "cannot read the image header" in reasons[str(seq / "SYN-02" / "img1" / "000012.jpg")]
    assert f"{gt}:3:" in reasons[str(gt)]
    assert val["usable"] == 8
    with pytest.raises(UserError, match="half-train and half-val"):
        check(root, "test", TINY)
