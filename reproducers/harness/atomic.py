"""Atomic file writes: a temp file in the same folder, fsync, rename.

A crash or kill mid-write leaves the previous file intact, never a half-written one. Temp
files are named ``.<target name>.<pid>.<random>.tmp`` (hidden, ``.gitignore``d, never read):
one left behind by a killed process is removed by the next write of the same target once
that process is gone. The target gets the mode a plain ``open(path, "w")`` would give it
(its current mode when it exists, else 0666 minus the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, _target_mode(path))
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text))


def write_json_atomic(path: Path, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def file_in_the_way(folder: Path) -> Path | None:
    """The existing file among ``folder`` and its parents that stops it being created."""
    for p in (Path(folder), *Path(folder).parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def is_temp(path: Path) -> bool:
    """A temp file of ``write_atomic`` (readers that list folders skip these)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp")


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temp files of ``path`` left by processes that no longer run (SIGKILL)."""
    removed = []
    prefix = f".{Path(path).name}."
    for tmp in Path(path).parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux >= 4.7: read it without changing it (os.umask is process-wide)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
