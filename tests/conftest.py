"""Shared test fixtures: where the golden data lives, and a clean records dir."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO_ROOT.parent / "shared" / "golden"


@pytest.fixture
def golden_dir() -> Path:
    if not GOLDEN_DIR.is_dir():
        pytest.skip(f"golden data not found at {GOLDEN_DIR} (it lives in ../shared/golden "
                    f"beside the repository and is never committed)")
    return GOLDEN_DIR
