"""ViS4mer training and evaluation (official: run_lvu.py, run_breakfast.py, run_coin.py in
md-mohaiminul/ViS4mer).

Recipe: AdamW with the S4 dt/A/B tensors in their own group (lr 1e-3, wd 0), the rest at
lr/wd of the recipe; CrossEntropy for classification, MSE on output[:, 0] for regression.
Scheduler options (``recipe.options["scheduler"]``):
  - "official": ReduceLROnPlateau(mode="min", factor 0.2) stepped with the selection metric,
    i.e. with *accuracy* for classification (the official quirk: the LR drops when accuracy
    fails to fall); LVU steps every 10 epochs with val, Breakfast/COIN every epoch with test;
  - "plateau": the same but with the mode that matches the metric's direction;
  - "none": constant LR.
Evaluation: per-span (LVU) or per-video (Breakfast/COIN) outputs are aggregated per video:
summed softmax then argmax for classification, mean prediction for regression.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from reproducers.common.metrics import aggregate_by_video, mse, topk_accuracy
from reproducers.common.training import FitConfig, fit

from .model import optimizer_param_groups


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _is_regression(ctx) -> bool:
    return ctx.model_config["d_output"] == 1


def _split_batch(batch):
    if len(batch) == 3:
        return batch
    x, y = batch
    return x, y, None


def _loss(ctx):
    regression = _is_regression(ctx)
    device = ctx.device

    def step_loss(model, batch):
        x, y, _ = _split_batch(batch)
        out = model(x.to(device, non_blocking=True))
        y = y.to(device, non_blocking=True)
        if regression:
            return torch.nn.functional.mse_loss(out[:, 0], y.float())
        return torch.nn.functional.cross_entropy(out, y.long())

    return step_loss


def _loader(ctx, dataset, train: bool) -> DataLoader:
    opts = ctx.recipe.options
    bs = ctx.recipe.batch_size if train else opts.get("eval_batch_size", ctx.recipe.batch_size)
    workers = opts.get("num_workers", 0)
    return DataLoader(
        dataset,
        batch_size=bs,
        shuffle=train and opts.get("shuffle", True),
        num_workers=workers,
        pin_memory=ctx.device.startswith("cuda"),
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(ctx.seed) if train else None,
    )


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    """Video-level metrics on ``dataset`` (every span/clip scored once)."""
    was_training = model.training
    model.eval().to(ctx.device)
    outs, targets, videos = [], [], []
    offset = 0
    for batch in _loader(ctx, dataset, train=False):
        x, y, vid = _split_batch(batch)
        outs.append(model(x.to(ctx.device)).float().cpu())
        targets.append(y)
        if vid is None:
            vid = torch.arange(offset, offset + len(y))
        videos.append(vid)
        offset += len(y)
    model.train(was_training)
    out, y, vid = torch.cat(outs), torch.cat(targets), torch.cat(videos)
    if _is_regression(ctx):
        pred = aggregate_by_video(out[:, 0], vid, how="mean")
        target = aggregate_by_video(y.float(), vid, how="mean")
        return {"metrics": {"mse": float(mse(pred, target))}, "eval_size": len(pred),
                "num_samples": len(out)}
    scores = aggregate_by_video(out, vid, how="sum_softmax")
    target = aggregate_by_video(y.float(), vid, how="mean").round().long()
    ks = (1, 5) if scores.shape[1] >= 5 else (1,)
    acc = topk_accuracy(scores, target, ks=ks)
    metrics = {f"acc@{k}": float(v) for k, v in zip(ks, acc, strict=True)}
    return {"metrics": metrics, "eval_size": len(scores), "num_samples": len(out)}


def train(ctx) -> dict:
    rep, recipe, opts = ctx.reproduction, ctx.recipe, ctx.recipe.options
    _seed_everything(ctx.seed)
    datasets = ctx.extras["datasets"]
    train_set = datasets[rep.dataset.train_split]
    select_split = opts.get("select_split", rep.protocol.eval_split)
    if select_split not in datasets:
        datasets[select_split] = rep.dataset.build(ctx.data_root, select_split, ctx.data_config,
                                                   train=False)
    select_set = datasets[select_split]
    report_set = datasets[rep.protocol.eval_split]

    model = rep.model.factory(**ctx.model_config)
    groups = optimizer_param_groups(model, lr=recipe.lr, weight_decay=recipe.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    for i, g in enumerate(optimizer.param_groups):
        ctx.log(f"Optimizer group {i} | {len(g['params'])} tensors | lr {g['lr']} | "
                f"weight_decay {g['weight_decay']}")
    metric = "mse" if _is_regression(ctx) else "acc@1"
    higher = metric != "mse"
    scheduler_kind = opts.get("scheduler", "official")
    scheduler = None
    if scheduler_kind in ("official", "plateau"):
        mode = "min" if scheduler_kind == "official" or not higher else "max"
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=opts.get("plateau_factor", 0.2),
            patience=opts.get("plateau_patience", 1))
    elif scheduler_kind != "none":
        raise ValueError(f"unknown scheduler option {scheduler_kind!r}")

    eval_every = opts.get("eval_every", 1)
    key = f"{select_split}_{metric}"

    def run_eval(m):
        row = {key: evaluate(ctx, m, select_set)["metrics"][metric]}
        if report_set is not select_set:
            row[f"{rep.protocol.eval_split}_{metric}"] = evaluate(ctx, m, report_set)["metrics"][metric]
        return row

    def after_epoch(epoch, row):
        if scheduler is not None and key in row:
            scheduler.step(row[key])

    cfg = FitConfig(
        epochs=recipe.epochs,
        device=ctx.device,
        eval_every=eval_every,
        select=opts.get("select", "last"),
        select_metric=key,
        select_higher=higher,
        progress=ctx.progress,
    )
    result = fit(model, optimizer, _loader(ctx, train_set, train=True), _loss(ctx), cfg,
                 ctx.output_dir, evaluate=run_eval, after_epoch=after_epoch, log=ctx.log)
    return {
        "checkpoint": result.checkpoint,
        "last_checkpoint": result.last,
        "selected_epoch": result.selected_epoch,
        "selection": f"{cfg.select} by {key}" if cfg.select == "best" else "last epoch",
        "steps": result.steps,
        "history": result.history,
    }
