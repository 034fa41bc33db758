"""Per-sequence TrackEval predictions combine exactly as TrackEval's COMBINED_SEQ."""

from __future__ import annotations

import pytest

from reproducers.common.mot.evaluate import combine, evaluate_mot
from reproducers.harness import predictions as P

from .helpers import write_res
from .test_evaluate import hand_case


def test_combine_equals_trackeval_combined(mot_dirs, tmp_path):
    gt, res = mot_dirs
    hand_case(gt, res)
    hand_case(gt / "second", res / "second")  # a copy named T with one more missed frame
    (gt / "second" / "S").rename(gt / "T")
    lines = (res / "second" / "S.txt").read_text().splitlines()
    write_res(res, "T", lines[1:])
    out = evaluate_mot(gt, res, seqs=["S", "T"], predictions=True)
    pred = out["predictions"]
    assert pred.kind == "trackeval" and pred.ids == ["S", "T"]
    assert combine(pred.arrays, [0, 1]) == pytest.approx(out["combined"])
    assert combine(pred.arrays, [1]) == pytest.approx(out["sequences"]["T"])
    for name in ("mota", "hota", "idf1", "idsw"):
        assert pred.metric(name) == pytest.approx(out["combined"][name.upper()])
    # the file round-trips; a bootstrap repeat counts a sequence twice (counts double)
    P.save(tmp_path / "p.npz", pred)
    back = P.load(tmp_path / "p.npz")
    assert back.metric("hota") == pytest.approx(out["combined"]["HOTA"])
    twice = combine(back.arrays, [1, 1])
    assert twice["GT_Dets"] == 2 * out["sequences"]["T"]["GT_Dets"]
    assert twice["MOTA"] == pytest.approx(out["sequences"]["T"]["MOTA"])
    assert "predictions" not in evaluate_mot(gt, res, seqs=["S"])  # the CLI's JSON stays plain
