"""Small synthetic ViS4mer datasets written in the real on-disk formats (see data.py).

The task needs temporal order. Every video is a sequence of time steps (LVU: 1-s frames,
Breakfast/COIN: segments); each step shows one of k "event" prototypes (tokens x dim) plus
Gaussian noise, and every video of every class shows the same k events:
  Breakfast/COIN (``pattern="phases"``): each event once, as one phase of random length;
    the class is the order of the phases (k smallest with k! >= classes).
  LVU classification (``pattern`` is always "cycle", since a span sees only part of a
    video): events come in runs of random length cycling through all k events from a random
    start; the class is the cyclic order (k smallest with (k-1)! >= classes).
  LVU regression (like_ratio / view_count): 3 events; each run moves forward (0->1->2->0)
    with probability q or backward otherwise, q drawn per video; the target is a linear
    function of the fraction of forward moves.
Phase/run lengths, start point and noise are independent of the label, so time-averaged
features carry no label information: an order-blind model is at chance (tests check it).

Everything is deterministic for a given (config, seed). ``<root>/synthetic.json`` records
the split sizes so that ``fingerprint`` compares against them instead of the official sizes.
Features are float32. Config keys: see ``DEFAULTS`` (the loaders' own keys l_secs/segments,
tokens, dim, num_classes are shared with them).
"""

from __future__ import annotations

import itertools
import json
import math
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from reproducers.vis4mer.data import LVU_TASKS, SYNTHETIC_MARKER
from reproducers.vis4mer.lvu_data import LIKE_RATIO_MEAN, VIEW_COUNT_LOG_MEAN
from reproducers.vis4mer.segments_data import (
    BREAKFAST_CLASSES,
    BREAKFAST_DROPPED,
    COIN_EXCLUDED,
)

DEFAULTS = {
    "lvu": {"l_secs": 16, "tokens": 4, "dim": 32, "noise": 1.0, "run_length": (1, 3),
            "min_duration": 10, "max_duration": 40,
            "videos": {"train": 120, "val": 24, "test": 40}},
    "breakfast": {"segments": 32, "tokens": 4, "dim": 32, "num_classes": 10, "noise": 1.0,
                  "pattern": "phases", "run_length": (2, 5), "min_segments": 16, "max_segments": 64,
                  "videos": {"train": 120, "test": 60}},
    "coin": {"segments": 32, "tokens": 4, "dim": 32, "num_classes": 10, "noise": 1.0,
             "pattern": "phases", "run_length": (2, 5), "min_segments": 16, "max_segments": 64,
             "videos": {"training": 120, "testing": 60}},
}
LVU_CLASS_NAMES = {
    "relationship": ["friend", "ex_boyfriend_ex_girlfriend", "husband_wife", "boyfriend_girlfriend"],
    "way_speaking": ["explains", "confronts", "discuss", "teaches", "threatens"],
    "scene": ["office", "airport", "school", "hotel", "prison", "restaurant"],
    "year": [str(1930 + 10 * i) for i in range(9)],
    "genre": ["Comedy", "Action-Crime-Adventure", "Romance", "Thriller-Horror"],
}
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def _cfg(kind: str, config: Mapping) -> dict:
    out = dict(DEFAULTS[kind])
    out.update(config or {})
    return out


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _cycles(num_classes: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """``num_classes`` distinct cyclic orders of k events (k smallest with (k-1)! >= C)."""
    k = 3
    while math.factorial(k - 1) < num_classes:
        k += 1
    cycles = [(0,) + p for p in itertools.permutations(range(1, k))]
    pick = rng.permutation(len(cycles))[:num_classes]
    return [cycles[i] for i in sorted(pick)]


def _run_sequence(rng, length: int, cycle, run_length, forward_prob: float = 1.0) -> tuple[np.ndarray, float]:
    """Event id per step, and the fraction of forward moves between runs."""
    k = len(cycle)
    pos = int(rng.integers(k))
    steps, moves = [], []
    while True:
        steps.extend([cycle[pos]] * int(rng.integers(run_length[0], run_length[1] + 1)))
        if len(steps) >= length:
            break
        moves.append(bool(rng.random() < forward_prob))
        pos = (pos + (1 if moves[-1] else -1)) % k
    frac = float(np.mean(moves)) if moves else 0.5
    return np.asarray(steps[:length]), frac


def _features(rng, prototypes: np.ndarray, steps: np.ndarray, noise: float) -> np.ndarray:
    x = prototypes[steps] + noise * rng.standard_normal((len(steps),) + prototypes.shape[1:])
    return x.astype(np.float32)


def _balanced_labels(rng, n: int, num_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % num_classes)


def _video_id(rng, used: set) -> str:
    while True:
        vid = "".join(_ID_CHARS[i] for i in rng.integers(len(_ID_CHARS), size=11))
        if vid not in used:
            used.add(vid)
            return vid


def _update_marker(root: Path, key: str, counts: dict) -> None:
    marker = root / SYNTHETIC_MARKER
    info = json.loads(marker.read_text()) if marker.is_file() else {}
    info[key] = counts
    marker.write_text(json.dumps(info, indent=1, sort_keys=True))


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


# ---------------------------------------------------------------- LVU


def synthesize_lvu(root: Path, task: str | None, config: Mapping, seed: int) -> Path:
    """LVU task in the official layout: lvu_1.0/<task>/{train,val,test}.csv, durations
    (merged with an existing lvu_durations.csv) and vit_features_spatial/<id>.npy of shape
    (duration+1, tokens, dim)."""
    root = Path(root)
    c = _cfg("lvu", config)
    task = task or c.get("task")
    kind, d_output, _ = LVU_TASKS[task]
    tokens, dim = int(c["tokens"]), int(c["dim"])
    rng = _rng(seed, f"lvu/{task}")
    regression = kind == "regression"
    cycles = [(0, 1, 2)] if regression else _cycles(d_output, rng)
    prototypes = rng.standard_normal((len(cycles[0]), tokens, dim))
    names = LVU_CLASS_NAMES.get(task, [f"class{i}" for i in range(d_output)])

    dur_path = root / "lvu_1.0" / "lvu_durations.csv"
    durations: dict[str, int] = {}
    if dur_path.is_file():
        for line in dur_path.read_text().splitlines()[1:]:
            if line.strip():
                vid, d = line.split(",")
                durations[vid] = int(d)
    used = set(durations)
    counts = {}
    for split, n in c["videos"].items():
        labels = _balanced_labels(rng, n, d_output) if not regression else np.zeros(n, int)
        header = {"like_ratio": "like_count dislike_count youtube_id imdb_id",
                  "view_count": "view_count youtube_id imdb_id"}.get(
                      task, "class_id class_name youtube_id imdb_id")
        lines = [header]
        for i in range(n):
            vid = _video_id(rng, used)
            duration = int(rng.integers(c["min_duration"], c["max_duration"] + 1))
            q = float(rng.random()) if regression else 1.0
            steps, frac = _run_sequence(rng, duration + 1, cycles[labels[i]], c["run_length"], q)
            _save(root / "vit_features_spatial" / f"{vid}.npy",
                  _features(rng, prototypes, steps, c["noise"]))
            durations[vid] = duration
            imdb = f"tt{int(rng.integers(10**6, 10**7)):07d}"
            if task == "like_ratio":
                total = int(rng.integers(1000, 100000))
                like = int(round(total * (0.8 + 0.2 * frac)))
                lines.append(f"{like} {total - like} {vid} {imdb}")
            elif task == "view_count":
                views = max(1, int(round(math.exp(VIEW_COUNT_LOG_MEAN + 3.0 * (frac - 0.5)))))
                lines.append(f"{views} {vid} {imdb}")
            else:
                lines.append(f"{labels[i]} {names[labels[i]]} {vid} {imdb}")
        split_path = root / "lvu_1.0" / task / f"{split}.csv"
        split_path.parent.mkdir(parents=True, exist_ok=True)
        split_path.write_text("\n".join(lines) + "\n")
        counts[split] = n
    dur_path.write_text("videoid,duration\n" + "".join(f"{v},{d}\n" for v, d in durations.items()))
    _update_marker(root, f"lvu/{task}", counts)
    return root


def lvu_regression_target(task: str, frac: float) -> float:
    """The (pre-rounding) target synthesize_lvu encodes for a forward-move fraction."""
    if task == "like_ratio":
        return 10.0 * (0.8 + 0.2 * frac) - LIKE_RATIO_MEAN
    return 3.0 * (frac - 0.5)


# ---------------------------------------------------------------- Breakfast / COIN


def _orders(num_classes: int, pattern: str, rng) -> list[tuple[int, ...]]:
    if pattern == "cycle":
        return _cycles(num_classes, rng)
    k = 3
    while math.factorial(k) < num_classes:
        k += 1
    perms = list(itertools.permutations(range(k)))
    return [perms[i] for i in sorted(rng.permutation(len(perms))[:num_classes])]


def _phase_sequence(rng, length: int, order) -> np.ndarray:
    """Each event once, in ``order``, with random phase lengths (at least one step each)."""
    k = len(order)
    weights = rng.uniform(0.5, 1.5, size=k)
    cuts = np.floor(np.cumsum(weights) / weights.sum() * (length - k)).astype(int)
    lengths = np.diff(np.concatenate([[0], cuts])) + 1
    return np.repeat(np.asarray(order), lengths)[:length]


def _segment_videos(rng, c: Mapping, n: int, orders, prototypes):
    labels = _balanced_labels(rng, n, len(orders))
    for label in labels:
        length = int(rng.integers(c["min_segments"], c["max_segments"] + 1))
        if c["pattern"] == "cycle":
            steps, _ = _run_sequence(rng, length, orders[label], c["run_length"])
        else:
            steps = _phase_sequence(rng, length, orders[label])
        yield int(label), _features(rng, prototypes, steps, c["noise"])


def synthesize_breakfast(root: Path, config: Mapping, seed: int) -> Path:
    """breakfast/{train,test}.csv (file_name,duration,action,class_id; train also lists the 3
    videos the loader drops, without features) and
    breakfast/video_swin_features/temporal_mean_pooling/<file_name>.npy (n_seg, tokens, dim)."""
    root = Path(root)
    c = _cfg("breakfast", config)
    num_classes = int(c["num_classes"])
    rng = _rng(seed, "breakfast")
    orders = _orders(num_classes, c["pattern"], rng)
    prototypes = rng.standard_normal((len(orders[0]), int(c["tokens"]), int(c["dim"])))
    persons = {"train": range(3, 47), "test": range(47, 55)}
    feat_dir = root / "breakfast" / "video_swin_features" / "temporal_mean_pooling"
    counts = {}
    for split, n in c["videos"].items():
        people = list(persons.get(split, range(3, 55)))
        lines, per_class = ["file_name,duration,action,class_id"], [0] * num_classes
        for label, feats in _segment_videos(rng, c, n, orders, prototypes):
            action = BREAKFAST_CLASSES[label] if num_classes <= 10 else f"action{label}"
            name = BREAKFAST_DROPPED[0]
            while name in BREAKFAST_DROPPED:  # those names are listed below, without features
                slot = per_class[label]
                per_class[label] += 1
                person, cam = people[slot % len(people)], f"cam{slot // len(people) + 1:02d}"
                name = f"P{person:02d}-{cam}-P{person:02d}_{action}"
            _save(feat_dir / f"{name}.npy", feats)
            lines.append(f"{name},{len(feats) * 2},{action},{label}")
        if split == "train":
            for name in BREAKFAST_DROPPED:  # listed as in the official file, never loaded
                action = "milk" if "milk" in name else "cereals"
                lines.append(f"{name},26,{action},{BREAKFAST_CLASSES.index(action)}")
        path = root / "breakfast" / f"{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        counts[split] = n
    _update_marker(root, "breakfast", counts)
    return root


def synthesize_coin(root: Path, config: Mapping, seed: int) -> Path:
    """COIN/COIN.json ({"database": {id: {recipe_type, class, subset, start, end,
    video_url, annotation}}}, including the 2 excluded ids without features) and
    COIN/features/temporal_mean_pooling/<id>.npy (n_seg, tokens, dim)."""
    root = Path(root)
    c = _cfg("coin", config)
    num_classes = int(c["num_classes"])
    rng = _rng(seed, "coin")
    orders = _orders(num_classes, c["pattern"], rng)
    prototypes = rng.standard_normal((len(orders[0]), int(c["tokens"]), int(c["dim"])))
    feat_dir = root / "COIN" / "features" / "temporal_mean_pooling"
    database, used, counts = {}, set(), {}
    for split, n in c["videos"].items():
        subset = {"train": "training", "test": "testing"}.get(split, split)
        for label, feats in _segment_videos(rng, c, n, orders, prototypes):
            vid = _video_id(rng, used | set(COIN_EXCLUDED))
            start = round(float(rng.uniform(0, 20)), 2)
            end = round(start + len(feats) * 32 / 25.0, 2)
            _save(feat_dir / f"{vid}.npy", feats)
            database[vid] = {"recipe_type": label, "class": f"Task{label}", "subset": subset,
                             "start": start, "end": end,
                             "video_url": f"https://www.youtube.com/embed/{vid}",
                             "annotation": [{"id": str(label), "segment": [start, end],
                                             "label": f"step of task {label}"}]}
        counts[subset] = n
    for vid in COIN_EXCLUDED:  # present in the annotation, excluded by the loader
        database[vid] = {"recipe_type": 0, "class": "Task0", "subset": "training",
                         "start": 0.0, "end": 10.0, "video_url": "", "annotation": []}
    path = root / "COIN" / "COIN.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"database": database}))
    _update_marker(root, "coin", counts)
    return root
