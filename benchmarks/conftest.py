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
