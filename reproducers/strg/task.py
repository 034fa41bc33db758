"""One STRG training stage and the evaluation protocol.

A stage trains the declared model from its initial weights (the declared chained init,
loaded by the harness into every model the factory builds; then the typed options
``recipe.STRGOptions``: ``init_checkpoint``, an I3D or STRG file, loaded by
``checkpoints.load_backbone``; ``imagenet``, a torchvision ResNet file inflated by
``inflate.inflate_imagenet`` with ``imagenet_inflation``; ``train_part`` "all" or "head": the
paper's stage 2, GCN on frozen I3D features). The paper's three stages are three such runs
chained by the harness (``InitFrom`` in ``__init__.py``).

Loss: softmax cross-entropy (Something-Something), binary sigmoid cross-entropy on the
multi-hot targets (Charades). Optimiser: SGD with momentum and weight decay on the trainable
tensors; schedule "step": lr divided by 10 after ``lr_drop`` (0.9) of the steps (``iterations``
when given, else the epochs' steps); "constant": no decay.
Evaluation: every clip scored (softmax, or sigmoid for Charades), max over the clips of a
video (the protocol's ``pool`` over its ``temporal_clips`` clips per video), then top-1/top-5 or
mAP; the video scores are also written in jd730's inference json
(``<output_dir>/<split>_results.json``). ``eval_mode=jd730_clip``: jd730's clip-level
validation instead (``evaluation.py``).
Boxes: from the box store with the batch (default), or ``proposals=online``: jd730's RPN on
every batch (``online.py``), its counts in the result's ``proposals``.
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F

from reproducers.common.metrics import topk_accuracy
from reproducers.common.recipe import train_config
from reproducers.common.trainer import distributed_evaluate, fit
from reproducers.harness import predictions
from reproducers.harness.atomic import write_text_atomic

from .checkpoints import load_backbone, read_state
from .clips import STRGClips
from .evaluation import (
    JD730_VAL_SAMPLES,
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
from .inflate import inflate_imagenet, read_torchvision_resnet
from .online import counts, proposals_for, record


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


def _multilabel(ctx) -> bool:
    return ctx.data_config.get("layout", "ssv1") == "charades"


def clip_scores(model, batch: dict, device: str, online=None) -> torch.Tensor:
    """Logits (B, clips, classes) of every clip of a batch of items; ``online``: the run's
    online RPN (``online.py``) computes the boxes, else they come with the batch (store)."""
    video = batch["video"].to(device)
    b, c = video.shape[:2]
    args = (video.flatten(0, 1),)
    if online is not None:
        args += (online.boxes(args[0]),)
    elif "boxes" in batch:
        args += (batch["boxes"].to(device).flatten(0, 1).to(video.dtype),)
    return model(*args).view(b, c, -1)


def _step_loss(multilabel: bool, device: str, online=None):
    def step_loss(model, batch):
        logits = clip_scores(model, batch, device, online)[:, 0]
        if multilabel:
            return F.binary_cross_entropy_with_logits(logits, batch["targets"].to(device))
        return F.cross_entropy(logits, batch["label"].to(device))
    return step_loss


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    opts, device, multilabel = ctx.recipe.options, _device(ctx), _multilabel(ctx)
    if eval_mode(opts, multilabel) == "jd730_clip":
        return evaluate_jd730_clips(ctx, model, dataset)
    was_training = model.training
    model.eval().to(device)
    online = proposals_for(ctx)
    since = counts(online)

    def forward(batch):
        logits = clip_scores(model, batch, device, online).float()
        probs = logits.sigmoid() if multilabel else logits.softmax(-1)
        extras = {"index": batch["index"], "label": batch["label"]}
        if multilabel:
            extras["targets"] = batch["targets"]
        pooled = max_over_clips(probs) if ctx.protocol.pool == "max" else probs.sum(1)
        return pooled.cpu(), extras

    res = distributed_evaluate(forward, dataset, dist=ctx.extras.get("dist"),
                               batch_size=opts.eval_batch_size or 1,
                               num_workers=opts.num_workers)
    model.train(was_training)
    scores = res["outputs"]
    if multilabel:
        metrics = {"map": mean_average_precision(scores, res["targets"])}
    else:
        ks = (1, 5) if scores.shape[1] >= 5 else (1,)
        metrics = {f"acc@{k}": v for k, v in zip(ks, topk_accuracy(scores, res["label"], ks),
                                                 strict=True)}
    index = getattr(dataset, "index", None)
    ids = [index.samples[int(i)].video_id if index is not None else str(int(i))
           for i in res["index"]]
    if index is not None and ctx.output_dir is not None:
        path = ctx.output_dir / f"{ctx.reproduction.protocol.eval_split}_results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(jd730_results(ids, scores, index.classes)))
    # per-sample scores beside the record: claims compare two runs video by video
    targets = res["targets"] if multilabel else res["label"]
    out = {"metrics": metrics, "eval_size": len(scores), "views": dataset.clips,
           "predictions": predictions.classification(ids, scores, targets)}
    if online is not None:  # the store path records its padding in the data fingerprint
        out["proposals"] = record(ctx, since)
    return out


@torch.no_grad()
def evaluate_jd730_clips(ctx, model, dataset) -> dict:
    """``eval_mode=jd730_clip`` (``evaluation.py``): the split re-sampled as jd730's val
    loader samples it, every clip scored, clip-level accuracy; per-clip predictions
    (``<video id>#<clip>``), so the record's acc@k recomputes from them."""
    from reproducers.harness.predictions import classification

    opts, device = ctx.recipe.options, _device(ctx)
    cfg = jd730_val_config(dataset.cfg)
    k_max = cfg.get("test_clips", JD730_VAL_SAMPLES)  # jd730's n_val_samples, not the protocol's
    clips = STRGClips(dataset.samples, cfg, train=False, store=dataset.store, seed=dataset.seed,
                      clips=k_max)
    was_training = model.training
    model.eval().to(device)
    online = proposals_for(ctx)
    since = counts(online)

    def forward(batch):
        real = real_clips(batch["n_clips"], k_max)
        video = batch["video"][real].to(device)
        args = (video,)
        if online is not None:
            args += (online.boxes(video),)
        elif "boxes" in batch:
            args += (batch["boxes"][real].to(device).to(video.dtype),)
        logits = model(*args).float().cpu()
        out = torch.full((len(real), k_max, logits.shape[-1]), float("nan"))
        out[real] = logits
        return out, {"index": batch["index"], "label": batch["label"],
                     "n_clips": batch["n_clips"]}

    res = distributed_evaluate(forward, clips, dist=ctx.extras.get("dist"),
                               batch_size=opts.eval_batch_size or 1,
                               num_workers=opts.num_workers,
                               collate_fn=lambda items: collate_clips(items, k_max))
    model.train(was_training)
    logits, n_clips, labels = res["outputs"], res["n_clips"], res["label"]
    ks = (1, 5) if logits.shape[-1] >= 5 else (1,)
    metrics = clip_level_metrics(logits, labels, n_clips, ks)
    loss = metrics.pop("loss")
    real = real_clips(n_clips, k_max)
    out = {"metrics": metrics, "eval_size": len(logits), "eval_mode": "jd730_clip",
           "clips": int(n_clips.sum()), "loss": loss}
    if online is not None:
        out["proposals"] = record(ctx, since)
    index = getattr(dataset, "index", None)
    if index is not None:
        vids = [index.samples[int(i)].video_id for i in res["index"]]
        ids = [f"{v}#{j}" for v, n in zip(vids, n_clips.tolist(), strict=True)
               for j in range(n)]
        out["predictions"] = classification(ids, logits[real].softmax(-1),
                                            labels.reshape(-1, 1).expand(real.shape)[real])
        if ctx.output_dir is not None:
            path = ctx.output_dir / f"{ctx.reproduction.protocol.eval_split}_results.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            scores = mean_clip_softmax(logits, n_clips)
            write_text_atomic(path, json.dumps(jd730_results(vids, scores, index.classes)))
    return out


def _initialise(ctx, model) -> dict:
    opts, report = ctx.recipe.options, {}
    if opts.imagenet:
        state = read_torchvision_resnet(opts.imagenet)
        target = model.base_model if hasattr(model, "base_model") else model
        report["imagenet"] = inflate_imagenet(target, state,
                                              opts.imagenet_inflation,
                                              source=str(opts.imagenet))
    if opts.init_checkpoint:
        path = opts.init_checkpoint
        report["init_checkpoint"] = load_backbone(model, read_state(path), str(path))
    if opts.train_part == "head":
        model.set_freeze_backbone(True)
    return report


def train(ctx) -> dict:
    rep, recipe, opts = ctx.reproduction, ctx.recipe, ctx.recipe.options
    torch.manual_seed(ctx.seed)
    datasets = ctx.extras["datasets"]
    train_set = datasets[rep.dataset.train_split]
    eval_set = datasets[rep.protocol.eval_split]
    model = rep.model.factory(**ctx.model_config)
    init = _initialise(ctx, model)
    online = proposals_for(ctx)  # before training: a missing RPN file fails first
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=opts.momentum,
                                weight_decay=recipe.weight_decay)
    per_epoch = max(1, len(train_set) // recipe.batch_size)
    epochs = max(1, math.ceil(opts.iterations / per_epoch)) if opts.iterations else recipe.epochs
    scheduler = None
    if recipe.schedule == "step":
        drop = int(opts.lr_drop * (opts.iterations or epochs * per_epoch))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.1 if step >= drop else 1.0)
    metric = "map" if _multilabel(ctx) else "acc@1"
    key = f"{rep.protocol.eval_split}_{metric}"
    cfg = train_config(ctx, device=_device(ctx), select_metric=key, epochs=epochs,
                       eval_every=opts.eval_every or epochs,
                       find_unused_parameters=opts.train_part == "head")
    result = fit(model, optimizer, train_set,
                 _step_loss(_multilabel(ctx), _device(ctx), online), cfg,
                 ctx.output_dir, scheduler=scheduler,
                 evaluate=lambda m: {key: evaluate(ctx, m, eval_set)["metrics"][metric]},
                 resume=ctx.extras.get("resume"), dist=ctx.extras.get("dist"), log=ctx.log)
    out = {"checkpoint": result.checkpoint, "last_checkpoint": result.last,
           "selected_epoch": result.selected_epoch, "steps": result.steps,
           # option files; "init" is the harness's account of the chained init
           "world_size": result.world_size, "init_files": init, "epochs": epochs,
           "train_part": opts.train_part, "history": result.history}
    if online is not None:  # every box frame of the run (training and its evaluations)
        out["proposals"] = record(ctx)
    return out
