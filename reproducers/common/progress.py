"""Progress of a loop, readable both on a terminal and in a captured log.

On a terminal (the stream is a tty) a tqdm bar redraws in place. Anywhere else (CI, SLURM,
``nox ... > log``, a pipe) carriage-return redraws would pile up as thousands of lines, so the
bar becomes at most one plain line every ``interval_s`` seconds (``REPRODUCERS_LOG_INTERVAL``,
default 60; 0 = every step), written through ``log`` like the rest of the run's output:

    epoch 3/100: 120/500 steps (24%), loss=0.4123, 2.10 it/s, 57 s elapsed, eta 3 min 1 s

The caller's own per-epoch line (the trainer's history row) closes each epoch, so a short
epoch writes nothing here. Every use of a progress bar goes through ``progress``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

DEFAULT_INTERVAL_S = 60.0


def interactive(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stderr, where tqdm draws) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _interval() -> float:
    try:
        return float(os.environ.get("REPRODUCERS_LOG_INTERVAL", DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class LineProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` as occasional plain log lines."""

    def __init__(self, total: int, desc: str, log: Callable[[str], None], initial: int = 0,
                 interval_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.log, self.n = total, desc, log, initial
        self.interval_s = _interval() if interval_s is None else interval_s
        self.clock = clock
        self.start = self.last = clock()
        self.first = initial
        self.postfix: dict[str, Any] = {}
        self.lines = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.interval_s and self.n < self.total:
            self.last = now
            self.log(self.line(now))
            self.lines += 1

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values

    def line(self, now: float) -> str:
        elapsed = now - self.start
        done = self.n - self.first
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {self.n}/{self.total} steps"
                 + (f" ({100 * self.n / self.total:.0f}%)" if self.total else "")]
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        parts.append(f"{rate:.2f} it/s, {_duration(elapsed)} elapsed")
        if rate > 0 and self.total:
            parts[-1] += f", eta {_duration((self.total - self.n) / rate)}"
        return ", ".join(parts)

    def close(self) -> None:
        pass


class _Disabled:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, *, enabled: bool = True, initial: int = 0,
             log: Callable[[str], None] = print, stream: TextIO | None = None,
             interval_s: float | None = None):
    """A progress bar over ``total`` steps (see the module doc): tqdm on a terminal, plain
    lines through ``log`` otherwise, nothing when not ``enabled``."""
    if not enabled:
        return _Disabled()
    if interactive(stream):
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True,
                    file=stream)
    return LineProgress(total, desc, log, initial=initial, interval_s=interval_s)
