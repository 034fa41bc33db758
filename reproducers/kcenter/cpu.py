"""CPU execution for the compiled K-center strategies (:mod:`.bounded`, :mod:`.orders`,
:mod:`.lookahead`): numba compilation, and problems shared among worker threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a declared dependency
    njit = None


def compiled(fastmath):
    """numba-compiled (cached, without the GIL) with these fast-math flags; the plain
    function where numba is missing (callers then check :data:`njit` before using it)."""
    def wrap(fn):
        if njit is None:
            return fn
        return njit(cache=True, nogil=True, fastmath=fastmath, error_model="numpy")(fn)
    return wrap


def share_problems(problems: int, work) -> list:
    """``work(indices)`` on ``min(torch.get_num_threads(), problems)`` worker threads, each
    given every workers-th problem and running torch on one thread (one-thread products keep
    their bits whatever the thread count); the thread count is restored. Returns each
    worker's result."""
    threads = torch.get_num_threads()
    workers = max(1, min(threads, problems))

    def run(w: int):
        torch.set_num_threads(1)
        return work(range(w, problems, workers))

    try:
        if workers == 1:
            return [run(0)]
        with ThreadPoolExecutor(workers) as executor:
            return list(executor.map(run, range(workers)))
    finally:
        torch.set_num_threads(threads)
