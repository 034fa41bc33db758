"""Video-level scores and metrics of the STRG protocols.

* Clip aggregation: the paper max-pools the scores of its clips (2 on Something-Something,
  10 on Charades, p11).
* Charades mAP: per class, the average precision of the videos ranked by score (the mean of
  the precision at the rank of each positive), then the mean over classes that have a
  positive, as the Charades v1 evaluation script does (classes without one give NaN and are
  left out). Ties keep the input order. In percent.
* jd730's inference json (``inference.py``): {"results": {video id: [{"label", "score"}, ...
  top-k, best first]}}, the file its ``util_scripts/eval_accuracy.py`` reads
  (use ``--subset validation``: its README's ``--subset val`` matches nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def max_over_clips(scores: torch.Tensor) -> torch.Tensor:
    """(videos, clips, classes) -> (videos, classes)."""
    return scores.amax(1)


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-class AP of (videos, classes) scores against 0/1 targets; NaN where a class has
    no positive."""
    order = scores.argsort(dim=0, descending=True, stable=True)
    hits = targets.gather(0, order).double()
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)[:, None]
    positives = hits.sum(0)
    return (precision * hits).sum(0) / positives  # 0/0 -> NaN for classes without positives


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    ap = average_precision(scores, targets)
    ap = ap[~ap.isnan()]
    return float(ap.mean() * 100) if len(ap) else float("nan")


def jd730_results(video_ids: Sequence[str], scores: torch.Tensor, labels: Sequence[str],
                  k: int = 5) -> dict:
    """jd730's averaged inference format (``--output_topk`` k; k <= 0 means every class)."""
    k = scores.shape[1] if k <= 0 else min(k, scores.shape[1])
    top = scores.topk(k, dim=1)
    return {"results": {
        vid: [{"label": labels[int(c)], "score": float(s)} for s, c in zip(vs, vc, strict=True)]
        for vid, vs, vc in zip(video_ids, top.values, top.indices, strict=True)}}
