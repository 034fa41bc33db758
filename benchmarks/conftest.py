"""pytest-benchmark context: the software and hardware a timing was taken on, saved with it."""

import pytest
import torch


def pytest_benchmark_update_machine_info(config, machine_info):
    cuda = torch.cuda.is_available()
    machine_info["torch"] = {
        "version": torch.__version__,
        "cuda": torch.version.cuda or "none",  # the CUDA torch was built with
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "none",
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda else "none",
        "cpu_threads": torch.get_num_threads(),
    }


@pytest.fixture
def no_grad():
    """Benchmarks time inference: run the body without autograd bookkeeping."""
    with torch.no_grad():
        yield


def pytest_terminal_summary(terminalreporter, config):
    """Side-by-side groups (test_vs_official.py): median official / median ours, per group."""
    session = getattr(config, "_benchmarksession", None)
    groups: dict[str, dict[str, float]] = {}
    for bench in getattr(session, "benchmarks", None) or []:
        side = bench.extra_info.get("side")
        if side and bench.stats:
            groups.setdefault(bench.group, {})[side] = bench.stats.median
    lines = []
    for group, sides in sorted(groups.items()):
        official = sides.get("official")
        for side, median in sorted(sides.items()):
            if side != "official":
                ratio = f"{official / median:.2f}x" if official else "n/a (no official run)"
                lines.append(f"{group}: official/{side} = {ratio} "
                             f"({official or float('nan'):.4g} s / {median:.4g} s, medians)")
    if lines:
        terminalreporter.write_sep("-", "official / ours (above 1: ours is faster)")
        for line in lines:
            terminalreporter.write_line(line)
