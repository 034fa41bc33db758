"""Progress output (common/progress.py): a bar on a terminal, occasional plain lines in a
captured log, nothing when disabled; the trainer goes through it."""

from __future__ import annotations

import io

import pytest

from reproducers.common import progress as prog


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_captured_log_gets_a_line_per_interval_not_per_step():
    lines, clock = [], _Clock()
    bar = prog.LineProgress(100, "epoch 1/3", lines.append, interval_s=30.0, clock=clock)
    for _ in range(10):  # 10 quick steps: nothing
        clock.t += 1.0
        bar.update()
    assert lines == []
    clock.t += 25.0  # 35 s since the start
    bar.set_postfix(loss="0.4123")
    bar.update()
    assert lines == ["epoch 1/3: 11/100 steps (11%), loss=0.4123, 0.31 it/s, 35 s elapsed, "
                     "eta 4 min 43 s"]
    clock.t += 10.0
    bar.update()  # 10 s after the last line: nothing
    assert len(lines) == 1
    bar.close()
    assert all("\r" not in ln for ln in lines)


def test_last_step_writes_no_line(monkeypatch):
    lines, clock = [], _Clock()
    bar = prog.LineProgress(2, "e", lines.append, interval_s=0.0, clock=clock)
    clock.t = 1.0
    bar.update()
    bar.update()  # the caller's epoch line reports the end
    assert lines == ["e: 1/2 steps (50%), 1.00 it/s, 1 s elapsed, eta 1 s"]


def test_resumed_epoch_counts_the_rate_from_where_it_resumed():
    lines, clock = [], _Clock()
    bar = prog.LineProgress(10, "e", lines.append, initial=6, interval_s=0.0, clock=clock)
    clock.t = 2.0
    bar.update()
    assert lines == ["e: 7/10 steps (70%), 0.50 it/s, 2 s elapsed, eta 6 s"]


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv("REPRODUCERS_LOG_INTERVAL", "5")
    assert prog.LineProgress(1, "e", print).interval_s == 5.0
    monkeypatch.setenv("REPRODUCERS_LOG_INTERVAL", "soon")
    assert prog.LineProgress(1, "e", print).interval_s == prog.DEFAULT_INTERVAL_S


def test_choice_of_bar():
    from tqdm import tqdm

    assert isinstance(prog.progress(3, "e", stream=io.StringIO(), log=print), prog.LineProgress)
    tty = _Tty()
    bar = prog.progress(3, "e", stream=tty)
    assert isinstance(bar, tqdm)
    bar.update()
    bar.close()
    assert "\r" in tty.getvalue()  # a terminal gets the redrawn bar
    off = prog.progress(3, "e", enabled=False, stream=tty)
    off.update()
    off.set_postfix(loss=1)
    off.close()


@pytest.mark.parametrize("seconds,text", [(59, "59 s"), (61, "1 min 1 s"), (3720, "1 h 2 min")])
def test_duration(seconds, text):
    assert prog._duration(seconds) == text


def test_trainer_logs_through_progress():
    import reproducers.common.trainer as trainer

    assert trainer.progress is prog.progress
    assert not hasattr(trainer, "tqdm")
