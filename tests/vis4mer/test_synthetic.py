"""Synthetic ViS4mer data: real formats, real loaders, and a task that needs temporal order."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from reproducers.vis4mer.builders import build_breakfast, build_coin, build_lvu
from reproducers.vis4mer.data import fingerprint
from reproducers.vis4mer.synthetic import (
    DEFAULTS,
    synthesize_breakfast,
    synthesize_coin,
    synthesize_lvu,
)


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def load(ds):
    items = [ds[i] for i in range(len(ds))]
    return np.stack([x.numpy() for x, _, _ in items]), np.asarray([y.item() for _, y, _ in items])


def order_blind(x):  # time average: discards the order of the steps
    return x.mean(axis=1)


def chunk_means(x, pieces=4):  # means of consecutive time chunks: keeps coarse order
    return np.concatenate([c.mean(axis=1) for c in np.array_split(x, pieces, axis=1)], axis=1)


def lag_products(x, tokens):  # lag-1 cross-products of consecutive steps
    steps = x.reshape(x.shape[0], -1, tokens, x.shape[-1]).mean(axis=2)
    lag = np.einsum("ntd,nte->nde", steps[:, :-1], steps[:, 1:]) / steps.shape[1]
    return lag.reshape(len(x), -1)


def logreg_accuracy(xtr, ytr, xte, yte, classes, steps=150):
    torch.manual_seed(0)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a = torch.tensor((xtr - mu) / sd, dtype=torch.float32)
    b = torch.tensor((xte - mu) / sd, dtype=torch.float32)
    lin = torch.nn.Linear(a.shape[1], classes)
    opt = torch.optim.Adam(lin.parameters(), lr=0.05, weight_decay=1e-3)
    target = torch.tensor(ytr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(a), target).backward()
        opt.step()
    with torch.no_grad():
        return 100.0 * float((lin(b).argmax(1).numpy() == yte).mean())


def test_breakfast_round_trip_and_determinism(tmp_path):
    cfg = dict(DEFAULTS["breakfast"], videos={"train": 30, "test": 20})
    synthesize_breakfast(tmp_path / "a", cfg, seed=7)
    synthesize_breakfast(tmp_path / "b", cfg, seed=7)
    synthesize_breakfast(tmp_path / "c", cfg, seed=8)
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b") != tree_hash(tmp_path / "c")
    csv = (tmp_path / "a" / "breakfast" / "train.csv").read_text().splitlines()
    assert csv[0] == "file_name,duration,action,class_id" and len(csv) == 1 + 30 + 3
    train = build_breakfast(tmp_path / "a", "train", cfg, train=True)
    test = build_breakfast(tmp_path / "a", "test", cfg, train=False)
    assert len(train) == 30 and len(test) == 20  # the 3 official drops are listed, not loaded
    assert "P28-cam01-P28_cereals" not in train.ids
    fp = fingerprint(train)
    assert fp["found"] == fp["expected"] == 30 and fp["n_missing"] == 0
    x, y, v = train[0]
    assert x.shape == (cfg["segments"] * cfg["tokens"], cfg["dim"]) and 0 <= y < 10
    assert np.bincount(test.video_targets, minlength=10).tolist() == [2] * 10


def test_coin_round_trip(tmp_path):
    cfg = dict(DEFAULTS["coin"], videos={"training": 24, "testing": 12}, num_classes=12)
    synthesize_coin(tmp_path, cfg, seed=0)
    train = build_coin(tmp_path, "training", cfg, train=True)
    test = build_coin(tmp_path, "test", cfg, train=False)
    assert (len(train), len(test)) == (24, 12) and "AfiVmAjfTNs" not in train.ids
    assert fingerprint(test)["expected"] == 12
    assert sorted(set(train.video_targets.tolist())) == list(range(12))
    assert test[0][0].shape == (cfg["segments"] * cfg["tokens"], cfg["dim"])


@pytest.mark.parametrize("task", ["relationship", "director", "like_ratio", "view_count"])
def test_lvu_round_trip(tmp_path, task):
    cfg = dict(DEFAULTS["lvu"], task=task, videos={"train": 10, "val": 4, "test": 6})
    synthesize_lvu(tmp_path, "scene", dict(cfg, task="scene"), seed=0)  # shares durations
    synthesize_lvu(tmp_path, task, cfg, seed=0)
    for split, n in cfg["videos"].items():
        ds = build_lvu(tmp_path, split, cfg, train=False)
        assert len(ds.ids) == n and fingerprint(ds)["expected"] == n
        assert ds.num_spans == sum(1 + max(0, d - cfg["l_secs"]) for d in ds.durations)
        assert np.load(ds.feature_paths[0]).shape == (ds.durations[0] + 1, cfg["tokens"], cfg["dim"])
    assert len(build_lvu(tmp_path, "val", dict(cfg, task="scene"), train=False).ids) == 4
    x, y, _ = build_lvu(tmp_path, "train", cfg, train=True)[0]
    assert x.shape == (cfg["l_secs"] * cfg["tokens"], cfg["dim"])
    assert y.dtype == (torch.float32 if task in ("like_ratio", "view_count") else torch.int64)


def test_order_blind_baseline_is_at_chance_but_order_helps(tmp_path):
    cfg = dict(DEFAULTS["breakfast"], videos={"train": 300, "test": 300})
    synthesize_breakfast(tmp_path, cfg, seed=0)
    xtr, ytr = load(build_breakfast(tmp_path, "train", cfg, train=False))
    xte, yte = load(build_breakfast(tmp_path, "test", cfg, train=False))
    blind = logreg_accuracy(order_blind(xtr), ytr, order_blind(xte), yte, 10)
    aware = logreg_accuracy(chunk_means(xtr), ytr, chunk_means(xte), yte, 10)
    # chance 10 %, binomial s.e. on 300 videos 1.7 points
    assert blind < 18.0, blind
    assert aware > 60.0, aware


def test_lvu_regression_target_needs_order(tmp_path):
    cfg = dict(DEFAULTS["lvu"], task="like_ratio", videos={"train": 150, "val": 1, "test": 80})
    synthesize_lvu(tmp_path, "like_ratio", cfg, seed=0)
    sets = {s: build_lvu(tmp_path, s, cfg, train=False) for s in ("train", "test")}
    feats = {s: [np.load(p) for p in d.feature_paths] for s, d in sets.items()}
    y = {s: d.video_targets for s, d in sets.items()}

    def ridge_mse(f):
        a = np.stack([f(v) for v in feats["train"]])
        b = np.stack([f(v) for v in feats["test"]])
        mu, sd = a.mean(0), a.std(0) + 1e-6
        a, b = (a - mu) / sd, (b - mu) / sd
        w = np.linalg.solve(a.T @ a + 10 * np.eye(a.shape[1]), a.T @ (y["train"] - y["train"].mean()))
        return float(np.mean((b @ w + y["train"].mean() - y["test"]) ** 2))

    var = float(y["test"].var())
    assert ridge_mse(lambda v: v.mean(axis=(0, 1))) > 0.8 * var
    assert ridge_mse(lambda v: lag_products(v[None].reshape(1, -1, v.shape[-1]), v.shape[1])[0]) < 0.3 * var
