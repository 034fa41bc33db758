"""`python -m reproducers data check` on a ViS4mer dataset with a missing, an empty and a
truncated feature file: all three are listed, the usable share is exact, exit code 1."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from reproducers.harness.provenance import REPO_ROOT
from reproducers.harness.registry import get


def test_data_check_lists_missing_and_unreadable(tmp_path):
    rep = get("vis4mer_breakfast")
    rep.dataset.synthesize(tmp_path, dict(rep.smoke_data), seed=0)
    feats = tmp_path / "breakfast" / "video_swin_features" / "temporal_mean_pooling"
    files = sorted(feats.glob("*.npy"))
    train_ids = {line.split(",")[0] for line in
                 (tmp_path / "breakfast" / "train.csv").read_text().splitlines()[1:]}
    train_files = [f for f in files if f.stem in train_ids]
    missing, empty, truncated = train_files[:3]
    missing.unlink()
    empty.write_bytes(b"")
    arr = np.load(truncated)
    np.save(truncated, arr)
    truncated.write_bytes(truncated.read_bytes()[: 128 + arr.nbytes // 2])  # header + half
    proc = subprocess.run(
        [sys.executable, "-m", "reproducers", "data", "check", "vis4mer_breakfast",
         "--data-root", str(tmp_path), "--smoke", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    train = json.loads(proc.stdout)["splits"]["train"]
    assert train["total"] == 120 and train["usable"] == 117
    assert train["usable_share"] == 117 / 120
    assert train["missing"] == [str(missing)]
    assert sorted(p for p, _ in train["unreadable"]) == sorted([str(empty), str(truncated)])
    test = json.loads(proc.stdout)["splits"]["test"]
    assert test["usable"] == test["total"] == 60 and not test["missing"]
