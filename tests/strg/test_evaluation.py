"""Clip max-pooling, Charades mAP (by hand), jd730's results json."""

from __future__ import annotations

import math

import torch

from reproducers.strg.evaluation import (
    average_precision,
    jd730_results,
    max_over_clips,
    mean_average_precision,
)


def test_average_precision_by_hand():
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.8, 0.2, 0.2], [0.1, 0.7, 0.1], [0.4, 0.6, 0.0]])
    targets = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 0, 0]])
    ap = average_precision(scores, targets)
    # class 0: ranking v0(+), v1, v3, v2(+): (1/1 + 2/4) / 2; class 1: v2(+) first: 1
    assert math.isclose(float(ap[0]), 0.75) and math.isclose(float(ap[1]), 1.0)
    assert ap[2].isnan()  # no positive: left out of the mean
    assert math.isclose(mean_average_precision(scores, targets), 87.5)


def test_perfect_and_reversed_rankings():
    targets = torch.tensor([[1], [1], [0], [0]])
    assert mean_average_precision(torch.tensor([[4.], [3.], [2.], [1.]]), targets) == 100.0
    worst = mean_average_precision(torch.tensor([[1.], [2.], [3.], [4.]]), targets)
    assert math.isclose(worst, 100 * (1 / 3 + 2 / 4) / 2)


def test_max_over_clips_and_results_json():
    scores = torch.tensor([[[0.1, 0.5, 0.2], [0.3, 0.1, 0.0]]])
    video = max_over_clips(scores)
    assert video.tolist() == [[0.30000001192092896, 0.5, 0.20000000298023224]]
    out = jd730_results(["v1"], video, ["a", "b", "c"], k=2)
    assert [r["label"] for r in out["results"]["v1"]] == ["b", "a"]
    assert len(jd730_results(["v1"], video, ["a", "b", "c"], k=0)["results"]["v1"]) == 3
