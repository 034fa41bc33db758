"""The CLI's user-facing errors: one line, names the flag/file, non-zero exit, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reproducers.harness.provenance import REPO_ROOT


def cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "reproducers", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_list_json_lists_vis4mer_reproductions():
    proc = cli("list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = {d["name"]: d for d in json.loads(proc.stdout)}
    vis = sorted(n for n in data if n.startswith("vis4mer_") and not n.endswith("_timeblind"))
    assert len(vis) == 11
    assert data["vis4mer_breakfast_timeblind"]["expected"] == []  # the claim's ablation
    assert "vit_features_spatial" in data["vis4mer_lvu_scene"]["data_layout"]
    assert data["vis4mer_lvu_scene"]["expected_samples"] == {"train": 557, "val": 120, "test": 86}
    for name in vis:
        paper_rows = [e for e in data[name]["expected"] if e["kind"] == "paper"]
        assert paper_rows and all(e["source"] for e in paper_rows)


def test_unknown_reproduction():
    proc = cli("run", "vis4mer_breakfst", "--smoke")
    assert_one_line_error(proc, "unknown reproduction 'vis4mer_breakfst'", "vis4mer_breakfast")


def test_missing_data_root(tmp_path):
    proc = cli("run", "vis4mer_breakfast", "--data-root", tmp_path / "nowhere",
               "--records-dir", tmp_path / "records")
    assert_one_line_error(proc, "--data-root", str(tmp_path / "nowhere"))
    assert not (tmp_path / "records").exists()  # failed before any stage wrote a record


def test_real_run_without_data_root(tmp_path):
    proc = cli("run", "vis4mer_coin", "--records-dir", tmp_path / "records", "--stages", "train")
    assert_one_line_error(proc, "--data-root is required", "--smoke")


def test_malformed_split_file(tmp_path):
    from reproducers.harness.registry import get

    rep = get("vis4mer_breakfast")
    root = tmp_path / "data"
    rep.dataset.synthesize(root, dict(rep.smoke_data), seed=0)
    split = next(p for p in root.rglob("train.csv"))
    lines = split.read_text().splitlines()
    lines[3] = "this line has no commas"
    split.write_text("\n".join(lines) + "\n")
    proc = cli("run", "vis4mer_breakfast", "--smoke", "--data-root", root,
               "--records-dir", tmp_path / "records", "--stages", "train")
    assert_one_line_error(proc, str(split))


def test_eval_only_needs_checkpoint(tmp_path):
    proc = cli("run", "vis4mer_breakfast", "--smoke", "--eval-only",
               "--records-dir", tmp_path / "records")
    assert_one_line_error(proc, "--checkpoint")


@pytest.mark.parametrize("command", ["list", "check", "report", "profile", "run", "prepare"])
def test_every_subcommand_has_json(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0
    assert "--json" in proc.stdout
