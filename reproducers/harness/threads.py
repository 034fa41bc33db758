"""CPU thread count of a run: ``--threads N``, else a default that behaves on shared machines.

torch starts one OpenMP thread per physical core of the *machine*, also when this process may
use fewer (a SLURM allocation, a container's CPU quota, ``taskset``) or when other processes
already use the cores; OpenMP threads that outnumber the free cores spin and wait on each
other (two threads made a smoke model 12-30x slower while another process used the cores).
The default is therefore the smallest of:

- the cores this process may run on (``os.sched_getaffinity``: taskset, SLURM, cpusets);
- the container's CPU quota (cgroup v2 ``cpu.max`` / v1 ``cpu.cfs_quota_us``), rounded up;
- ``SLURM_CPUS_PER_TASK`` when set;
- ``OMP_NUM_THREADS`` when set (the usual way to ask for fewer threads).

``--threads N`` overrides all of them. Interop threads (torch's pool for parallel operators)
get the same number. The choice and its source go into every run record's provenance.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .errors import UserError

_CHOSEN: dict = {}


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cgroup_quota() -> int | None:
    """CPUs granted by the cgroup CPU quota (None: no quota or unreadable)."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return max(1, math.ceil(quota / period)) if quota > 0 else None
    except (OSError, ValueError):
        return None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        n = int(value.split(",")[0])  # OMP_NUM_THREADS may be a per-level list
    except ValueError:
        return None
    return n if n > 0 else None


def default_threads() -> tuple[int, str]:
    """(threads, why) from the limits in the module doc."""
    limits = {"cores available": _affinity()}
    quota = _cgroup_quota()
    if quota is not None:
        limits["cgroup CPU quota"] = quota
    for env in ("SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"):
        n = _env_int(env)
        if n is not None:
            limits[env] = n
    source = min(limits, key=lambda k: limits[k])
    return limits[source], source


def apply_threads(requested: int | None = None) -> dict:
    """Set torch's intra-op and interop thread counts; returns {"threads", "interop",
    "source"} (also kept for ``describe``). ``requested``: ``--threads N`` (None: default)."""
    import torch

    if requested is not None:
        if requested < 1:
            raise UserError(f"--threads {requested}: give a positive number of CPU threads")
        n, source = requested, "--threads"
    else:
        n, source = default_threads()
    torch.set_num_threads(n)
    interop = n
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # only settable before the first parallel work of the process
        interop = torch.get_num_interop_threads()
    _CHOSEN.clear()
    _CHOSEN.update(threads=n, interop=interop, source=source)
    return dict(_CHOSEN)


def describe() -> dict:
    """What this process runs with (for provenance): the chosen count and its source, or
    torch's own setting when ``apply_threads`` was never called (library use)."""
    import torch

    return {"threads": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
            "source": _CHOSEN.get("source", "torch default")}
