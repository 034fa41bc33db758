"""One process at a time per run folder (``runs/<name>[-smoke]``): an ``flock`` on
``<run folder>/.lock``, held until the process exits (the OS releases it on any exit,
SIGKILL included, so a killed run never leaves a stale lock). The file holds the holder's
pid, which the refusal names. Re-locking a folder this process holds is a no-op.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import UserError

LOCK_NAME = ".lock"
_held: dict[Path, int] = {}  # resolved run folder -> open lock file descriptor


def lock_run_dir(run_dir: Path) -> Path:
    """Lock ``run_dir`` for this process or raise a one-line ``UserError`` naming the pid."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _held:
        return run_dir
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise UserError(f"{run_dir} is in use by another run (pid {holder}, lock {path}): wait "
                        f"for it to end, or give this run another --output-dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd
    return run_dir


def release_run_dir(run_dir: Path) -> None:
    """Release a lock taken by this process (tests; a CLI run keeps it until it exits)."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)
