"""--threads and the default thread count (harness/threads.py)."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness import threads
from reproducers.harness.errors import UserError


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    threads._CHOSEN.clear()


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(threads, "_affinity", lambda: 8)
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: None)
    for env in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(env, raising=False)


def test_default_is_the_available_cores(eight_cores):
    assert threads.default_threads() == (8, "cores available")


@pytest.mark.parametrize("env,value,want", [
    ("OMP_NUM_THREADS", "3", (3, "OMP_NUM_THREADS")),
    ("OMP_NUM_THREADS", "4,2", (4, "OMP_NUM_THREADS")),  # nested levels: the outer one
    ("OMP_NUM_THREADS", "16", (8, "cores available")),  # never more than the cores
    ("OMP_NUM_THREADS", "junk", (8, "cores available")),
    ("SLURM_CPUS_PER_TASK", "2", (2, "SLURM_CPUS_PER_TASK")),
])
def test_default_is_capped_by_the_environment(eight_cores, monkeypatch, env, value, want):
    monkeypatch.setenv(env, value)
    assert threads.default_threads() == want


def test_default_is_capped_by_the_cgroup_quota(eight_cores, monkeypatch):
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: 2)
    assert threads.default_threads() == (2, "cgroup CPU quota")


def test_apply_sets_torch_and_is_recorded(restore_threads):
    from reproducers.harness.provenance import device_info

    chosen = threads.apply_threads(1)
    assert chosen["threads"] == 1 and chosen["source"] == "--threads"
    assert torch.get_num_threads() == 1
    info = device_info("cpu")
    assert info["threads"]["threads"] == 1 and info["threads"]["source"] == "--threads"
    assert info["torch_threads"] == 1


def test_apply_default_uses_the_default(restore_threads, eight_cores, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.apply_threads(None)["source"] == "OMP_NUM_THREADS"
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("n", [0, -2])
def test_non_positive_threads_is_a_user_error(n):
    with pytest.raises(UserError, match="--threads"):
        threads.apply_threads(n)


def test_cli_threads_zero_exits_2(capsys, tmp_path):
    from reproducers.cli import main

    code = main(["profile", "vis4mer_breakfast", "--smoke", "--threads", "0",
                 "--records-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--threads 0" in err[0]
