"""The svm extra is optional (issue 13): without mmcv / mmdet / mmengine / OpenCV, every other
paper and list / check / report / profile work, and an SVM run is one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reproducers.harness.errors import UserError
from reproducers.svm import extra
from tests.conftest import REPO_ROOT

BLOCKED = ("mmcv", "mmdet", "mmengine", "cv2")

# runs the CLI once per argv with the extra's modules made unimportable; prints one JSON line
# per command with its exit code and stderr
DRIVER = """
import contextlib, io, json, sys
for name in {blocked!r}:
    sys.modules[name] = None
from reproducers.cli import main
for argv in {commands!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    loaded = sorted(m for m in {blocked!r} if sys.modules.get(m) is not None)
    print("RESULT " + json.dumps({{"argv": argv, "rc": rc, "stderr": err.getvalue(),
                                   "loaded": loaded}}), flush=True)
"""


def run_blocked(commands: list[list[str]]) -> list[dict]:
    code = DRIVER.format(blocked=BLOCKED, commands=commands)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600, env={**_env(), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
            if line.startswith("RESULT ")]


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


@pytest.mark.slow
def test_everything_but_svm_works_without_the_extra(tmp_path):
    rec, runs = str(tmp_path / "records"), str(tmp_path / "runs")
    results = run_blocked([
        ["list", "--json"],
        ["check", "--records-dir", rec],
        ["profile", "vis4mer_breakfast", "--smoke", "--records-dir", rec, "--output-dir", runs],
        ["report", "--records-dir", rec, "--out", str(tmp_path / "results.md")],
        ["run", "svm_mot17", "--smoke", "--records-dir", rec, "--output-dir", runs,
         "--report", str(tmp_path / "results2.md")],
        ["profile", "svm_mot17", "--smoke", "--records-dir", rec, "--output-dir", runs],
    ])
    assert [r["rc"] for r in results] == [0, 0, 0, 0, 2, 2], results
    assert (tmp_path / "records" / "vis4mer_breakfast" / "profile.smoke.json").is_file()
    assert (tmp_path / "results.md").is_file()
    for svm in results[4:]:
        lines = svm["stderr"].strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("error: svm needs the optional 'svm' extra")
        assert "nox -s reproduce -- svm_mot17" in lines[0]
    assert all(r["loaded"] == [] for r in results)
    # nothing of svm_mot17 written: no synthetic data, no record (the run folder may hold the
    # run lock taken before the data is written, harness/runlock.py)
    run_folder = tmp_path / "runs" / "svm_mot17-smoke"
    assert not run_folder.exists() or [p.name for p in run_folder.iterdir()] == [".lock"]
    # only the failure records the harness keeps beside a stage that stopped (issue 11)
    records = tmp_path / "records" / "svm_mot17"
    assert not records.exists() or all(p.name.endswith(".failed.json")
                                       for p in records.iterdir())


def test_require_is_one_line_naming_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmdet", None)
    extra.require.cache_clear()
    try:
        with pytest.raises(UserError) as err:
            extra.require()
    finally:
        extra.require.cache_clear()
    msg = str(err.value)
    assert "\n" not in msg and "mmdet" in msg and "nox -s reproduce -- svm_mot17" in msg
    assert err.value.exit_code == 2


def test_lazy_module_imports_on_first_use_and_reports_missing(monkeypatch):
    lazy = extra.LazyModule("json")
    assert lazy.dumps([1]) == "[1]"
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(UserError, match="cannot import cv2"):
        _ = extra.LazyModule("cv2").resize
