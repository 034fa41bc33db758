"""svm_mot17 through the harness on tiny synthetic MOT17-format data: training (per-frame
steps, per-epoch tracking validation, the memory options), evaluation with MOT result files
and TrackEval, the released-checkpoint format, and bad checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from reproducers.cli import main
from reproducers.common.mot.motchallenge import read_results
from reproducers.harness import predictions, stages
from reproducers.harness.stages import RunOptions
from reproducers.svm import SVM_MOT17, build_svm
from reproducers.svm.task import to_mot_rows

TINY = {"data.num_seqs": 2, "data.frames": 24, "data.num_pedestrians": 3, "epochs": 1,
        "batch_size": 4, "eval_every": 1, "select": "best"}


def _opts(tmp_path, **overrides) -> RunOptions:
    return RunOptions(smoke=True, output_dir=tmp_path / "runs", records_dir=tmp_path / "rec",
                      progress=False, log=lambda _m: None, overrides={**TINY, **overrides})


@pytest.mark.parametrize("memory", ["released", "intended"])
def test_train_then_track(tmp_path, memory):
    opts = _opts(tmp_path, **{"model.train_memory": memory})
    rec = stages.train(SVM_MOT17, opts)
    assert rec["status"] == "ok", rec.get("error")
    res = rec["result"]
    # 2 sequences x 13 half-train frames = 26 clips -> 6 batches of 4 -> 12 frame steps
    assert res["frame_steps"] == 12 and res["schedule"] == {"total": 12, "warmup": 12, "last": 6}
    assert res["train_memory"] == memory
    assert {"mota", "hota", "idf1"} <= set(res["history"][-1])  # per-epoch validation (memory 2)
    ev = stages.evaluate(SVM_MOT17, opts)["result"]
    assert set(ev["metrics"]) == {"mota", "hota", "idf1", "fp", "fn", "idsw"}
    assert ev["eval_size"] == 22 and ev["memory_length"] == 8  # frames 14..24 of 2 sequences
    assert ev["trackeval_settings"]["protocol"]
    assert set(ev["per_sequence"]) == {"SYN-01", "SYN-02"}
    # per-sequence TrackEval fields beside the record recompute the combined metrics
    rec = json.loads((tmp_path / "rec" / "svm_mot17" / "evaluate.smoke.json").read_text())
    pred = predictions.load_for(tmp_path / "rec", rec)
    assert pred.kind == "trackeval" and pred.ids == ["SYN-01", "SYN-02"]
    for name in ("mota", "hota", "idf1", "idsw"):
        assert pred.metric(name) == pytest.approx(ev["metrics"][name])
    for seq in ("SYN-01", "SYN-02"):  # MOTChallenge result files, MOT frame numbers
        rows = read_results(tmp_path / "runs" / "svm_mot17-smoke" / "results" / "test" /
                            f"{seq}.txt", seq_length=24)
        assert rows.size == 0 or rows[:, 0].min() >= 14


def test_mot_rows_use_mot_frame_numbers_and_widths():
    rows = torch.tensor([[0, 3, 10, 20, 40, 80, 0.9], [2, 3, 12, 20, 42, 80, 1.0]]).numpy()
    out = to_mot_rows(rows, first_frame=302)
    assert out[:, 0].tolist() == [302, 304]
    assert out[0, 2:6].tolist() == [10, 20, 30, 60]


def test_eval_only_with_an_official_format_checkpoint(tmp_path, capsys):
    """mmcv's {meta, state_dict} with the EMA hook's ema_* buffers loads; they are dropped."""
    from reproducers.svm import SMOKE_MODEL

    state = build_svm(**SMOKE_MODEL).state_dict()
    n = len(state)
    state.update({"ema_" + k.replace(".", "_"): v.clone() for k, v in list(state.items())})
    ckpt = tmp_path / "svm_mot17-half-val.pth"
    torch.save({"meta": {"mmcv_version": "1.7.0", "CLASSES": ("pedestrian",), "epoch": 10,
                         "config": "model = dict(type='ByteTrack')"}, "state_dict": state}, ckpt)
    code = main(["run", "svm_mot17", "--smoke", "--eval-only", "--checkpoint", str(ckpt),
                 "--stages", "evaluate", "--records-dir", str(tmp_path / "rec"),
                 "--output-dir", str(tmp_path / "runs"), "--no-progress",
                 "--set", "data.num_seqs=1", "--set", "data.frames=12", "--device", "cpu"])
    assert code == 0
    rec = json.loads((tmp_path / "rec" / "svm_mot17" / "evaluate.smoke.json").read_text())
    assert rec["status"] == "ok"
    assert f"dropped {n} ExpMomentumEMAHook buffers" in rec["result"]["weights"]["notes"][0]
    assert rec["result"]["eval_size"] == 5  # frames 8..12 of one 12-frame sequence


def test_checkpoint_of_another_architecture_is_a_one_line_error(tmp_path, capsys):
    ckpt = tmp_path / "other.pt"
    torch.save({"detector.backbone.conv1.weight": torch.zeros(3)}, ckpt)
    code = main(["run", "svm_mot17", "--smoke", "--eval-only", "--checkpoint", str(ckpt),
                 "--stages", "evaluate", "--records-dir", str(tmp_path / "rec"),
                 "--output-dir", str(tmp_path / "runs"), "--no-progress",
                 "--set", "data.num_seqs=1", "--set", "data.frames=12"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "does not fit the model" in err[0]
    assert not (tmp_path / "rec" / "svm_mot17" / "evaluate.smoke.json").exists()
