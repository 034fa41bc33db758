"""`python -m reproducers selftest`: the CPU run lists every item with figures, all ok; a
failing item is recorded and the run goes on; the report shows the latest record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reproducers.harness import selftest
from reproducers.harness.registry import discover

ROOT = Path(__file__).resolve().parents[2]


def _expected_items() -> list[str]:
    models = selftest.distinct_models(list(discover().values()))
    names = ["cauchy"]
    for rep in models:
        label = f"{rep.paper.key}/{rep.model.name}"
        names += [f"train:{label}", f"eval:{label}"]
    for rep in models:
        names += list(selftest._hooks(rep).checks)
    return names + ["compile", "distributed"]


@pytest.mark.slow  # 15 s warm, 35 s-2 min cold (the first torch.compile builds C++ code)
def test_cpu_selftest_lists_every_item_ok(tmp_path):
    out = tmp_path / "selftest.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "reproducers", "selftest", "--device", "cpu", "--json",
         "--out", str(out), "--records-dir", str(tmp_path / "records"), "--threads", "1"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary == json.loads(out.read_text())
    assert summary["smoke"] is True and summary["device"] == "cpu"
    assert summary["threads"]["threads"] == 1 and summary["threads"]["source"] == "--threads"
    items = {it["name"]: it for it in summary["items"]}
    assert list(items) == _expected_items()
    for name, it in items.items():
        assert it["status"] == "ok", f"{name}: {it['error']}"
        assert it["error"] is None and it["seconds"] > 0 and it["figures"], name
    for name, it in items.items():
        if name.startswith(("train:", "eval:")):
            assert it["figures"]["clips_per_s"] > 0, name
    cauchy = items["cauchy"]["figures"]
    assert cauchy["torch_vs_dense_max_abs_diff"] < 1e-5 * cauchy["max_abs_dense"]
    assert items["train:svm/svm"]["figures"]["optimizer_steps"] == 2  # one per frame
    assert items["train:svit/svit"]["figures"]["backward_passes"] == 2  # video + image
    dist = items["distributed"]["figures"]
    assert (dist["world_size"], dist["backend"]) == (2, "gloo")
    assert dist["params_equal_on_ranks"] and dist["eval_max_abs_diff_vs_one_process"] == 0.0
    assert items["compile"]["figures"]["max_abs_diff"] < 1e-4
    record = json.loads((tmp_path / "records" / "selftest" / "cpu.json").read_text())
    assert record["items"] == summary["items"] and record["provenance"]["git"]


def _summary(monkeypatch, items, **kw) -> dict:
    monkeypatch.setattr(selftest, "plan", lambda device, smoke, log: items)
    return selftest.run_selftest("cpu", log=lambda _m: None, **kw)


def test_failing_item_is_recorded_and_the_run_goes_on(monkeypatch):
    def boom():
        raise RuntimeError("NCCL error in: ProcessGroupNCCL.cpp, invalid usage\n"
                           "ncclInvalidUsage: This usually reflects invalid usage.\n"
                           "Last error:\nDuplicate GPU detected : rank 1 and rank 0 both on "
                           "CUDA device 1000")

    summary = _summary(monkeypatch, [("a", boom), ("b", lambda: {"x": 1.0})])
    a, b = summary["items"]
    assert a["status"] == "failed" and "\n" not in a["error"]
    assert a["error"].startswith("RuntimeError: NCCL error in") and "Duplicate GPU" in a["error"]
    assert b == {"name": "b", "status": "ok", "seconds": b["seconds"], "figures": {"x": 1.0},
                 "error": None}
    assert summary["status"] == "failed" and summary["counts"] == {"ok": 1, "failed": 1,
                                                                   "skipped": 0}


def test_items_past_the_budget_are_skipped(monkeypatch):
    summary = _summary(monkeypatch, [("a", lambda: {"x": 1})], budget_s=-1)
    assert summary["items"][0]["status"] == "skipped" and "budget" in summary["items"][0]["error"]
    assert summary["status"] == "failed"


def test_only_keeps_named_items(monkeypatch):
    summary = _summary(monkeypatch, [("train:a/b", lambda: {}), ("eval:a/b", lambda: {}),
                                     ("compile", lambda: {})], only=["train:", "compile"])
    assert [it["name"] for it in summary["items"]] == ["train:a/b", "compile"]


def test_last_error_finds_the_worker_error():
    log = ("[rank1]: Traceback (most recent call last):\n"
           '[rank1]:   File "x.py", line 3, in <module>\n'
           "[rank1]: ValueError: the model returned no floating tensor\n"
           "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n")
    assert selftest._last_error(log) == ("[rank1]: ValueError: the model returned no floating "
                                         "tensor")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    from reproducers.cli import main

    assert main(["selftest", "--device", "cuda", "--records-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "selftest").exists()


def test_report_shows_the_selftest_record(tmp_path):
    from reproducers.harness.report import render

    summary = {"device": "cuda:0", "device_name": "NVIDIA H200", "smoke": False,
               "torch": "2.11.0", "cuda": "13.0", "gpu_memory_gib": 139.8, "threads": {},
               "budget_s": 480.0, "wall_time_s": 301.5, "status": "failed",
               "counts": {"ok": 1, "failed": 1, "skipped": 0},
               "items": [{"name": "train:p/m", "status": "ok", "seconds": 3.2, "error": None,
                          "figures": {"clips_per_s": 41.5, "peak_memory_gib": 23.4,
                                      "amp": "fp16", "grad_scaler": True, "batch": 9}},
                         {"name": "distributed", "status": "failed", "seconds": 9.0,
                          "figures": {}, "error": "RuntimeError: Duplicate GPU | detected"}]}
    selftest.write_selftest_record(tmp_path / "records", summary)
    text = render([], tmp_path / "records", tmp_path / "results.md").read_text()
    assert "on **NVIDIA H200** (139.8 GiB), full size, torch 2.11.0 (CUDA 13.0)" in text
    assert "| train:p/m | ok | 3.2 s | 41.5 clips/s, peak 23.4 GiB, fp16 + GradScaler, batch 9 |" \
        in text
    assert "| distributed | failed | 9.0 s | RuntimeError: Duplicate GPU / detected |" in text
    assert "Device self-test" not in render([], tmp_path / "none", tmp_path / "r2.md").read_text()


def test_fp16_step_with_grad_scaler_and_clipping(monkeypatch):
    """The CUDA training path (fp16 autocast, GradScaler with the paper's initial scale,
    unscale + clipping, per-frame steps) run on the CPU at smoke size."""
    monkeypatch.setattr(selftest, "amp_for", lambda recipe, device: "fp16")
    reps = discover()
    svm = selftest.train_item(reps["svm_mot17"], "cpu", True, print)
    assert svm["amp"] == "fp16" and svm["grad_scaler"] and svm["optimizer_steps"] == 2
    assert svm["grad_scale"] <= 512.0 and 0 <= svm["steps_skipped_by_scaler"] <= 2
    svit = selftest.train_item(reps["svit_ssv2"], "cpu", True, print)
    assert svit["grad_clip"] == 1.0 and svit["backward_passes"] == 2


def test_each_finished_item_is_reported_before_the_end(monkeypatch):
    seen = []
    summary = _summary(monkeypatch, [("a", lambda: {"x": 1}), ("b", lambda: {"y": 2})],
                       on_item=lambda s: seen.append((s["status"], [i["name"] for i in s["items"]])))
    assert seen == [("running", ["a"]), ("running", ["a", "b"])]
    assert summary["status"] == "ok"


def test_a_failed_item_can_keep_its_figures(monkeypatch):
    def nccl_refused():
        raise selftest.ItemFailed("torchrun exit 1: Duplicate GPU detected",
                                  {"gloo_on_cuda": {"world_size": 2}})

    item = _summary(monkeypatch, [("distributed", nccl_refused)])["items"][0]
    assert item["status"] == "failed" and item["error"].endswith("Duplicate GPU detected")
    assert item["figures"] == {"gloo_on_cuda": {"world_size": 2}}
