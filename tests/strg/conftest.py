"""STRG test fixtures: a small synthetic SSv1 tree (contexts over it: ``contexts.py``)."""

from __future__ import annotations

import pytest

from reproducers.strg import data


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssv1")
    data.synthesize(root, {"n_per_class": 2, "n_val_per_class": 1, "frames_per_video": 16,
                           "size": 64, "boxes_per_frame": 3}, seed=0)
    return root
