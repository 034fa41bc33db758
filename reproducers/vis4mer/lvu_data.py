"""LVU dataset: 1-second-stride spans of pre-extracted ViT tokens.

Reproduces datasets/lvu_dataset.py of md-mohaiminul/ViS4mer (facts only, no code copied):
the YouTube id is the second-to-last whitespace token of a split line and the label comes
from the first token(s); the regression targets are centred with the constants of the
original LVU code; each video gives spans starting at second 0 and at every second
1..duration-l_secs, i.e. 1 + max(0, duration - l_secs) spans; a span is the frames
[start, min(start + l_secs, n_frames)) zero-padded to l_secs frames and flattened
frame-major to (l_secs * tokens, dim). The training set's length is the number of videos but
each item draws a span uniformly over all spans of all videos (official quirk: long videos
are over-sampled; ``span_sampling="per_video"`` draws the video first instead).

Differences from the official loader, on purpose: durations are read from
``lvu_1.0/lvu_durations.csv`` (the official loader hard-codes ``CMD/metadata/durations.csv``;
the official extractor uses lvu_durations.csv; override with ``durations_file``); missing
feature files raise a UserError unless ``allow_missing`` (official: printed and skipped);
features are returned as float32 (official: float64, cast by the model).

Config keys: task (required, one of LVU_TASKS), l_secs (60), tokens (197), dim (1024),
features_dir ("vit_features_spatial"), durations_file ("lvu_1.0/lvu_durations.csv"),
span_sampling ("official" | "per_video"), allow_missing (False), check_shapes (True),
seed (0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from reproducers.harness.errors import UserError
from reproducers.vis4mer.data import (
    LVU_TASKS,
    FeatureVideoDataset,
    find_features,
    require_file,
    require_root,
    synthetic_expected,
)

# Centring constants of the regression targets (official: datasets/lvu_dataset.py, from the
# original LVU code).
VIEW_COUNT_LOG_MEAN = 11.76425435683139
LIKE_RATIO_MEAN = 9.138220535629456

LVU_SPLITS = ("train", "val", "test")
SPLITS_HINT = ("copy data/lvu_1.0 of the official repo md-mohaiminul/ViS4mer to "
               "<data-root>/lvu_1.0 (see reproducers/vis4mer/DATA.md)")


def lvu_target(task: str, tokens: list[str], where: str, num_classes: int) -> float | int:
    """Label of one split line (``tokens`` = its whitespace tokens)."""
    try:
        if task == "view_count":
            views = float(tokens[0])
            if views <= 0:
                raise UserError(f"{where}: view_count {tokens[0]} must be positive")
            return math.log(views) - VIEW_COUNT_LOG_MEAN
        if task == "like_ratio":
            like, dislike = float(tokens[0]), float(tokens[1])
            if like < 0 or dislike < 0 or like + dislike <= 0:
                raise UserError(f"{where}: like/dislike counts {tokens[0]} {tokens[1]} must be "
                                "non-negative with a positive sum")
            return like / (like + dislike) * 10.0 - LIKE_RATIO_MEAN
        label = int(tokens[0])
    except ValueError as e:
        raise UserError(f"{where}: label {tokens[0]!r} is not a number ({e}); expected the "
                        "columns of the official LVU split files") from e
    if not 0 <= label < num_classes:
        raise UserError(f"{where}: class id {label} outside 0..{num_classes - 1} for task {task}")
    return label


def read_durations(path: Path) -> dict[str, int]:
    """``videoid,duration`` (header line, integer seconds)."""
    require_file(path, "LVU durations file", SPLITS_HINT)
    out: dict[str, int] = {}
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header[:2] != ["videoid", "duration"]:
            raise UserError(f"{path}:1: header must be 'videoid,duration', got {','.join(header)}")
        for lineno, line in enumerate(f, start=2):
            if not line.strip():
                continue
            parts = line.strip().split(",")
            try:
                if len(parts) != 2:
                    raise ValueError(f"{len(parts)} fields")
                out[parts[0]] = int(float(parts[1]))
            except ValueError as e:
                raise UserError(f"{path}:{lineno}: expected 'videoid,duration' with integer "
                                f"seconds, got {line.strip()!r} ({e})") from e
    return out


def read_lvu_split(path: Path, task: str, num_classes: int) -> list[tuple[str, float | int, int]]:
    """[(youtube_id, target, line number)] of one split file."""
    require_file(path, "LVU split file", SPLITS_HINT)
    min_tokens = 4 if task == "like_ratio" else 3
    rows, seen = [], {}
    with open(path) as f:
        header = f.readline().split()
        if "youtube_id" not in header:
            raise UserError(f"{path}:1: first line must be the header (e.g. 'class_id class_name "
                            f"youtube_id imdb_id'), got {' '.join(header)!r}")
        for lineno, line in enumerate(f, start=2):
            tokens = line.split()
            if not tokens:
                continue
            where = f"{path}:{lineno}"
            if len(tokens) < min_tokens:
                raise UserError(f"{where}: expected at least {min_tokens} whitespace-separated "
                                f"columns ({' '.join(header)}), got {line.strip()!r}")
            vid = tokens[-2]
            if vid in seen:
                raise UserError(f"{where}: video {vid} already listed at line {seen[vid]}")
            seen[vid] = lineno
            rows.append((vid, lvu_target(task, tokens, where, num_classes), lineno))
    return rows


class LVUDataset(FeatureVideoDataset):
    def __init__(self, root: Path, split: str, config: Mapping, train: bool):
        root = require_root(root)
        task = config.get("task")
        if task not in LVU_TASKS:
            raise UserError(f"config task {task!r} is not an LVU task; one of {', '.join(LVU_TASKS)}")
        if split not in LVU_SPLITS:
            raise UserError(f"LVU split {split!r} unknown; one of {', '.join(LVU_SPLITS)}")
        kind, d_output, official = LVU_TASKS[task]
        self.task = task
        self.l_secs = int(config.get("l_secs", 60))
        tokens, dim = int(config.get("tokens", 197)), int(config.get("dim", 1024))
        self.span_sampling = config.get("span_sampling", "official")
        if self.span_sampling not in ("official", "per_video"):
            raise UserError(f"config span_sampling {self.span_sampling!r}: use official or per_video")

        split_file = root / "lvu_1.0" / task / f"{split}.csv"
        rows = read_lvu_split(split_file, task, d_output)
        dur_file = root / config.get("durations_file", "lvu_1.0/lvu_durations.csv")
        durations = read_durations(dur_file)
        for vid, _, lineno in rows:
            if vid not in durations:
                raise UserError(f"{dur_file}: no duration for video {vid} "
                                f"(listed at {split_file}:{lineno})")
        feature_dir = root / config.get("features_dir", "vit_features_spatial")
        keep, missing, unreadable = find_features([r[0] for r in rows], feature_dir, config, tokens, dim)
        ids = [rows[i][0] for i in keep]
        synthetic, expected = synthetic_expected(root, f"lvu/{task}", split)
        super().__init__(
            split=split, train=train, ids=ids, targets=[rows[i][1] for i in keep],
            feature_paths=[feature_dir / f"{v}.npy" for v in ids], missing_ids=missing,
            expected=expected if synthetic else official[split], task_type=kind,
            num_outputs=d_output, seq_len=self.l_secs * tokens, feature_dim=dim,
            tokens=tokens, seed=int(config.get("seed", 0)), unreadable=unreadable)
        self.durations = [durations[v] for v in ids]
        n_spans = [1 + max(0, d - self.l_secs) for d in self.durations]
        self.span_video = np.repeat(np.arange(len(ids)), n_spans)
        self.span_start = np.concatenate([np.arange(n) for n in n_spans]) if ids else np.zeros(0, int)
        self._first_span = np.concatenate([[0], np.cumsum(n_spans)]).astype(np.int64)

    @property
    def num_spans(self) -> int:
        return len(self.span_video)

    def __len__(self) -> int:
        return len(self.ids) if self.train else self.num_spans

    def span(self, index: int) -> tuple[torch.Tensor, int]:
        """(window (l_secs*tokens, dim) float32, video index) of span ``index``."""
        video, start = int(self.span_video[index]), int(self.span_start[index])
        feats = self._features(video)
        window = np.zeros((self.l_secs, self.tokens, self.feature_dim), dtype=np.float32)
        end = min(start + self.l_secs, feats.shape[0])
        window[: end - start] = feats[start:end]
        return torch.from_numpy(window.reshape(-1, self.feature_dim)), video

    def __getitem__(self, index: int):
        if self.train:
            rng = self.rng()
            if self.span_sampling == "official":
                index = rng.randint(0, self.num_spans - 1)
            else:
                lo, hi = self._first_span[index], self._first_span[index + 1]
                index = rng.randint(int(lo), int(hi) - 1)
        x, video = self.span(index)
        return x, self._target(video), video
