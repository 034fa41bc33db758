"""ViS4mer training and evaluation (official: run_lvu.py, run_breakfast.py, run_coin.py in
md-mohaiminul/ViS4mer).

Recipe: AdamW with the S4 dt/A/B tensors in their own group (lr 1e-3, wd 0), the rest at
lr/wd of the recipe; CrossEntropy for classification, MSE on output[:, 0] for regression.
Schedules (``recipe.schedule``; knobs in ``recipe.ViS4merOptions``):
  - "official": ReduceLROnPlateau(mode="min", factor 0.2) stepped with the selection metric,
    i.e. with *accuracy* for classification (the official quirk: the LR drops when accuracy
    fails to fall); LVU steps every 10 epochs with val, Breakfast/COIN every epoch with test;
  - "plateau": the same but with the mode that matches the metric's direction;
  - "constant": constant LR.
Evaluation: per-span (LVU) or per-video (Breakfast/COIN) outputs are aggregated per video:
summed softmax then argmax for classification, mean prediction for regression.
"""

from __future__ import annotations

import torch

from reproducers.common.metrics import aggregate_by_video, mse, topk_accuracy
from reproducers.common.recipe import fit_summary, train_config
from reproducers.common.trainer import PlainStep, distributed_evaluate, fit, scaled_lr
from reproducers.harness import predictions

from .model import optimizer_param_groups


def _is_regression(ctx) -> bool:
    return ctx.model_config["d_output"] == 1


def _loss(ctx, device: str):
    regression = _is_regression(ctx)

    def step_loss(model, batch):
        x, y, _ = batch
        out = model(x.to(device, non_blocking=True))
        y = y.to(device, non_blocking=True)
        if regression:
            return torch.nn.functional.mse_loss(out[:, 0], y.float())
        return torch.nn.functional.cross_entropy(out, y.long())

    return step_loss


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    """Video-level metrics on ``dataset``: every span/clip scored exactly once, across ranks
    when distributed, then aggregated per video as in one process."""
    opts, device = ctx.recipe.options, _device(ctx)
    was_training = model.training
    model.eval().to(device)

    def forward(batch):
        x, y, vid = batch
        return model(x.to(device)).float().cpu(), {"y": y, "video": vid}

    res = distributed_evaluate(forward, dataset, dist=ctx.extras.get("dist"),
                               batch_size=opts.eval_batch_size or ctx.recipe.batch_size,
                               num_workers=opts.num_workers)
    model.train(was_training)
    out, y, vid = res["outputs"], res["y"], res["video"]
    ids = [dataset.ids[v] for v in torch.unique(vid).tolist()]  # rows of the per-video arrays
    if _is_regression(ctx):
        pred = aggregate_by_video(out[:, 0], vid, how="mean")
        target = aggregate_by_video(y.float(), vid, how="mean")
        return {"metrics": {"mse": float(mse(pred, target))}, "eval_size": len(pred),
                "num_samples": len(out), "predictions": predictions.regression(ids, pred, target)}
    scores = aggregate_by_video(out, vid, how="sum_softmax")
    target = aggregate_by_video(y.float(), vid, how="mean").round().long()
    ks = (1, 5) if scores.shape[1] >= 5 else (1,)
    acc = topk_accuracy(scores, target, ks=ks)
    metrics = {f"acc@{k}": float(v) for k, v in zip(ks, acc, strict=True)}
    return {"metrics": metrics, "eval_size": len(scores), "num_samples": len(out),
            "predictions": predictions.classification(ids, scores, target)}


def train(ctx) -> dict:
    rep, recipe, opts = ctx.reproduction, ctx.recipe, ctx.recipe.options
    torch.manual_seed(ctx.seed)  # model init; the trainer seeds data and dropout itself
    datasets = ctx.extras["datasets"]
    train_set = datasets[rep.dataset.train_split]
    select_split = opts.select_split or rep.protocol.eval_split
    if select_split not in datasets:
        datasets[select_split] = rep.dataset.build(ctx.data_root, select_split, ctx.data_config,
                                                   train=False)
    select_set = datasets[select_split]
    report_set = datasets[rep.protocol.eval_split]

    model = rep.model.factory(**ctx.model_config)
    rule = recipe.lr_scaling.split(":")[0].strip()
    lr = scaled_lr(recipe.lr, recipe.batch_size, recipe.batch_size, rule)  # global batch kept
    groups = optimizer_param_groups(model, lr=lr, weight_decay=recipe.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=recipe.weight_decay)
    for i, g in enumerate(optimizer.param_groups):
        ctx.log(f"Optimizer group {i} | {len(g['params'])} tensors | lr {g['lr']} | "
                f"weight_decay {g['weight_decay']}")
    metric = "mse" if _is_regression(ctx) else "acc@1"
    higher = metric != "mse"
    plateau = None
    if recipe.schedule in ("official", "plateau"):
        mode = "min" if recipe.schedule == "official" or not higher else "max"
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=opts.plateau_factor, patience=opts.plateau_patience)

    key = f"{select_split}_{metric}"

    def run_eval(m):
        row = {key: evaluate(ctx, m, select_set)["metrics"][metric]}
        if report_set is not select_set:
            row[f"{rep.protocol.eval_split}_{metric}"] = evaluate(ctx, m, report_set)["metrics"][metric]
        return row

    def after_epoch(epoch, row):
        if plateau is not None and key in row:
            plateau.step(row[key])

    device = _device(ctx)
    # the official model builds `encoder` even when d_input == d_model and skips it in
    # forward: its parameters get no gradient, which DDP must be told about
    cfg = train_config(ctx, device=device, select_metric=key, select_higher=higher,
                       find_unused_parameters=ctx.model_config["d_input"]
                       == ctx.model_config["d_model"])
    result = fit(model, optimizer, train_set, PlainStep(_loss(ctx, _device(ctx))), cfg,
                 ctx.output_dir, evaluate=run_eval, after_epoch=after_epoch,
                 extra_state={"plateau": plateau} if plateau is not None else None,
                 resume=ctx.extras.get("resume"), dist=ctx.extras.get("dist"), log=ctx.log)
    return {**fit_summary(result, cfg), "lr_scaling": {"rule": rule, "lr": lr}}
