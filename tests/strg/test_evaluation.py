"""Clip max-pooling, Charades mAP (by hand), jd730's results json and clip-level
validation."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.strg.clips import temporal_indices
from reproducers.strg.evaluation import (
    average_precision,
    clip_level_metrics,
    collate_clips,
    eval_mode,
    jd730_results,
    jd730_val_config,
    max_over_clips,
    mean_average_precision,
    mean_clip_softmax,
    real_clips,
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


# ---------------------------------------------------------------- jd730's clip-level validation

LN3 = math.log(3.0)
NAN = float("nan")
# 2 videos, up to 3 clips, 2 classes: video 0 (label 0) has 3 clips, the middle one wrong;
# video 1 (label 1) has 1 clip (rows 1-2 are padding)
CLIP_LOGITS = torch.tensor([[[LN3, 0.0], [0.0, LN3], [LN3, 0.0]],
                            [[0.0, LN3], [NAN, NAN], [NAN, NAN]]])
LABELS, N_CLIPS = torch.tensor([0, 1]), torch.tensor([3, 1])


def test_clip_level_accuracy_and_loss_by_hand():
    m = clip_level_metrics(CLIP_LOGITS, LABELS, N_CLIPS, ks=(1, 2))
    # 3 of 4 clips right; jd730's AverageMeter over batches of one video gives the same:
    # (2/3 * 3 clips + 1/1 * 1 clip) / 4 clips
    assert m["acc@1"] == 75.0 and m["acc@2"] == 100.0
    # softmax of (ln 3, 0) is (3/4, 1/4): three clips at -ln(3/4), one at -ln(1/4)
    assert math.isclose(m["loss"], (3 * math.log(4 / 3) + math.log(4)) / 4, rel_tol=1e-12)


def test_mean_clip_softmax_ignores_padding():
    scores = mean_clip_softmax(CLIP_LOGITS, N_CLIPS)
    expected = torch.tensor([[(3 / 4 + 1 / 4 + 3 / 4) / 3, (1 / 4 + 3 / 4 + 1 / 4) / 3],
                             [1 / 4, 3 / 4]])
    torch.testing.assert_close(scores, expected)


def test_collate_clips_pads_with_the_last_clip():
    def item(n, label):
        return {"video": torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1, 1) + 10 * label,
                "boxes": torch.full((n, 1, 1, 4), float(label)), "label": label, "index": label}
    batch = collate_clips([item(3, 0), item(1, 1)], max_clips=3)
    assert batch["video"].flatten().tolist() == [0, 1, 2, 10, 10, 10]
    assert batch["boxes"].shape == (2, 3, 1, 1, 4)
    assert batch["n_clips"].tolist() == [3, 1] and batch["label"].tolist() == [0, 1]
    assert real_clips(batch["n_clips"], 3).tolist() == [[True] * 3, [True, False, False]]
    with pytest.raises(ValueError, match="4 clips"):
        collate_clips([item(4, 0)], max_clips=3)


def test_jd730_val_sampling_is_temporal_even_crop():
    """jd730 TemporalEvenCrop(32, 3) on 1-based frames 1..n, here 0-based: 40 frames ->
    starts 1, 5, 9; 33 frames -> stride 1, the third run 3..33 is loop-padded (then stops);
    20 frames -> one loop-padded run."""
    from reproducers.strg import SSV1_DATA

    cfg = jd730_val_config(SSV1_DATA)
    assert (cfg["sampling"], cfg["test_clips"], cfg["test_short_side"], cfg["test_crop"]) == \
        ("jd730", 3, 224, 224)
    rng, clips = random.Random(0), cfg["test_clips"]
    assert temporal_indices(40, cfg, False, rng, clips)[:, 0].tolist() == [0, 4, 8]
    assert temporal_indices(40, cfg, False, rng, clips)[2].tolist() == list(range(8, 40))
    runs = temporal_indices(33, cfg, False, rng, clips).tolist()
    assert runs == [list(range(0, 32)), list(range(1, 33)), list(range(2, 33)) + [2]]
    assert temporal_indices(20, cfg, False, rng, clips).tolist() == \
        [list(range(20)) + list(range(12))]


def test_eval_mode_option():
    assert eval_mode({}, multilabel=False) == "paper"
    assert eval_mode({"eval_mode": "jd730_clip"}, multilabel=False) == "jd730_clip"
    with pytest.raises(UserError, match="eval_mode='video'"):
        eval_mode({"eval_mode": "video"}, multilabel=False)
    with pytest.raises(UserError, match="single-label"):
        eval_mode({"eval_mode": "jd730_clip"}, multilabel=True)


def test_results_json_read_the_way_eval_accuracy_reads_it():
    """jd730 util_scripts/eval_accuracy.py: per video, the entries sorted by score, the top-k
    labels mapped to indices of the ground truth's ``labels``; accuracy over the videos."""
    labels = ["push", "pull", "lift", "drop", "spin", "turn"]
    scores = torch.tensor([[0.1, 0.5, 0.2, 0.05, 0.1, 0.05], [0.3, 0.1, 0.2, 0.25, 0.1, 0.05]])
    truth = {"a": 1, "b": 3}
    written = json.loads(json.dumps(jd730_results(["a", "b"], scores, labels)))
    for k, expected in ((1, 0.5), (2, 1.0)):
        hits = 0
        for vid, entries in written["results"].items():
            ranked = sorted(entries, key=lambda e: e["score"], reverse=True)[:k]
            hits += truth[vid] in [labels.index(e["label"]) for e in ranked]
        assert hits / len(truth) == expected
    assert all(len(v) == 5 for v in written["results"].values())  # --output_topk 5
