"""Provenance stored in every run record (DESIGN.md, "Run records and statuses")."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import reproducers

REPO_ROOT = Path(reproducers.__file__).resolve().parent.parent
PACKAGES = ("torch", "torchvision", "timm", "numpy", "fvcore", "pykeops", "av", "video-reproducers")


def git_state() -> dict:
    def run(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    sha = run("rev-parse", "HEAD")
    dirty = bool(run("status", "--porcelain", "--untracked-files=no")) if sha else None
    return {"sha": sha or None, "dirty": dirty}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info(device: str) -> dict:
    import torch

    from .threads import describe

    info = {"device": device, "torch_threads": torch.get_num_threads(), "threads": describe()}
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = torch.device(device).index or 0
        info.update(name=torch.cuda.get_device_name(idx), cuda=torch.version.cuda)
    else:
        info["name"] = cpu_name()
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def config_hash(config) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def code_hash(*packages: str) -> str:
    """Hash of the Python sources of the given sub-packages (e.g. 'vis4mer', 'common')."""
    h = hashlib.sha256()
    for pkg in packages:
        for path in sorted((REPO_ROOT / "reproducers" / pkg).rglob("*.py")):
            h.update(str(path.relative_to(REPO_ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def command_line(argv=None) -> str:
    """The command as typed: ``python -m reproducers run ...``, not the absolute path of this
    clone's ``reproducers/__main__.py`` (records travel between clones, see portable.py)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).parts[-2:] == ("reproducers", "__main__.py"):
        argv[0] = "python -m reproducers"
    return " ".join(argv)


def provenance(device: str, seed: int | None, config: dict, fingerprint: dict | None) -> dict:
    return {
        "git": git_state(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device_info(device),
        "command": command_line(),
        "config_hash": config_hash(config),
        "dataset_fingerprint": fingerprint,
        "seed": seed,
    }
