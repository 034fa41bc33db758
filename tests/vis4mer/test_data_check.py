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


def _synthesized(tmp_path):
    rep = get("vis4mer_breakfast")
    root = tmp_path / "data"
    rep.dataset.synthesize(root, dict(rep.smoke_data), seed=0)
    feats = root / "breakfast" / "video_swin_features" / "temporal_mean_pooling"
    train_ids = [line.split(",")[0] for line in
                 (root / "breakfast" / "train.csv").read_text().splitlines()[1:]]
    return root, [feats / f"{v}.npy" for v in train_ids]


def test_data_check_reports_nan_values(tmp_path):
    root, train_files = _synthesized(tmp_path)
    nan_file = train_files[5]
    arr = np.load(nan_file)
    arr[arr.shape[0] - 1, 3, 7] = np.nan  # in the last chunk: the whole file is read
    np.save(nan_file, arr)
    proc = subprocess.run(
        [sys.executable, "-m", "reproducers", "data", "check", "vis4mer_breakfast",
         "--data-root", str(root), "--smoke", "--json", "--split", "train"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    train = json.loads(proc.stdout)["splits"]["train"]
    assert train["usable"] == train["total"] - 1
    [(path, why)] = train["unreadable"]
    assert path == str(nan_file)
    assert f"holds NaN/inf values (first at row {arr.shape[0] - 1})" in why


def test_corrupt_feature_file_is_skipped_and_counted_with_allow_missing(tmp_path):
    root, train_files = _synthesized(tmp_path)
    corrupt = train_files[2]
    corrupt.write_bytes(b"\x93NUMPY garbage")
    cmd = [sys.executable, "-m", "reproducers", "run", "vis4mer_breakfast", "--smoke",
           "--data-root", str(root), "--stages", "train", "--set", "epochs=1",
           "--records-dir", str(tmp_path / "records"), "--output-dir", str(tmp_path / "runs"),
           "--no-progress", "--json"]
    stopped = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 2
    [line] = stopped.stderr.strip().splitlines()
    assert str(corrupt) in line and "data.allow_missing=true" in line
    ran = subprocess.run([*cmd, "--set", "data.allow_missing=true"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    rec = json.loads((tmp_path / "records" / "vis4mer_breakfast" / "train.smoke.json")
                     .read_text())
    bad = rec["result"]["bad_samples"]["train"]
    assert bad["bad"] == 1 and bad["total"] == 120  # 123 listed, 3 dropped as official
    # stored relative to --data-root, so the record travels (harness/portable.py)
    assert bad["samples"][0]["path"] == f"$DATA_ROOT/{corrupt.relative_to(root).as_posix()}"
    fingerprint = rec["provenance"]["dataset_fingerprint"]["train"]
    assert fingerprint["found"] == 119 and fingerprint["n_unreadable"] == 1
