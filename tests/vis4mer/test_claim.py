"""The smoke claim "ViS4mer beats its time-blind ablation on the synthetic order task",
end to end through the CLI: both reproductions train and evaluate, `check --json` and the
report show PASS with Δ, interval and p; the swapped claim FAILs on the same records."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from reproducers.harness.claims import FAIL, PASS, check_claim
from reproducers.harness.provenance import REPO_ROOT
from reproducers.harness.registry import discover

A, B = "vis4mer_breakfast", "vis4mer_breakfast_timeblind"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "reproducers", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)


def test_time_blind_ablation_is_declared_with_the_claim():
    reps = discover()
    (claim,) = reps[A].claims
    assert (claim.a, claim.b, claim.metric, claim.kind) == (A, B, "acc@1", "smoke")
    assert reps[B].expected == [] and reps[B].model.factory is not reps[A].model.factory


def test_claim_passes_and_its_swap_fails(tmp_path):
    common = ["--smoke", "--no-progress", "--set", "epochs=40", "--stages", "train", "evaluate",
              "--records-dir", str(tmp_path / "rec"), "--output-dir", str(tmp_path / "runs")]
    for name in (A, B):
        proc = _cli("run", name, *common)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _cli("check", A, B, "--json", "--records-dir", str(tmp_path / "rec"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (claim,) = [r for r in json.loads(proc.stdout) if r["kind"] == "claim"]
    assert claim["status"] == PASS, claim
    assert claim["samples"] == 60 and claim["test"].startswith("exact McNemar")
    assert abs(claim["delta"] - (claim["a_value"] - claim["b_value"])) < 1e-5
    assert 0 < claim["ci_low"] <= claim["delta"] <= claim["ci_high"] and claim["p"] < 0.05
    swapped = dataclasses.replace(discover()[A].claims[0], a=B, b=A)
    back = check_claim("vis4mer", swapped, tmp_path / "rec")
    assert back.status == FAIL and back.delta < 0 and back.p > 0.5
    proc = _cli("report", "--records-dir", str(tmp_path / "rec"), "--out",
                str(tmp_path / "report" / "results.md"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "report" / "results.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {A} acc@1 > {B}"))
    assert f"| {claim['delta']:+.2f} |" in line and "| PASS |" in line
    assert f"[{claim['ci_low']:+.2f}, {claim['ci_high']:+.2f}]" in line
