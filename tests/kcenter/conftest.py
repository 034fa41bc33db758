"""K-center test fixtures: the two golden files, loaded once per module (skip when absent)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import GOLDEN_DIR


def _load(name: str):
    path = GOLDEN_DIR / name
    if not path.is_file():
        pytest.skip(f"golden file absent: {path} (it lives in ../shared/golden beside the "
                    f"repository and is never committed)")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def sampler_golden():
    return _load("kcenter_sampler.pt")


@pytest.fixture(scope="module")
def models_golden():
    return _load("kcenter_models_small.pt")
