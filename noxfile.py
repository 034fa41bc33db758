"""Developer and user entry points.

    nox -s reproduce                      # embedded default: vis4mer_breakfast --smoke, then report
    nox -s reproduce -- NAME [flags]      # any reproduction, flags as `python -m reproducers run`
    nox -s tests                          # the test suite (what CI runs)
    nox -s tests-latest                   # the same on the newest releases (no constraints)
    nox -s benchmarks                     # pytest benchmarks --benchmark-only
    nox -s report                         # regenerate reports/results.md from the records
    nox -s lint                           # ruff

All sessions share one virtual environment, ``.venv`` in the repository, created and
updated on demand (re-installed when pyproject.toml, constraints.txt or this file changes),
because the torch install is several GB and every session needs it. Versions are pinned by
``constraints.txt`` (what CI tested; torch is pinned here instead, so a machine with another
torch can use the same constraints). SVM's optional extra (mmcv 2.1 built from source, mmdet,
OpenCV) is installed only for the sessions that need it: ``tests`` always, ``reproduce`` for
a reproduction whose paper declares it (``Paper.extra``). ``tests-latest`` resolves everything afresh in ``.venv-latest``
(newest torch too) so the next breaking release is seen before users see it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
VENV = ROOT / ".venv"
CONSTRAINTS = ROOT / "constraints.txt"
# The standard torch build from the package index (its torchvision matches; a local CPU-only
# torch wheel found through a pip config's find-links may lack a matching torchvision, so the
# torch install runs pip in isolated mode). Override with REPRODUCERS_TORCH_SPEC.
TORCH_SPEC = os.environ.get("REPRODUCERS_TORCH_SPEC", "torch==2.13.0 torchvision==0.28.0").split()
DEFAULT_REPRODUCTION = ["vis4mer_breakfast", "--smoke"]
# extras that pull in the svm extra (mmcv must be built before pip resolves them)
WITH_SVM = {"svm", "test", "dev"}

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]


def _python(venv: Path = VENV) -> str:
    return str(venv / "bin" / "python")


def _fingerprint(constraints: bool) -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "noxfile.py") + (("constraints.txt",) if constraints else ()):
        h.update((ROOT / name).read_bytes())
    h.update(" ".join(TORCH_SPEC).encode())
    return h.hexdigest()


def _pip_cache_args() -> list[str]:
    """pip --isolated ignores PIP_* variables: pass the cache choice on explicitly."""
    if os.environ.get("PIP_NO_CACHE_DIR", "").lower() in ("1", "true", "yes", "on"):
        return ["--no-cache-dir"]
    return ["--cache-dir", os.environ["PIP_CACHE_DIR"]] if os.environ.get("PIP_CACHE_DIR") else []


def install(session: nox.Session, extras: tuple[str, ...] = ("dev",), venv: Path = VENV,
            constraints: bool = True) -> str:
    """Create/refresh ``venv`` with torch and the project (editable) with ``extras``.

    The stamp records the fingerprint and the extras installed; asking for more extras later
    adds them. ``constraints=False`` (tests-latest) installs the newest torch and resolves
    every other package afresh."""
    stamp = venv / ".installed"
    want = _fingerprint(constraints)
    have = stamp.read_text().split() if stamp.exists() else []
    current = have[:1] == [want]
    have_extras = set(have[1:]) if current else set()
    if current and set(extras) <= have_extras:
        return _python(venv)
    extras = tuple(sorted(have_extras | set(extras)))
    if not (venv / "bin" / "python").exists():
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
    py = _python(venv)
    pin = ["-c", str(CONSTRAINTS)] if constraints else []
    session.run(py, "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
    torch = TORCH_SPEC if constraints else ["--upgrade", "torch", "torchvision"]
    session.run(py, "-m", "pip", "install", "-q", "--isolated", *_pip_cache_args(), *torch,
                external=True)
    if WITH_SVM & set(extras):
        install_mmcv(session, py, pin)
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    session.run(py, "-m", "pip", "install", "-q", *pin, "-e", target, external=True)
    stamp.write_text(" ".join((want,) + extras))
    return py


def install_mmcv(session: nox.Session, py: str, pin: list[str]) -> None:
    """mmcv 2.1 with its compiled ops (mmdet 3.3's YOLOX post-processing needs ``nms``).

    There is no wheel for current torch: it is built from source against the installed torch
    (setuptools < 70, no build isolation, MMCV_WITH_OPS=1; about 20 minutes on 2 cores the
    first time, then pip's wheel cache serves it). setuptools goes back to torch's range
    afterwards."""
    check = "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"
    if subprocess.run([py, "-c", check], capture_output=True).returncode == 0:
        return
    session.run(py, "-m", "pip", "install", "-q", *pin, "setuptools<70", "wheel",
                "mmengine>=0.10,<0.11", external=True)
    session.run(py, "-m", "pip", "install", "--no-build-isolation", *pin, "mmcv==2.1.0",
                external=True, env={"MMCV_WITH_OPS": "1", "MAX_JOBS": str(os.cpu_count() or 2)})
    session.run(py, "-m", "pip", "install", "-q", "setuptools>=77", external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (extra pytest arguments after --), SVM's extra included."""
    py = install(session, ("dev", "svm"))
    session.run(py, "-m", "pytest", *(session.posargs or ["tests"]), external=True)


@nox.session(name="tests-latest")
def tests_latest(session: nox.Session) -> None:
    """The test suite on the newest releases (no constraints.txt, newest torch), in its own
    ``.venv-latest``: run it on a schedule; a failure here is the next break users would hit."""
    py = install(session, ("dev", "svm"), venv=ROOT / ".venv-latest", constraints=False)
    session.run(py, "-m", "pip", "list", "--format=freeze", external=True, silent=False)
    session.run(py, "-m", "pytest", *(session.posargs or ["tests"]), external=True)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Run a reproduction: `nox -s reproduce -- NAME [--smoke] [--data-root DIR] ...`.

    Installs the optional extra a reproduction's paper declares (``Paper.extra``, read from
    ``list --json``) only when a named reproduction needs it."""
    args = session.posargs or DEFAULT_REPRODUCTION
    py = install(session, ())
    extras = _extras_of(py, [a for a in args if not a.startswith("-")])
    if extras:
        py = install(session, extras)
    session.run(py, "-m", "reproducers", "run", *args, external=True)


def _extras_of(py: str, words: list[str]) -> tuple[str, ...]:
    """The extras the named reproductions' papers declare (other words are ignored here: the
    CLI gives their one-line errors)."""
    listing = subprocess.run([py, "-m", "reproducers", "list", "--json"], capture_output=True,
                             text=True, check=True).stdout
    declared = {item["name"]: item.get("extra", "") for item in json.loads(listing)}
    return tuple(sorted({declared[w] for w in words if declared.get(w)}))


@nox.session
def benchmarks(session: nox.Session) -> None:
    """pytest-benchmark suites: `pytest benchmarks --benchmark-only`."""
    py = install(session)
    session.run(py, "-m", "pytest", "benchmarks", "--benchmark-only",
                "--benchmark-json", "reports/benchmarks.json", *session.posargs, external=True)


@nox.session
def report(session: nox.Session) -> None:
    """Regenerate reports/results.md from reports/records/."""
    py = install(session, ())
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
