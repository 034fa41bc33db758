"""evaluate_mot / evaluate-mot: TrackEval MotChallenge2DBox under the MOTChallenge protocol."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from reproducers.cli import main
from reproducers.common.mot.evaluate import FIELDS, evaluate_mot
from reproducers.common.mot.synthetic import write_synthetic_mot
from reproducers.harness.errors import UserError

from .helpers import write_res, write_seq

A, B, FAR = (10, 10, 20, 40), (100, 10, 20, 40), (300, 300, 20, 40)


def hand_case(gt_root, res_root, *, columns=10):
    """2 GT tracks x 4 frames. Track 10 follows GT 1; GT 2 is tracked by 20 (frames 1-2), then
    by 30 (frame 3: one ID switch), missed in frame 4 (one FN); track 40 is one FP."""
    gt = [(f, i, *box, 1, 1, 1) for i, box in ((1, A), (2, B)) for f in range(1, 5)]
    write_seq(gt_root, "S", 4, gt)
    res = [(f, 10, *A) for f in range(1, 5)] + [(1, 20, *B), (2, 20, *B), (3, 30, *B),
                                                 (4, 40, *FAR)]
    tail = (0.9, -1, -1, -1)[: columns - 6]
    write_res(res_root, "S", [r + tail for r in res])


def test_hand_computed(mot_dirs):
    gt, res = mot_dirs
    hand_case(gt, res)
    out = evaluate_mot(gt, res)
    m = out["combined"]
    assert (m["TP"], m["FP"], m["FN"], m["IDSW"], m["Frag"]) == (7, 1, 1, 1, 0)
    assert (m["MT"], m["PT"], m["ML"], m["GT_Dets"], m["GT_IDs"]) == (1, 1, 0, 8, 2)
    assert m["MOTA"] == pytest.approx(100 * (7 - 1 - 1) / 8)  # 62.5
    assert m["IDF1"] == pytest.approx(100 * 6 / (6 + 0.5 * 2 + 0.5 * 2))  # IDTP 6: 75.0
    # every match has IoU 1, so all 19 alphas agree: DetA = 7/9, AssA = (4*1 + 2*(2/4) +
    # 1*(1/4)) / 7 = 3/4, HOTA = sqrt(DetA * AssA)
    assert m["DetA"] == pytest.approx(100 * 7 / 9)
    assert m["AssA"] == pytest.approx(75.0)
    assert m["HOTA"] == pytest.approx(100 * math.sqrt(7 / 9 * 3 / 4))
    assert m["MOTP"] == pytest.approx(100.0)
    assert out["sequences"]["S"] == m
    assert set(m) == set(FIELDS)


@pytest.mark.parametrize("columns", [6, 7])
def test_short_result_lines(mot_dirs, columns):
    gt, res = mot_dirs
    hand_case(gt, res, columns=columns)
    m = evaluate_mot(gt, res)["combined"]
    assert (m["MOTA"], m["IDF1"]) == (pytest.approx(62.5), pytest.approx(75.0))


def test_distractor_removal(mot_dirs):
    gt, res = mot_dirs
    c, d = (200, 10, 20, 40), (300, 10, 20, 40)
    write_seq(gt, "S", 2, [(1, 1, *A, 1, 1, 1), (1, 2, *c, 0, 7, 1), (1, 3, *d, 0, 1, 1),
                           (2, 1, *A, 1, 1, 1)])
    # prediction on the static person (class 7): removed, not an FP
    write_res(res, "S", [(1, 5, *A, 1, -1, -1, -1), (1, 6, *c, 1, -1, -1, -1),
                         (2, 5, *A, 1, -1, -1, -1)])
    m = evaluate_mot(gt, res)["combined"]
    assert (m["TP"], m["FP"], m["FN"], m["Dets"], m["GT_Dets"]) == (2, 0, 0, 2, 2)
    assert m["MOTA"] == pytest.approx(100.0) and m["HOTA"] == pytest.approx(100.0)
    # a prediction on a conf-0 *pedestrian* is not a distractor match: it stays, as an FP
    write_res(res, "S", [(1, 5, *A, 1, -1, -1, -1), (1, 7, *d, 1, -1, -1, -1),
                         (2, 5, *A, 1, -1, -1, -1)])
    m = evaluate_mot(gt, res)["combined"]
    assert (m["TP"], m["FP"], m["FN"]) == (2, 1, 0)
    assert m["MOTA"] == pytest.approx(50.0)


def test_perfect_tracker_on_synthetic(tmp_path):
    seqs = write_synthetic_mot(tmp_path / "data", num_seqs=2, frames=12, seed=7)
    res = tmp_path / "res"
    for seq in seqs:
        rows = [ln.split(",") for ln in (seq / "gt" / "gt.txt").read_text().split()]
        # class-1 conf-1 boxes, plus the static persons (removed by preprocessing)
        keep = [r[:6] + ["1", "-1", "-1", "-1"] for r in rows if r[7] == "7" or r[6] == "1"]
        write_res(res, seq.name, [",".join(r) for r in keep])
    out = evaluate_mot(tmp_path / "data" / "train", res)
    m = out["combined"]
    assert m["MOTA"] == m["IDF1"] == m["HOTA"] == pytest.approx(100.0)
    assert m["FP"] == m["FN"] == m["IDSW"] == 0 and m["GT_Dets"] > 0
    assert list(out["sequences"]) == ["SYN-01", "SYN-02"]


def test_missing_results(mot_dirs):
    gt, res = mot_dirs
    hand_case(gt, res)
    write_seq(gt, "T", 3, [(1, 1, *A, 1, 1, 1), (2, 1, *A, 1, 1, 1)])
    with pytest.raises(UserError, match=r"T.txt: no result file for sequence T"):
        evaluate_mot(gt, res)
    out = evaluate_mot(gt, res, missing="empty")
    assert out["sequences"]["T"]["FN"] == 2 and out["combined"]["FN"] == 3
    assert evaluate_mot(gt, res, seqs=["S"])["settings"]["seqs"] == ["S"]


def test_gt_file_and_settings(mot_dirs):
    gt, res = mot_dirs
    write_seq(gt, "S", 2, [(2, 1, *A, 1, 1, 1)], gt_file="gt/gt_half-val.txt")
    write_res(res, "S", [(2, 4, *A, 1, -1, -1, -1)])
    with pytest.raises(UserError, match="gt.txt: no ground-truth file; pass --gt-file"):
        evaluate_mot(gt, res)
    out = evaluate_mot(gt, res, gt_file="gt/gt_half-val.txt")
    assert out["combined"]["MOTA"] == pytest.approx(100.0)
    s = out["settings"]
    assert s["evaluator"] == "TrackEval" and s["trackeval_version"]
    cfg = s["dataset_config"]
    assert cfg["GT_LOC_FORMAT"] == "{gt_folder}/{seq}/gt/gt_half-val.txt"
    assert (cfg["SKIP_SPLIT_FOL"], cfg["TRACKER_SUB_FOLDER"], cfg["DO_PREPROC"]) == (True, "", True)
    assert cfg["CLASSES_TO_EVAL"] == ["pedestrian"] and cfg["BENCHMARK"] == "MOT17"
    assert s["metric_configs"]["CLEAR"]["THRESHOLD"] == 0.5
    json.dumps(s)  # storable in a run record


def test_cli_json(mot_dirs, capsys):
    gt, res = mot_dirs
    hand_case(gt, res)
    assert main(["evaluate-mot", "--gt", str(gt), "--results", str(res), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"sequences", "combined", "settings"}
    assert {"MOTA", "HOTA", "IDF1", "DetA", "AssA", "MOTP", "FP", "FN", "IDSW", "Frag", "MT",
            "ML", "GT_Dets", "GT_IDs"} <= set(out["combined"])
    assert out["combined"]["MOTA"] == pytest.approx(62.5)
    assert main(["evaluate-mot", "--gt", str(gt), "--results", str(res)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["sequence", "MOTA", "IDF1", "HOTA"]
    assert table[1].split()[:3] == ["S", "62.5", "75.0"]
    assert table[2].split()[:3] == ["COMBINED", "62.5", "75.0"]


def test_cli_malformed_result(mot_dirs, capsys):
    gt, res = mot_dirs
    hand_case(gt, res)
    path = res / "S.txt"
    path.write_text("1,10,10,10,20,40,1,-1,-1,-1\n1,11,oops,10,20,40,1,-1,-1,-1\n")
    assert main(["evaluate-mot", "--gt", str(gt), "--results", str(res)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:2: column 3 (x) is 'oops'")
    assert len(err.strip().splitlines()) == 1


# --- acceptance: equal to TrackEval run directly, on data the project did not make ----------

TUD = {"TUD-Campus": 71, "TUD-Stadtmitte": 179}  # MOT15 seqLength of the two sequences


def motmetrics_data() -> Path:
    """py-motmetrics ships TUD-Campus / TUD-Stadtmitte (MOT15 gt.txt and a tracker's
    test.txt) as package data. Found through its distribution's file list, without
    importing it (motmetrics 1.4 does not import under numpy 2)."""
    try:
        dist = importlib.metadata.distribution("motmetrics")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("motmetrics is not installed (pip install motmetrics==1.4.0: its wheel "
                    "ships the TUD-Campus/TUD-Stadtmitte MOTChallenge data used here)")
    root = Path(dist.locate_file("motmetrics/data"))
    if not all((root / s / f).is_file() for s in TUD for f in ("gt.txt", "test.txt")):
        pytest.skip(f"motmetrics {dist.version} does not ship TUD data under {root}")
    return root


def trackeval_direct(gt_src: Path, res_src: Path, seqs, benchmark: str, tmp: Path) -> dict:
    """TrackEval's own Evaluator + MotChallenge2DBox, default configs, standard layout:
    gt/mot_challenge/<BENCH>-train/<seq>/..., seqmaps/<BENCH>-train.txt,
    trackers/mot_challenge/<BENCH>-train/<tracker>/data/<seq>.txt."""
    import trackeval

    gt_folder, tr_folder = tmp / "gt" / "mot_challenge", tmp / "trackers" / "mot_challenge"
    for seq in seqs:
        (gt_folder / f"{benchmark}-train" / seq / "gt").mkdir(parents=True)
        shutil.copy(gt_src / seq / "seqinfo.ini", gt_folder / f"{benchmark}-train" / seq)
        shutil.copy(gt_src / seq / "gt" / "gt.txt", gt_folder / f"{benchmark}-train" / seq / "gt")
        data = tr_folder / f"{benchmark}-train" / "mytracker" / "data"
        data.mkdir(parents=True, exist_ok=True)
        shutil.copy(res_src / f"{seq}.txt", data)
    (gt_folder / "seqmaps").mkdir()
    (gt_folder / "seqmaps" / f"{benchmark}-train.txt").write_text(
        "name\n" + "".join(f"{s}\n" for s in seqs))
    eval_cfg = trackeval.Evaluator.get_default_eval_config()
    eval_cfg.update(PLOT_CURVES=False, PRINT_RESULTS=False, PRINT_CONFIG=False,
                    TIME_PROGRESS=False, LOG_ON_ERROR=None)
    data_cfg = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    data_cfg.update(GT_FOLDER=str(gt_folder), TRACKERS_FOLDER=str(tr_folder),
                    BENCHMARK=benchmark, PRINT_CONFIG=False)
    with contextlib.redirect_stdout(io.StringIO()):
        out, _ = trackeval.Evaluator(eval_cfg).evaluate(
            [trackeval.datasets.MotChallenge2DBox(data_cfg)],
            [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
             trackeval.metrics.Identity({"PRINT_CONFIG": False})])
    return out["MotChallenge2DBox"]["mytracker"]


def test_equals_trackeval_direct_on_tud(tmp_path):
    data = motmetrics_data()
    gt, res = tmp_path / "gt", tmp_path / "res"
    for seq, length in TUD.items():
        write_seq(gt, seq, length, [])
        shutil.copy(data / seq / "gt.txt", gt / seq / "gt" / "gt.txt")
        res.mkdir(exist_ok=True)
        shutil.copy(data / seq / "test.txt", res / f"{seq}.txt")
    with pytest.raises(UserError, match="class -1 is not a MOTChallenge class"):
        evaluate_mot(gt, res)  # MOT15 ground truth needs benchmark MOT15
    ours = evaluate_mot(gt, res, benchmark="MOT15")
    direct = trackeval_direct(gt, res, list(TUD), "MOT15", tmp_path / "direct")
    for key, seq_res in (("COMBINED_SEQ", ours["combined"]),
                         *((s, ours["sequences"][s]) for s in TUD)):
        d = direct[key]["pedestrian"]
        assert seq_res["MOTA"] == 100 * float(d["CLEAR"]["MOTA"])
        assert seq_res["IDF1"] == 100 * float(d["Identity"]["IDF1"])
        assert seq_res["HOTA"] == 100 * float(np.mean(d["HOTA"]["HOTA"]))
        assert (seq_res["FP"], seq_res["FN"], seq_res["IDSW"]) == (
            d["CLEAR"]["CLR_FP"], d["CLEAR"]["CLR_FN"], d["CLEAR"]["IDSW"])
    # py-motmetrics' expected values for the same files (its test_metrics.py,
    # test_motchallenge_files; the official SVM code takes MOTA/IDF1 from py-motmetrics):
    # (MOTA, IDF1, FP, FN, IDs) per sequence and OVERALL; MOTP there is 1 - IoU
    expected = {"TUD-Campus": (0.526462, 0.557659, 13, 150, 7, 0.277201),
                "TUD-Stadtmitte": (0.564014, 0.644619, 45, 452, 7, 0.345904),
                "OVERALL": (0.555116, 0.624296, 58, 602, 14, 0.330177)}
    for name, (mota, idf1, fp, fn, ids, motp) in expected.items():
        m = ours["combined"] if name == "OVERALL" else ours["sequences"][name]
        assert m["MOTA"] == pytest.approx(100 * mota, abs=1e-3)
        assert m["IDF1"] == pytest.approx(100 * idf1, abs=1e-3)
        assert m["MOTP"] == pytest.approx(100 * (1 - motp), abs=1e-3)
        assert (m["FP"], m["FN"], m["IDSW"]) == (fp, fn, ids)
