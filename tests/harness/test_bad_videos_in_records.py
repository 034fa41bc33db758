"""Issue acceptance: a dataset with a truncated mp4 and an empty file: the data check lists
them; a smoke training run over that dataset finishes and its record counts them."""

from __future__ import annotations

import json

import pytest

from reproducers.harness import stages
from reproducers.harness.errors import UserError
from reproducers.harness.portable import Roots
from reproducers.harness.stages import RunOptions
from tests.harness import fake_video_paper


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("k400")
    rep = fake_video_paper.make()
    rep.dataset.synthesize(root, rep.smoke_data, seed=0)
    train_dir = root / "train"
    good = sorted(train_dir.glob("*.mp4"))
    data = good[0].read_bytes()
    good[0].write_bytes(data[: len(data) // 2])  # truncated
    good[1].write_bytes(b"")  # empty
    return root, sorted([str(good[0]), str(good[1])])


def test_check_lists_truncated_and_empty(broken_root):
    root, bad = broken_root
    rep = fake_video_paper.make()
    result = rep.dataset.check(root, "train", rep.data_config)
    assert result["total"] == 8 and result["usable"] == 6
    assert sorted(p for p, _ in result["unreadable"]) == bad


def test_smoke_training_survives_and_record_counts_bad_videos(broken_root, tmp_path):
    root, bad = broken_root
    rep = fake_video_paper.make()
    opts = RunOptions(smoke=True, data_root=root, output_dir=tmp_path / "runs",
                      records_dir=tmp_path / "records", progress=False, log=lambda m: None)
    stages.train(rep, opts)
    rec = json.loads((tmp_path / "records" / rep.name / "train.smoke.json").read_text())
    assert rec["status"] == "ok" and rec["result"]["steps"] == 2 * 2  # 8 clips / batch 4
    summary = rec["result"]["bad_samples"]["train"]
    assert summary["bad"] == 2 and summary["total"] == 8
    stored = [s["path"] for s in summary["samples"]]  # relative to --data-root (portable.py)
    assert all(p.startswith("$DATA_ROOT/train/") for p in stored)
    assert sorted(str(Roots.of(opts).resolve(p)) for p in stored) == bad


def test_too_many_bad_videos_stop_the_run_with_a_clear_error(broken_root, tmp_path):
    root, _ = broken_root
    rep = fake_video_paper.make(max_bad_fraction=0.1)  # 2 of 8 = 25% > 10%
    opts = RunOptions(smoke=True, data_root=root, output_dir=tmp_path / "runs",
                      records_dir=tmp_path / "records", progress=False, log=lambda m: None)
    with pytest.raises(UserError, match="unreadable"):
        stages.train(rep, opts)
    # no record claims success, no checkpoint was written
    assert not (tmp_path / "records" / rep.name / "train.smoke.json").exists()
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.pt"))
