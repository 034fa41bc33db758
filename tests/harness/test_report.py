"""Golden-report test: fixed records render to fixed bytes (markdown and PNG)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reproducers.harness.declarations import ExpectedRow
from reproducers.harness.report import PLOT_NAME, render
from tests.harness import fake_paper

GOLDEN = Path(__file__).parent / "data" / "results_golden.md"

PROVENANCE = {
    "git": {"sha": "0123456789abcdef0123", "dirty": False},
    "packages": {"torch": "2.13.0"},
    "device": {"device": "cpu", "name": "Test CPU"},
    "command": "python -m reproducers run fake_toy --smoke",
    "config_hash": "abc",
    "dataset_fingerprint": {"test": {"found": 32, "expected": 32, "id_hash": "f" * 64}},
    "seed": 3,
}


def write_records(records: Path) -> None:
    def put(name, stage, smoke, result, status="ok", error=None):
        rec = {"schema": 1, "reproduction": name, "stage": stage, "smoke": smoke,
               "status": status, "started_at": "2026-11-21T00:00:00Z", "wall_time_s": 12.5,
               "provenance": PROVENANCE, "result": result}
        if error:
            rec["error"] = error
        path = records / name / f"{stage}{'.smoke' if smoke else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))

    prof = {"params": 10, "params_trainable": 10, "gmacs_per_view": 1.5, "views": 3,
            "gmacs_x_views": 4.5, "flops": {"agrees": False, "disagreement": 0.031, "notes": []},
            "throughput": {"clips_per_s": 123.456, "device_name": "Test CPU", "dtype": "float32",
                           "batch_size": 1}}
    put("fake_toy", "profile", False, prof)
    put("fake_toy", "evaluate", False, {"metrics": {"acc@1": 97.5, "acc@5": 99.4}, "eval_size": 400})
    put("fake_toy", "evaluate", True, {"metrics": {"acc@1": 91.0}, "eval_size": 32})
    put("fake_toy", "train", True, {"checkpoint": "x.pt"})
    put("fake_lower", "evaluate", False, None, status="failed", error="RuntimeError: boom")


def reps():
    a = fake_paper.make("fake_toy", expected=[
        ExpectedRow("fake_toy", "acc@1", 99.0, "higher", None, "paper", "Fake Table 1"),
        ExpectedRow("fake_toy", "acc@5", 99.5, "higher", 0.3, "derived", "Fake Table 1"),
        ExpectedRow("fake_toy", "acc@1", 80.0, "higher", 0.0, "smoke", "toy sign task"),
    ])
    b = fake_paper.make("fake_lower", expected=[
        ExpectedRow("fake_lower", "mse", 0.26, "lower", 0.03, "paper", "Fake Table 2"),
    ])
    c = fake_paper.make("fake_unrun", expected=[
        ExpectedRow("fake_unrun", "acc@1", 50.0, "higher", None, "paper", "Fake Table 3"),
    ])
    return [a, b, c]


def test_report_matches_golden_and_is_deterministic(tmp_path):
    records = tmp_path / "records"
    write_records(records)
    out1 = render(reps(), records, tmp_path / "a" / "results.md")
    out2 = render(reps(), records, tmp_path / "b" / "results.md")
    text = out1.read_text()
    assert out1.read_bytes() == out2.read_bytes()
    assert (out1.parent / PLOT_NAME).read_bytes() == (out2.parent / PLOT_NAME).read_bytes()
    assert (out1.parent / PLOT_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("REGENERATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "set REGENERATE_GOLDEN=1 to accept a template change"


def test_report_content(tmp_path):
    records = tmp_path / "records"
    write_records(records)
    text = render(reps(), records, tmp_path / "results.md").read_text()
    # 97.5 vs 99 with n=400: tolerance 2*sqrt(.99*.01/400)*100 = 0.995 -> FAIL by 1.5 points
    assert "| fake_toy | acc@1 | paper | 99.00 | 97.50[^" in text
    assert "| -1.50 | 0.99 | FAIL |" in text
    assert "| fake_toy | acc@5 | derived | 99.50 | 99.40[^3] | -0.10 | 0.30 | PASS |" in text
    assert "FAIL: evaluation failed: RuntimeError: boom" in text
    assert "NOT RUN: no data: needs toy via --data-root" in text
    assert "1.50 × 3 = 4.50 (cross-check differs: 3.1%)" in text
    assert "123.456 clips/s on Test CPU" in text
    assert "**Summary:** 2 PASS, 2 FAIL, 1 NOT RUN." in text
    assert "git 0123456789, Test CPU, torch 2.13.0, seed 3" in text
