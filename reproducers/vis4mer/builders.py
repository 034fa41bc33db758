"""The ViS4mer dataset builders the declarations use: ``build(root, split, config, train)``.

Separate from ``data.py`` (the helpers both loaders import), so the import graph stays
acyclic: data <- lvu_data, segments_data <- builders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch.utils.data import Dataset

from .lvu_data import LVUDataset
from .segments_data import BreakfastDataset, CoinDataset


def build_lvu(root: Path, split: str, config: Mapping, train: bool, protocol=None) -> Dataset:
    """LVU task ``config["task"]``; see lvu_data.LVUDataset for the config keys."""
    return LVUDataset(Path(root), split, config, train)


def build_breakfast(root: Path, split: str, config: Mapping, train: bool,
                    protocol=None) -> Dataset:
    """Breakfast (train/test); see segments_data.BreakfastDataset for the config keys."""
    return BreakfastDataset(Path(root), split, config, train)


def build_coin(root: Path, split: str, config: Mapping, train: bool, protocol=None) -> Dataset:
    """COIN (training/testing, aliases train/test); see segments_data.CoinDataset."""
    return CoinDataset(Path(root), split, config, train)
