"""Developer and user entry points.

    nox -s reproduce                      # embedded default: vis4mer_breakfast --smoke, then report
    nox -s reproduce -- NAME [flags]      # any reproduction, flags as `python -m reproducers run`
    nox -s tests                          # the test suite (what CI runs)
    nox -s benchmarks                     # pytest benchmarks --benchmark-only
    nox -s report                         # regenerate reports/results.md from the records
    nox -s lint                           # ruff

All sessions share one virtual environment, ``.venv`` in the repository, created and
updated on demand (re-installed when pyproject.toml or this file changes), because the
torch install is several GB and every session needs it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
# The standard torch build from the package index (its torchvision matches; a local CPU-only
# torch wheel found through a pip config's find-links may lack a matching torchvision, so the
# torch install runs pip in isolated mode). Override with REPRODUCERS_TORCH_SPEC.
TORCH_SPEC = os.environ.get("REPRODUCERS_TORCH_SPEC", "torch==2.13.0 torchvision==0.28.0").split()
DEFAULT_REPRODUCTION = ["vis4mer_breakfast", "--smoke"]

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]


def _python() -> str:
    return str(VENV / "bin" / "python")


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "noxfile.py"):
        h.update((ROOT / name).read_bytes())
    h.update(" ".join(TORCH_SPEC).encode())
    return h.hexdigest()


def install(session: nox.Session) -> str:
    """Create/refresh .venv with torch and the project (editable, with test extras)."""
    want = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == want:
        return _python()
    if not (VENV / "bin" / "python").exists():
        session.run(sys.executable, "-m", "venv", str(VENV), external=True)
    py = _python()
    session.run(py, "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
    session.run(py, "-m", "pip", "install", "-q", "--isolated", *TORCH_SPEC, external=True)
    install_mmcv(session, py)
    session.run(py, "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]", external=True)
    STAMP.write_text(want)
    return py


def install_mmcv(session: nox.Session, py: str) -> None:
    """mmcv 2.1 with its compiled ops (mmdet 3.3's YOLOX post-processing needs ``nms``).

    There is no wheel for current torch: it is built from source against the installed torch
    (setuptools < 70, no build isolation, MMCV_WITH_OPS=1; about 15 minutes on 2 cores the
    first time, then pip's wheel cache serves it). setuptools goes back to torch's range
    afterwards."""
    check = "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"
    if subprocess.run([py, "-c", check], capture_output=True).returncode == 0:
        return
    session.run(py, "-m", "pip", "install", "-q", "setuptools<70", "wheel", "mmengine>=0.10,<0.11",
                external=True)
    session.run(py, "-m", "pip", "install", "--no-build-isolation", "mmcv==2.1.0",
                external=True, env={"MMCV_WITH_OPS": "1", "MAX_JOBS": str(os.cpu_count() or 2)})
    session.run(py, "-m", "pip", "install", "-q", "setuptools>=77", external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (extra pytest arguments after --)."""
    py = install(session)
    session.run(py, "-m", "pytest", *(session.posargs or ["tests"]), external=True)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Run a reproduction: `nox -s reproduce -- NAME [--smoke] [--data-root DIR] ...`."""
    py = install(session)
    args = session.posargs or DEFAULT_REPRODUCTION
    session.run(py, "-m", "reproducers", "run", *args, external=True)


@nox.session
def benchmarks(session: nox.Session) -> None:
    """pytest-benchmark suites: `pytest benchmarks --benchmark-only`."""
    py = install(session)
    session.run(py, "-m", "pytest", "benchmarks", "--benchmark-only",
                "--benchmark-json", "reports/benchmarks.json", *session.posargs, external=True)


@nox.session
def report(session: nox.Session) -> None:
    """Regenerate reports/results.md from reports/records/."""
    py = install(session)
    session.run(py, "-m", "reproducers", "report", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    py = install(session)
    session.run(py, "-m", "ruff", "check", "reproducers", "tests", "benchmarks", "noxfile.py",
                external=True)


@nox.session
def gpu(session: nox.Session) -> None:
    """Device self-test, every CUDA path in one call: `nox -s gpu [-- --device cpu ...]`.

    Flags after -- go to `python -m reproducers selftest` (default device: cuda when torch sees
    one, else the CPU at smoke size, as in CI). Writes the JSON to runs/selftest.json and the
    record to reports/records/selftest/<cuda|cpu>.json, regenerates the report (its "Device
    self-test" section) and fails if any item failed."""
    import json

    py = install(session)
    out = ROOT / "runs" / "selftest.json"
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    session.run(py, "-m", "reproducers", "selftest", *session.posargs, "--out", str(out),
                external=True, success_codes=[0, 1])
    session.run(py, "-m", "reproducers", "report", external=True)
    if not out.exists() or json.loads(out.read_text())["status"] != "ok":
        session.error(f"selftest: some items failed or were skipped, see {out}")
