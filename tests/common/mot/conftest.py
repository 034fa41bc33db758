"""Fixtures for the MOT tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def mot_dirs(tmp_path):
    return tmp_path / "gt", tmp_path / "res"
