"""Evaluation metrics as pure functions (single-process and distributed evaluation alike).

Inputs may be torch tensors or numpy arrays; results are python floats or numpy arrays.
For distributed evaluation gather ``scores``, ``targets``/``video_index`` (and the sample
indices, to drop the padding a ``DistributedSampler`` adds) from every rank, then call these
functions once on the concatenation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Aggregation = Literal["sum_softmax", "sum", "max", "mean"]


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def topk_accuracy(logits, targets, ks: Sequence[int] = (1, 5)) -> list[float]:
    """Top-k accuracy in percent, one value per k in ``ks`` order.

    ``logits``: (N, C) scores (logits, probabilities or summed probabilities: only their
    order matters); ``targets``: (N,) integer labels. A k larger than C counts as C. Ties
    are broken towards the lower class index (as ``argmax``).
    """
    scores = _np(logits).astype(np.float64)
    labels = _np(targets).astype(np.int64).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"topk_accuracy: logits {scores.shape} and targets {labels.shape} disagree")
    if labels.size == 0:
        raise ValueError("topk_accuracy: no samples")
    # stable descending order, so equal scores rank by class index like argmax does
    order = np.argsort(-scores, axis=1, kind="stable")
    out = []
    for k in ks:
        k = min(int(k), scores.shape[1])
        hit = (order[:, :k] == labels[:, None]).any(axis=1)
        out.append(100.0 * float(hit.mean()))
    return out


def mse(pred, target) -> float:
    """Mean squared error over all elements (float64 accumulation)."""
    p = _np(pred).astype(np.float64).reshape(-1)
    t = _np(target).astype(np.float64).reshape(-1)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"mse: pred {p.shape} and target {t.shape} disagree or are empty")
    return float(np.mean((p - t) ** 2))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def aggregate_by_video(scores, video_index, how: Aggregation, sample_index=None):
    """Combine per-span scores into per-video scores.

    ``how="sum_softmax"``: sum the per-span softmax probabilities of each video (argmax of the
    result is the video prediction; official: ``eval`` in run_lvu.py of md-mohaiminul/ViS4mer,
    identical to src/run.py of chaoyuaw/lvu). ``how="mean"``: average the per-span
    predictions (regression; a (N, 1) input is treated as (N,)). ``how="sum"``: sum the rows
    as they are (scores that already are probabilities: PySlowFast ``TestMeter`` with
    ``DATA.ENSEMBLE_METHOD "sum"``). ``how="max"``: the element-wise maximum over the rows
    (``DATA.ENSEMBLE_METHOD "max"``; max over clips in the Non-local / STRG protocol).

    ``sample_index`` (optional, (N,)): dataset index of each row; rows repeating an index
    already seen are dropped, which removes a ``DistributedSampler``'s padding.

    Returns the per-video scores in video order (ascending video index, i.e. dataset order;
    ``np.unique(video_index)`` lists those videos): (V, C) for "sum_softmax", (V,) or (V, C)
    for "mean". A torch tensor in gives a torch tensor out (float scores keep their dtype),
    anything else a numpy float64 array.
    """
    s = _np(scores).astype(np.float64)
    v = _np(video_index).astype(np.int64).reshape(-1)
    if s.ndim == 2 and s.shape[1] == 1 and how == "mean":
        s = s[:, 0]
    if s.shape[0] != v.shape[0]:
        raise ValueError(f"aggregate_by_video: {s.shape[0]} scores but {v.shape[0]} video indices")
    if sample_index is not None:
        idx = _np(sample_index).astype(np.int64).reshape(-1)
        if idx.shape[0] != v.shape[0]:
            raise ValueError("aggregate_by_video: sample_index length differs from scores")
        _, first = np.unique(idx, return_index=True)
        keep = np.sort(first)
        s, v = s[keep], v[keep]
    _, inverse = np.unique(v, return_inverse=True)
    n_videos = int(inverse.max()) + 1 if inverse.size else 0
    if how == "sum_softmax":
        if s.ndim != 2:
            raise ValueError("aggregate_by_video: sum_softmax needs (N, C) scores")
        per = np.zeros((n_videos, s.shape[1]))
        np.add.at(per, inverse, _softmax(s))
    elif how == "sum":
        per = np.zeros((n_videos,) + s.shape[1:])
        np.add.at(per, inverse, s)
    elif how == "max":
        per = np.full((n_videos,) + s.shape[1:], -np.inf)
        np.maximum.at(per, inverse, s)
    elif how == "mean":
        shape = (n_videos,) + s.shape[1:]
        per = np.zeros(shape)
        np.add.at(per, inverse, s)
        counts = np.bincount(inverse, minlength=n_videos).astype(np.float64)
        per /= counts.reshape((-1,) + (1,) * (per.ndim - 1))
    else:
        raise ValueError(f"aggregate_by_video: unknown how={how!r} (sum_softmax, sum, max "
                         f"or mean)")
    if hasattr(scores, "detach"):
        import torch

        dtype = scores.dtype if scores.is_floating_point() else torch.float64
        return torch.from_numpy(per).to(dtype)
    return per
