"""Breakfast and COIN datasets: a fixed number of Video-Swin segments per video.

Reproduces datasets/breakfast_dataset.py and datasets/coin_dataset.py of
md-mohaiminul/ViS4mer (facts only, no code copied). Each feature file holds
(n_segments, 49, 1024) per video; ``segments`` (official l_secs = 64) of them are selected
by ``select_segments`` and flattened to (segments * 49, 1024):
  n < segments: indices float32-arange(0, n, n/segments) truncated to int, i.e. evenly
                spaced with repeats;
  n > segments: training draws ``segments`` distinct indices at random and sorts them
                (python ``random.sample``), evaluation uses the float32-arange formula;
  n = segments: all, in order.
Breakfast drops 3 train videos, COIN excludes 2 videos (``drop_videos`` /
``exclude_videos`` override the lists). Labels: Breakfast the last csv field (class_id),
COIN ``recipe_type``. Missing feature files raise a UserError (official: crash in
__getitem__) unless ``allow_missing``.

Config keys (both): segments (64; ``l_secs`` is accepted as its official name), tokens (49),
dim (1024), num_classes (10 Breakfast / 180 COIN), features_dir, allow_missing (False),
check_shapes (True), seed (0). Breakfast: split_dir ("breakfast"), drop_videos. COIN:
annotation ("COIN/COIN.json"), exclude_videos.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from reproducers.harness.errors import UserError
from reproducers.vis4mer.data import (
    BREAKFAST_EXPECTED,
    COIN_EXPECTED,
    FeatureVideoDataset,
    find_features,
    require_file,
    require_root,
    synthetic_expected,
)

BREAKFAST_CLASSES = ("cereals", "coffee", "tea", "pancake", "friedegg", "scrambledegg",
                     "sandwich", "juice", "milk", "salat")  # class_id order
BREAKFAST_DROPPED = ("P28-cam01-P28_cereals", "P27-stereo-P27_milk_ch0", "P28-cam02-P28_cereals")
COIN_EXCLUDED = ("AfiVmAjfTNs", "cjwtcDKTQM8")
COIN_SPLITS = {"training": "training", "testing": "testing", "train": "training",
               "test": "testing"}


def select_segments(n: int, segments: int, train: bool, rng: random.Random | None = None) -> np.ndarray:
    """Indices of the ``segments`` segments taken from a video with ``n`` (official rule)."""
    if n < 1:
        raise ValueError("select_segments: a video needs at least one segment")
    if n == segments:
        return np.arange(n)
    if n > segments and train:
        rng = rng if rng is not None else random.Random()
        return np.asarray(sorted(rng.sample(range(n), segments)))
    step = n / float(segments)
    return np.arange(0, n, step, dtype=np.float32).astype(np.int32).astype(np.int64)


class SegmentDataset(FeatureVideoDataset):
    def _setup(self, root: Path, split: str, config: Mapping, train: bool, rows, feature_dir: Path,
               official_expected: int | None, num_classes: int, marker_key: str) -> None:
        self.segments = int(config.get("segments", config.get("l_secs", 64)))
        tokens, dim = int(config.get("tokens", 49)), int(config.get("dim", 1024))
        keep, missing, unreadable = find_features([r[0] for r in rows], feature_dir, config, tokens, dim)
        ids = [rows[i][0] for i in keep]
        synthetic, expected = synthetic_expected(root, marker_key, split)
        super().__init__(
            split=split, train=train, ids=ids, targets=[rows[i][1] for i in keep],
            feature_paths=[feature_dir / f"{v}.npy" for v in ids], missing_ids=missing,
            expected=expected if synthetic else official_expected,
            task_type="classification", num_outputs=num_classes,
            seq_len=self.segments * tokens, feature_dim=dim, tokens=tokens,
            seed=int(config.get("seed", 0)), unreadable=unreadable)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        feats = self._features(index)
        idx = select_segments(feats.shape[0], self.segments, self.train,
                              self.rng() if self.train else None)
        x = np.ascontiguousarray(feats[idx], dtype=np.float32).reshape(-1, self.feature_dim)
        return torch.from_numpy(x), self._target(index), index


def _class_id(text: str, where: str, num_classes: int) -> int:
    try:
        label = int(text)
    except ValueError as e:
        raise UserError(f"{where}: class id {text!r} is not an integer") from e
    if not 0 <= label < num_classes:
        raise UserError(f"{where}: class id {label} outside 0..{num_classes - 1}")
    return label


class BreakfastDataset(SegmentDataset):
    def __init__(self, root: Path, split: str, config: Mapping, train: bool):
        root = require_root(root)
        if split not in BREAKFAST_EXPECTED:
            raise UserError(f"Breakfast split {split!r} unknown; one of train, test")
        num_classes = int(config.get("num_classes", 10))
        drop = set(config.get("drop_videos", BREAKFAST_DROPPED))
        path = root / config.get("split_dir", "breakfast") / f"{split}.csv"
        require_file(path, "Breakfast split file", "copy data/Breakfast/{train,test}.csv of the "
                     "official repo md-mohaiminul/ViS4mer to <data-root>/breakfast/")
        rows, seen = [], {}
        with open(path) as f:
            header = f.readline().strip().split(",")
            if header[0] != "file_name":
                raise UserError(f"{path}:1: header must be 'file_name,duration,action,class_id', "
                                f"got {','.join(header)!r}")
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                fields = line.strip().split(",")
                if len(fields) != 4 or not fields[0]:
                    raise UserError(f"{where}: expected 4 comma-separated fields "
                                    f"file_name,duration,action,class_id, got {line.strip()!r}")
                if fields[0] in seen:
                    raise UserError(f"{where}: video {fields[0]} already listed at line "
                                    f"{seen[fields[0]]}")
                seen[fields[0]] = lineno
                label = _class_id(fields[-1], where, num_classes)
                if fields[0] not in drop:
                    rows.append((fields[0], label))
        feature_dir = root / config.get(
            "features_dir", "breakfast/video_swin_features/temporal_mean_pooling")
        self._setup(root, split, config, train, rows, feature_dir, BREAKFAST_EXPECTED[split],
                    num_classes, "breakfast")


def read_coin_database(path: Path) -> dict:
    require_file(path, "COIN annotation file", "put the COIN.json of the COIN dataset (the "
                 "official repo's data/COIN/COIN.json) at <data-root>/COIN/COIN.json")
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise UserError(f"{path}: expected an object with a 'database' mapping video ids to "
                        "annotations (the COIN.json format)")
    return data["database"]


class CoinDataset(SegmentDataset):
    def __init__(self, root: Path, split: str, config: Mapping, train: bool):
        root = require_root(root)
        if split not in COIN_SPLITS:
            raise UserError(f"COIN split {split!r} unknown; one of training, testing")
        split = COIN_SPLITS[split]
        num_classes = int(config.get("num_classes", 180))
        exclude = set(config.get("exclude_videos", COIN_EXCLUDED))
        path = root / config.get("annotation", "COIN/COIN.json")
        rows = []
        for vid, entry in read_coin_database(path).items():
            where = f"{path}: database[{vid!r}]"
            if not isinstance(entry, dict) or "subset" not in entry or "recipe_type" not in entry:
                raise UserError(f"{where} lacks 'subset' or 'recipe_type'")
            if vid in exclude or entry["subset"] != split:
                continue
            rows.append((vid, _class_id(str(entry["recipe_type"]), where, num_classes)))
        feature_dir = root / config.get("features_dir", "COIN/features/temporal_mean_pooling")
        self._setup(root, split, config, train, rows, feature_dir, COIN_EXPECTED[split],
                    num_classes, "coin")
