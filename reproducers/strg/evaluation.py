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

Evaluation modes (recipe option ``eval_mode``):

* ``paper`` (default): the clips the data config samples (SSv1: 2 clips, full frame at short
  side 256; Charades: 10 clips), scores max-pooled per video (softmax; sigmoid and mAP on
  Charades), video-level top-1/top-5 or mAP.
* ``jd730_clip``: jd730/STRG @ 0df179c's validation (``main.py get_val_utils``,
  ``validation.py val_epoch``, ``utils.calculate_accuracy``). Its val loader samples
  ``TemporalEvenCrop(sample_duration, n_val_samples=3)``: up to 3 runs of consecutive frames
  (``common.video.samplers.strg_indices`` mode "val"; a video too short for 3 gives fewer,
  the last loop-padded), each Resize(224) (short side) + CenterCrop(224); the collate
  flattens the clips, each labelled with its video's label. Each batch's top-1 accuracy is
  averaged with the batch's clip count as weight (``AverageMeter.update(acc, n_clips)``), so
  the figure is correct clips / all clips: clip-level, videos with fewer clips weigh less.
  Something-Something only (single label). Top-5 the same way is an extension (jd730 logs
  top-1 only); ``loss`` is its val loss (cross-entropy averaged over clips). The results json
  then holds the mean of the clips' softmax per video (``inference.py``'s averaging).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from reproducers.common.metrics import topk_accuracy
from reproducers.harness import knobs, predictions
from reproducers.harness.errors import UserError

EVAL_MODES = ("paper", "jd730_clip")
#: jd730 opts.py ``--n_val_samples`` default
JD730_VAL_SAMPLES = 3


def max_over_clips(scores: torch.Tensor) -> torch.Tensor:
    """(videos, clips, classes) -> (videos, classes)."""
    return scores.amax(1)


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-class AP of (videos, classes) scores against 0/1 targets; NaN where a class has
    no positive (the harness's ``predictions.average_precision``, on tensors)."""
    return torch.from_numpy(predictions.average_precision(scores.detach().cpu(),
                                                          targets.cpu()))


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    return predictions.mean_average_precision(scores.detach().cpu(), targets.cpu())


def jd730_results(video_ids: Sequence[str], scores: torch.Tensor, labels: Sequence[str],
                  k: int = 5) -> dict:
    """jd730's averaged inference format (``--output_topk`` k; k <= 0 means every class)."""
    k = scores.shape[1] if k <= 0 else min(k, scores.shape[1])
    top = scores.topk(k, dim=1)
    return {"results": {
        vid: [{"label": labels[int(c)], "score": float(s)} for s, c in zip(vs, vc, strict=True)]
        for vid, vs, vc in zip(video_ids, top.values, top.indices, strict=True)}}


def eval_mode(options, multilabel: bool) -> str:
    mode = knobs.option(options, "eval_mode", "paper")
    if mode not in EVAL_MODES:
        raise UserError(f"option eval_mode={mode!r}: choose one of {', '.join(EVAL_MODES)}")
    if mode == "jd730_clip" and multilabel:
        raise UserError("option eval_mode=jd730_clip: jd730's clip-level validation is "
                        "single-label (Something-Something); use eval_mode=paper on Charades")
    return mode


def jd730_val_config(cfg: Mapping) -> dict:
    """A data config sampling what jd730's val loader samples: 3 even runs of ``frames``
    consecutive frames, short side resized to ``crop`` and centre-cropped to it."""
    crop = cfg.get("crop", 224)
    return {**cfg, "sampling": "jd730", "test_clips": cfg.get("n_val_samples", JD730_VAL_SAMPLES),
            "test_short_side": crop, "test_crop": crop}


def collate_clips(items: Sequence[dict], max_clips: int) -> dict:
    """Items with 1..``max_clips`` clips: ``video`` (and ``boxes``) stacked to
    (B, max_clips, ...) by repeating each item's last clip, ``n_clips`` (B,) its real count."""
    n = [len(item["video"]) for item in items]
    if max(n) > max_clips:
        raise ValueError(f"collate_clips: an item has {max(n)} clips, more than {max_clips}")

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x[-1:].expand(max_clips - len(x), *x.shape[1:])])

    batch = default_collate([{k: v for k, v in item.items() if k not in ("video", "boxes")}
                             for item in items])
    for key in ("video", "boxes"):
        if key in items[0]:
            batch[key] = torch.stack([pad(item[key]) for item in items])
    batch["n_clips"] = torch.tensor(n)
    return batch


def real_clips(n_clips: torch.Tensor, max_clips: int) -> torch.Tensor:
    """(B, max_clips) mask of the real (not padding) clips."""
    return torch.arange(max_clips)[None] < n_clips.reshape(-1, 1)


def clip_level_metrics(logits: torch.Tensor, labels: torch.Tensor, n_clips: torch.Tensor,
                       ks: Sequence[int] = (1,)) -> dict[str, float]:
    """jd730's validation figures from (videos, max_clips, classes) clip logits (padding rows
    ignored): ``acc@k`` = correct clips / clips in percent, ``loss`` = mean cross-entropy over
    the clips."""
    mask = real_clips(n_clips, logits.shape[1])
    rows = logits[mask].double()
    targets = labels.reshape(-1, 1).expand(mask.shape)[mask].long()
    out = dict(zip((f"acc@{k}" for k in ks), topk_accuracy(rows, targets, ks), strict=True))
    out["loss"] = float(F.cross_entropy(rows, targets))
    return out


def mean_clip_softmax(logits: torch.Tensor, n_clips: torch.Tensor) -> torch.Tensor:
    """(videos, classes): the mean of the real clips' softmax (jd730 ``inference.py``)."""
    mask = real_clips(n_clips, logits.shape[1]).unsqueeze(-1)
    probs = logits.double().softmax(-1).nan_to_num(0.0) * mask
    return (probs.sum(1) / n_clips.reshape(-1, 1)).float()
