"""One STRG training stage and the evaluation protocol.

A stage trains the declared model from its initial weights (``recipe.options``:
``init_checkpoint``, an I3D or STRG file, loaded by ``checkpoints.load_backbone``;
``imagenet``, a torchvision ResNet file inflated by ``inflate.inflate_imagenet`` with
``imagenet_inflation``; ``train_part`` "all" or "head": the paper's stage 2, GCN on frozen I3D
features). The paper's three stages are three such runs chained by the harness (not here).

Loss: softmax cross-entropy (Something-Something), binary sigmoid cross-entropy on the
multi-hot targets (Charades). Optimiser: SGD with momentum and weight decay on the trainable
tensors; lr divided by 10 after ``lr_drop`` (0.9) of the steps when ``iterations`` is given.
Evaluation: every clip scored (softmax, or sigmoid for Charades), max over the clips of a
video (the protocol's ``pool``; its ``temporal_clips`` clips per video), then top-1/top-5 or mAP; the video scores are also written in jd730's inference json
(``<output_dir>/<split>_results.json``).
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F

from reproducers.common.metrics import topk_accuracy
from reproducers.common.trainer import TrainConfig, distributed_evaluate, fit
from reproducers.harness.atomic import write_text_atomic

from .checkpoints import load_backbone, read_state
from .evaluation import jd730_results, max_over_clips, mean_average_precision
from .inflate import inflate_imagenet, read_torchvision_resnet


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


def _multilabel(ctx) -> bool:
    return ctx.data_config.get("layout", "ssv1") == "charades"


def clip_scores(model, batch: dict, device: str) -> torch.Tensor:
    """Logits (B, clips, classes) of every clip of a batch of items."""
    video = batch["video"].to(device)
    b, c = video.shape[:2]
    args = (video.flatten(0, 1),)
    if "boxes" in batch:
        args += (batch["boxes"].to(device).flatten(0, 1).to(video.dtype),)
    return model(*args).view(b, c, -1)


def _step_loss(multilabel: bool, device: str):
    def step_loss(model, batch):
        logits = clip_scores(model, batch, device)[:, 0]
        if multilabel:
            return F.binary_cross_entropy_with_logits(logits, batch["targets"].to(device))
        return F.cross_entropy(logits, batch["label"].to(device))
    return step_loss


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    opts, device, multilabel = ctx.recipe.options, _device(ctx), _multilabel(ctx)
    was_training = model.training
    model.eval().to(device)

    def forward(batch):
        logits = clip_scores(model, batch, device).float()
        probs = logits.sigmoid() if multilabel else logits.softmax(-1)
        extras = {"index": batch["index"], "label": batch["label"]}
        if multilabel:
            extras["targets"] = batch["targets"]
        pooled = max_over_clips(probs) if ctx.protocol.pool == "max" else probs.sum(1)
        return pooled.cpu(), extras

    res = distributed_evaluate(forward, dataset, dist=ctx.extras.get("dist"),
                               batch_size=opts.get("eval_batch_size", 1),
                               num_workers=opts.get("num_workers", 0))
    model.train(was_training)
    scores = res["outputs"]
    if multilabel:
        metrics = {"map": mean_average_precision(scores, res["targets"])}
    else:
        ks = (1, 5) if scores.shape[1] >= 5 else (1,)
        metrics = {f"acc@{k}": v for k, v in zip(ks, topk_accuracy(scores, res["label"], ks),
                                                 strict=True)}
    index = getattr(dataset, "index", None)
    if index is not None and ctx.output_dir is not None:
        ids = [index.samples[int(i)].video_id for i in res["index"]]
        path = ctx.output_dir / f"{ctx.reproduction.protocol.eval_split}_results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(jd730_results(ids, scores, index.classes)))
    return {"metrics": metrics, "eval_size": len(scores), "views": dataset.clips}


def _initialise(ctx, model) -> dict:
    opts, report = ctx.recipe.options, {}
    if opts.get("imagenet"):
        state = read_torchvision_resnet(opts["imagenet"])
        target = model.base_model if hasattr(model, "base_model") else model
        report["imagenet"] = inflate_imagenet(target, state,
                                              opts.get("imagenet_inflation", "mean"),
                                              source=str(opts["imagenet"]))
    if opts.get("init_checkpoint"):
        path = opts["init_checkpoint"]
        report["init_checkpoint"] = load_backbone(model, read_state(path), str(path))
    if opts.get("train_part", "all") == "head":
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
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=opts.get("momentum", 0.9),
                                weight_decay=recipe.weight_decay)
    epochs = recipe.epochs
    scheduler = None
    if opts.get("iterations"):
        per_epoch = max(1, len(train_set) // recipe.batch_size)
        epochs = max(1, math.ceil(opts["iterations"] / per_epoch))
        drop = int(opts.get("lr_drop", 0.9) * opts["iterations"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.1 if step >= drop else 1.0)
    metric = "map" if _multilabel(ctx) else "acc@1"
    key = f"{rep.protocol.eval_split}_{metric}"
    cfg = TrainConfig(epochs=epochs, global_batch=recipe.batch_size, device=ctx.device,
                      declared_gpus=recipe.gpus or None, eval_every=opts.get("eval_every", 1),
                      select="last", select_metric=key, progress=ctx.progress, seed=ctx.seed,
                      drop_last=True, num_workers=opts.get("num_workers", 0),
                      pin_memory=_device(ctx).startswith("cuda"),
                      find_unused_parameters=opts.get("train_part", "all") == "head")
    result = fit(model, optimizer, train_set, _step_loss(_multilabel(ctx), _device(ctx)), cfg,
                 ctx.output_dir, scheduler=scheduler,
                 evaluate=lambda m: {key: evaluate(ctx, m, eval_set)["metrics"][metric]},
                 resume=ctx.extras.get("resume"), dist=ctx.extras.get("dist"), log=ctx.log)
    return {"checkpoint": result.checkpoint, "last_checkpoint": result.last,
            "selected_epoch": result.selected_epoch, "steps": result.steps,
            "world_size": result.world_size, "init": init, "epochs": epochs,
            "train_part": opts.get("train_part", "all"), "history": result.history}
