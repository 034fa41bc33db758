"""MOTChallenge text formats: seqinfo.ini, gt/result parsing with file:line errors, writer."""

from __future__ import annotations

import numpy as np
import pytest

from reproducers.common.mot.motchallenge import (
    SeqInfo,
    format_results,
    parse_mot_file,
    read_gt,
    read_results,
    read_seqinfo,
    write_results,
)
from reproducers.harness.errors import UserError

GOOD_GT = ["1,1,10,20,30,40,1,1,1", "1,2,50,20,30,40,0,7,0.5", "2,1,12,20,30,40,1,1,0.8"]


def test_read_seqinfo(tmp_path):
    p = tmp_path / "S" / "seqinfo.ini"
    p.parent.mkdir()
    p.write_text("[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\nframeRate=30\nseqLength=600\n"
                 "imWidth=1920\nimHeight=1080\nimExt=.jpg\n")
    info = read_seqinfo(p)
    assert info == SeqInfo("MOT17-02-FRCNN", 600, "img1", 30, 1920, 1080, ".jpg")
    assert read_seqinfo(p).to_ini() == p.read_text()
    p.write_text("[Sequence]\nSEQLENGTH = 7\n")  # configparser: keys are case-insensitive
    assert read_seqinfo(p) == SeqInfo("S", 7)


@pytest.mark.parametrize("text, match", [
    ("[Sequence]\nname=A\n", "has no seqLength"),
    ("[Sequence]\nseqLength=ten\n", "not an integer"),
    ("[Sequence]\nseqLength=0\n", "must be positive"),
    ("name=A\nseqLength=3\n", "not a valid ini file"),
    ("[Other]\nseqLength=3\n", "no \\[Sequence\\] section"),
])
def test_read_seqinfo_errors(tmp_path, text, match):
    p = tmp_path / "seqinfo.ini"
    p.write_text(text)
    with pytest.raises(UserError, match=match) as exc:
        read_seqinfo(p)
    assert str(p) in str(exc.value)


def test_read_gt_and_results(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("\n".join(GOOD_GT) + "\n")
    rows = read_gt(gt, seq_length=2)
    assert rows.shape == (3, 9)
    np.testing.assert_array_equal(rows[1], [1, 2, 50, 20, 30, 40, 0, 7, 0.5])
    res = tmp_path / "res.txt"
    # 6, 7 and 10 columns; CRLF, spaces after commas, a trailing comma, blank lines, ids as floats
    res.write_text("1, 3, 1.5, 2, 3, 4\r\n\r\n2,3.0,1,2,3,4\r\n")
    np.testing.assert_array_equal(read_results(res), [[1, 3, 1.5, 2, 3, 4, -1],
                                                      [2, 3, 1, 2, 3, 4, -1]])
    res.write_text("1,3,1,2,3,4,0.9\n")
    np.testing.assert_array_equal(read_results(res), [[1, 3, 1, 2, 3, 4, 0.9]])
    res.write_text("1,3,1,2,3,4,0.9,-1,-1,-1,\n")
    assert read_results(res).shape == (1, 7)
    res.write_text("1 3 1 2 3 4 0.9 -1 -1 -1\n")  # whitespace-separated
    table = parse_mot_file(res, "results")
    assert table.normalized_text() == "1,3,1,2,3,4,0.9,-1,-1,-1\n"
    res.write_text("")
    assert read_results(res).shape == (0, 7)


@pytest.mark.parametrize("kind, lines, line, match", [
    ("results", ["1,1,1,2,3,4,1", "1,2,3,4"], 2, "expected 6 to 10 comma-separated columns"),
    ("results", ["1,1,1,2,3,4,1", "", "2,1,1,2,3,4,1,-1"], 3, "8 columns, but line 1 has 7"),
    ("results", ["1,1,1,2,3,4,1", "2,1,abc,2,3,4,1"], 2, "column 3 \\(x\\) is 'abc'"),
    ("results", ["1,1,1,2,3,4,nan"], 1, "column 7 \\(score\\) is 'nan'"),
    ("results", ["0,1,1,2,3,4,1"], 1, "frame 0 < 1"),
    ("results", ["1,1,1,2,3,4,1", "6,1,1,2,3,4,1"], 2, "frame 6 > seqLength 5"),
    ("results", ["1.5,1,1,2,3,4,1"], 1, "frame 1.5 is not an integer"),
    ("results", ["1,1.5,1,2,3,4,1"], 1, "id 1.5 is not an integer"),
    ("results", ["1,-1,1,2,3,4,1"], 1, "id -1 is negative"),
    ("results", ["1,1,1,2,-3,4,1"], 1, "negative width -3"),
    ("results", ["1,1,1,2,3,-4,1"], 1, "negative height -4"),
    ("results", ["1,1,1,2,3,4,1,2,-1,-1"], 1, "column 8 \\(class\\) is 2"),
    ("results", ["1,1,1,2,3,4,1", "2,1,1,2,3,4,1", "1,1,5,5,3,4,1"], 3,
     "id 1 appears twice in frame 1 \\(also line 1\\)"),
    ("gt", ["1,1,1,2,3,4,1"], 1, "expected 8 to 10 comma-separated columns"),
    ("gt", ["1,1,1,2,3,4,1,14,1"], 1, "class 14 is not a MOTChallenge class"),
    ("gt", ["1,1,1,2,3,4,1,-1,-1,-1"], 1, "--benchmark MOT15"),
])
def test_parse_errors_name_file_and_line(tmp_path, kind, lines, line, match):
    path = tmp_path / "seq.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=match) as exc:
        parse_mot_file(path, kind, seq_length=5)
    assert str(exc.value).startswith(f"{path}:{line}: ")


def test_mot15_gt_skips_class_checks(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,88,99,61.08,218.56,1,4.4852,5.5016,0\n")
    assert read_gt(path, check_classes=False).shape == (1, 9)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such tracker result file"):
        read_results(tmp_path / "nope.txt")


def test_write_results_round_trip(tmp_path):
    rows = np.array([[3, 7, 10.12345, 20.5, 30.25, 40.0, 0.87654],
                     [1, 2, 1.0, 2.0, 3.0, 4.0, 0.5],
                     [1, 5, 100.0, 200.0, 10.0, 20.0, 1.0]])
    path = write_results(tmp_path / "out" / "SEQ.txt", rows)
    text = path.read_text().splitlines()
    # official format: frame,id,x,y,w,h,score,-1,-1,-1 with three decimals, ordered by frame
    assert text == ["1,2,1.000,2.000,3.000,4.000,0.500,-1,-1,-1",
                    "1,5,100.000,200.000,10.000,20.000,1.000,-1,-1,-1",
                    "3,7,10.123,20.500,30.250,40.000,0.877,-1,-1,-1"]
    back = read_results(path, seq_length=3)
    np.testing.assert_allclose(back, np.round(rows[[1, 2, 0]], 3))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["SEQ.txt"]  # no temp file left
    assert format_results(np.zeros((0, 7))) == ""
    with pytest.raises(ValueError, match="frame,id,x,y,w,h,score"):
        format_results(np.zeros((2, 6)))
