"""ViS4mer datasets: public builders, fingerprint, and the helpers both loaders share.

Layout under ``--data-root`` (see DATA.md):

    lvu_1.0/<task>/{train,val,test}.csv       LVU split files (shipped by the official repo)
    lvu_1.0/lvu_durations.csv                 videoid,duration (integer seconds)
    vit_features_spatial/<youtube_id>.npy     (duration+1, 197, 1024) ViT-L/16 tokens, 1 fps
    breakfast/{train,test}.csv                file_name,duration,action,class_id
    breakfast/video_swin_features/temporal_mean_pooling/<file_name>.npy   (n_seg, 49, 1024)
    COIN/COIN.json                            database[video_id]: subset, recipe_type, start, end
    COIN/features/temporal_mean_pooling/<video_id>.npy                    (n_seg, 49, 1024)

Builders (``build(root, split, config, train) -> Dataset``) are in ``builders.py``:
``build_lvu``, ``build_breakfast``, ``build_coin`` (the loaders import this module, so it
does not import them). Every item is ``(features, target, video_index)``:
features float32 (seq_len, dim), target int64 (classification) or float32 (regression),
video_index the position of the video in ``dataset.ids``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from reproducers.harness.errors import UserError

# task -> (kind, d_output, {split: official video count}); counts are the unique ids of the
# split files shipped in data/lvu_1.0 of md-mohaiminul/ViS4mer (checked against the files).
LVU_TASKS: dict[str, tuple[str, int, dict[str, int]]] = {
    "relationship": ("classification", 4, {"train": 149, "val": 53, "test": 42}),
    "way_speaking": ("classification", 5, {"train": 939, "val": 205, "test": 201}),
    "scene": ("classification", 6, {"train": 557, "val": 120, "test": 86}),
    "director": ("classification", 10, {"train": 680, "val": 163, "test": 107}),
    "writer": ("classification", 10, {"train": 769, "val": 174, "test": 168}),
    "year": ("classification", 9, {"train": 770, "val": 165, "test": 143}),
    "genre": ("classification", 4, {"train": 3063, "val": 597, "test": 647}),
    "like_ratio": ("regression", 1, {"train": 658, "val": 142, "test": 140}),
    "view_count": ("regression", 1, {"train": 577, "val": 124, "test": 126}),
}
# data/Breakfast/{train,test}.csv hold 1357 / 355 videos; the loader drops 3 train videos.
BREAKFAST_EXPECTED = {"train": 1354, "test": 355}
# COIN.json is not in the official repository copy; split sizes are unverified.
COIN_EXPECTED: dict[str, int | None] = {"training": None, "testing": None}

SYNTHETIC_MARKER = "synthetic.json"  # written by synthetic.py: {dataset: {split: count}}


# ---------------------------------------------------------------- paths and files


def require_root(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--data-root {root} does not exist: pass the folder laid out as in "
                        "reproducers/vis4mer/DATA.md (or use --smoke for synthetic data)")
    return root


def require_file(path: Path, what: str, hint: str) -> Path:
    if not path.is_file():
        raise UserError(f"{what} {path} not found: {hint}")
    return path


def npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, without reading the array."""
    try:
        arr = np.load(path, mmap_mode="r")  # maps the file; reads only the header
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"feature file {path} is not a readable .npy file ({e}); delete it and "
                        "re-run prepare") from e
    return tuple(arr.shape), arr.dtype


def check_feature_shape(path: Path, shape: Sequence[int], tokens: int, dim: int) -> None:
    if len(shape) != 3 or shape[0] < 1 or tuple(shape[1:]) != (tokens, dim):
        raise UserError(f"feature file {path} has shape {tuple(shape)}, expected "
                        f"(n, {tokens}, {dim}); re-extract it or fix tokens/dim in the config")


def open_features(path: Path, tokens: int, dim: int) -> np.ndarray:
    """Memory-map one feature file and check its shape."""
    try:
        arr = np.load(path, mmap_mode="r")
    except FileNotFoundError as e:
        raise UserError(f"feature file {path} not found: run prepare for this dataset") from e
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"feature file {path} is not a readable .npy file ({e})") from e
    check_feature_shape(path, arr.shape, tokens, dim)
    return arr


def find_features(ids: Sequence[str], feature_dir: Path, config: Mapping,
                  tokens: int, dim: int) -> tuple[list[int], list[str], list[list[str]]]:
    """Indices of ``ids`` whose feature file exists (shape-checked), the missing ids, and
    the unreadable files ([path, reason]: bad header, truncated, wrong shape).

    A missing or unreadable file raises a UserError naming the first one, unless
    ``config["allow_missing"]`` is true: then those videos are skipped and counted (the
    official LVU loader skips missing ones with a print; the Breakfast/COIN loaders would
    crash on them), as common.video.dataset does for unreadable videos.
    """
    keep, missing, unreadable = [], [], []
    check = bool(config.get("check_shapes", True))
    allow = bool(config.get("allow_missing", False))
    for i, vid in enumerate(ids):
        path = feature_dir / f"{vid}.npy"
        if not path.is_file():
            missing.append(vid)
            continue
        if check:
            try:
                check_feature_shape(path, npy_shape(path)[0], tokens, dim)
            except UserError as e:
                if not allow:
                    raise UserError(f"{e} (or set data.allow_missing=true to skip and count "
                                    "unreadable files)") from None
                unreadable.append([str(path), str(e)])
                continue
        keep.append(i)
    if missing and not config.get("allow_missing", False):
        raise UserError(
            f"{len(missing)} of {len(ids)} feature files missing under {feature_dir}, e.g. "
            f"{feature_dir / (missing[0] + '.npy')}: run `python -m reproducers prepare ...` "
            "(see reproducers/vis4mer/DATA.md) or set allow_missing to skip them")
    return keep, missing, unreadable


def synthetic_expected(root: Path, dataset: str, split: str) -> tuple[bool, int | None]:
    """(is synthetic, expected count) from the marker synthetic.py writes."""
    marker = root / SYNTHETIC_MARKER
    if not marker.is_file():
        return False, None
    try:
        info = json.loads(marker.read_text())
    except ValueError as e:
        raise UserError(f"{marker} is not valid JSON ({e}); delete it or re-synthesize") from e
    counts = info.get(dataset)
    if counts is None:
        return False, None
    return True, counts.get(split)


# ---------------------------------------------------------------- base dataset


class FeatureVideoDataset(Dataset):
    """Shared state of the three datasets; subclasses implement __len__/__getitem__.

    Attributes: ``ids`` (videos used, in split-file order), ``targets`` (one per video),
    ``missing_ids``, ``expected`` (official count or None), ``task_type``
    ("classification" | "regression"), ``num_outputs`` (d_output), ``seq_len`` and
    ``feature_dim`` (model input), ``feature_paths``.
    """

    dataset_key = ""

    def __init__(self, *, split: str, train: bool, ids: list[str], targets: list,
                 feature_paths: list[Path], missing_ids: list[str], expected: int | None,
                 task_type: str, num_outputs: int, seq_len: int, feature_dim: int,
                 tokens: int, seed: int, unreadable: list[list[str]] | None = None):
        self.split, self.train = split, train
        self.unreadable = list(unreadable or [])  # [path, reason] skipped (allow_missing)
        self.ids, self.targets, self.feature_paths = ids, targets, feature_paths
        self.missing_ids, self.expected = missing_ids, expected
        self.task_type, self.num_outputs = task_type, num_outputs
        self.seq_len, self.feature_dim, self.tokens = seq_len, feature_dim, tokens
        self.seed = int(seed)
        self._rng_key: object = "unset"
        self._rng_obj = random.Random(self.seed)

    @property
    def video_targets(self) -> np.ndarray:
        dtype = np.int64 if self.task_type == "classification" else np.float64
        return np.asarray(self.targets, dtype=dtype)

    def _target(self, video: int) -> torch.Tensor:
        if self.task_type == "classification":
            return torch.tensor(self.targets[video], dtype=torch.int64)
        return torch.tensor(self.targets[video], dtype=torch.float32)

    def rng(self) -> random.Random:
        """A python RNG: seeded from ``seed`` in the main process and from the DataLoader's
        per-worker seed in workers (so workers draw different, reproducible samples)."""
        info = get_worker_info()
        key = None if info is None else (info.id, info.seed)
        if key != self._rng_key:
            self._rng_key = key
            if info is not None:
                self._rng_obj = random.Random(info.seed)
        return self._rng_obj

    def reseed(self, seed: int) -> None:
        """Seed the sampling RNG for the next item (the trainer seeds every sample from
        (seed, epoch, index), so span draws survive resume and any worker count)."""
        info = get_worker_info()
        self._rng_key = None if info is None else (info.id, info.seed)
        self._rng_obj = random.Random(seed)

    def _features(self, video: int) -> np.ndarray:
        return open_features(self.feature_paths[video], self.tokens, self.feature_dim)

    def bad_summary(self) -> dict:
        """Unreadable feature files skipped at build time (``allow_missing``), in the shape
        of common.video.dataset.VideoClipDataset.bad_summary, for the run record."""
        total = len(self.ids) + len(self.unreadable)
        return {"bad": len(self.unreadable), "total": total,
                "share": len(self.unreadable) / total if total else 0.0,
                "samples": [{"path": p, "reason": r} for p, r in self.unreadable]}


def fingerprint(dataset: FeatureVideoDataset) -> dict:
    """{"found", "expected", "missing" (first 20 ids), "n_missing", "id_hash"} for provenance.

    ``id_hash`` is the sha256 of the sorted ids the dataset uses, one per line.
    """
    ids = sorted(dataset.ids)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {
        "found": len(ids),
        "expected": dataset.expected,
        "missing": list(dataset.missing_ids[:20]),
        "n_missing": len(dataset.missing_ids),
        "id_hash": digest,
        **({"n_unreadable": len(dataset.unreadable)} if dataset.unreadable else {}),
    }

