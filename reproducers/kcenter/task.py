"""K-center training and the official 1 x 3-view evaluation.

Training (kami93/kcenter_video @ ef7a40a, tools/train_net.py, models/optimizer.py,
models/losses.py, utils/lr_policy.py): cross-entropy with label smoothing 0.2; AdamW
(betas 0.9/0.999), weight decay 0.05 except 1-D tensors, biases and the model's
``no_weight_decay()`` names (pos_embed, time/temp table, cls_token); with more than one GPU
the released code loses that list under DDP (``ddp_no_decay_quirk``); per-step cosine to the
end LR with no warm-up; AMP; gradient accumulation keeps the global batch on any GPU count.
Initialisation: the ImageNet ViT-B/16 file (``init_checkpoint``), see ``models.pretrained``.

Evaluation (tools/test_net.py): 1 temporal x 3 spatial views summed per video (raw logits for
ViT/TimeSformer, softmax probabilities for Motionformer, which returns them in eval mode);
acc@1 / acc@5. The first K-center pick is random at test time as released; ``sampler_seed``
seeds it (deterministic evaluation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reproducers.common.metrics import aggregate_by_video, topk_accuracy
from reproducers.common.schedules import one_dim, param_groups, warmup_cosine
from reproducers.common.trainer import TrainConfig, distributed_evaluate, fit
from reproducers.common.video.dataset import collate_drop_bad
from reproducers.harness import predictions

from .data import ColourJitter
from .models.pretrained import load_image_checkpoint
from .tokens import normalise_uint8


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    opts, device = ctx.recipe.options, _device(ctx)
    was_training = model.training
    model.eval().to(device)
    num_views = dataset.num_views
    generator = None
    if opts.get("sampler_seed") is not None:
        generator = torch.Generator(device=device).manual_seed(int(opts["sampler_seed"]))

    def forward(batch):
        index = batch["video_index"] * num_views + batch["view_index"]
        extras = {"index": index, "y": batch["label"], "video": batch["video_index"]}
        if batch["frames"] is None:
            return torch.zeros(0, ctx.model_config["num_classes"]), extras
        out = model(batch["frames"].to(device, non_blocking=True), generator=generator)
        return out.float().cpu(), extras

    res = distributed_evaluate(forward, dataset, dist=ctx.extras.get("dist"),
                               batch_size=opts.get("eval_batch_size", 4),
                               num_workers=opts.get("num_workers", 0),
                               collate_fn=collate_drop_bad)
    model.train(was_training)
    scores = aggregate_by_video(res["outputs"], res["video"], how=ctx.protocol.pool)
    target = aggregate_by_video(res["y"].float(), res["video"], how="mean").round().long()
    acc = topk_accuracy(scores, target, ks=(1, min(5, scores.shape[1])))
    ids = [dataset.ids[v] for v in torch.unique(res["video"]).tolist()]  # rows of scores
    return {"metrics": {"acc@1": acc[0], "acc@5": acc[1]}, "eval_size": len(target),
            "predictions": predictions.classification(ids, scores, target),
            "num_samples": len(res["outputs"]), "views": num_views,
            "aggregation": f"{ctx.protocol.pool} of " + (
                "softmax" if ctx.model_config.get("kind") == "motionformer" else "logits")}


def _optimizer(ctx, model, world: int):
    recipe, opts = ctx.recipe, ctx.recipe.options
    no_decay = [one_dim, "bias"]
    if not (opts.get("ddp_no_decay_quirk", True) and world > 1):
        no_decay += sorted(model.no_weight_decay())
    groups = param_groups(model, recipe.lr, recipe.weight_decay, no_decay=no_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.999),
                             weight_decay=recipe.weight_decay)


def train(ctx) -> dict:
    rep, recipe, opts = ctx.reproduction, ctx.recipe, ctx.recipe.options
    torch.manual_seed(ctx.seed)
    device = _device(ctx)
    dist = ctx.extras.get("dist")
    world = dist.world_size if dist is not None else 1
    train_set = ctx.extras["datasets"][rep.dataset.train_split]
    eval_set = ctx.extras["datasets"][rep.protocol.eval_split]
    model = rep.model.factory(**ctx.model_config)
    init = opts.get("init_checkpoint")
    if init and str(init).lower() != "none":
        loaded = load_image_checkpoint(model, str(init).format(data_root=ctx.data_root))
        ctx.log(f"[{rep.name}] ImageNet init: {len(loaded)} tensors from {init}")
    optimizer = _optimizer(ctx, model, world)
    workers = int(opts.get("num_workers", 0))
    cfg = TrainConfig(
        epochs=recipe.epochs, global_batch=recipe.batch_size, device=ctx.device,
        per_device_batch=opts.get("per_device_batch"), declared_gpus=recipe.gpus or None,
        eval_every=opts.get("eval_every", 1), grad_clip=None, amp=opts.get("amp"),
        select="last", progress=ctx.progress, seed=ctx.seed, num_workers=workers,
        pin_memory=device.startswith("cuda"), persistent_workers=workers > 0,
        tensorboard=opts.get("tensorboard", False))
    total = max(2, cfg.steps_per_epoch(len(train_set)) * recipe.epochs)
    scheduler = warmup_cosine(optimizer, 0, total, min_lr=float(opts.get("end_lr", 0.0)))
    smoothing = float(opts.get("label_smoothing", 0.2))
    jitter = None
    if (ctx.data_config.get("dataset") == "kinetics" and ctx.data_config.get("colour_jitter", True)
            and ctx.data_config.get("ship", "uint8") == "uint8"):
        jitter = ColourJitter()  # on normalised frames, as released; here on the device

    def step_loss(m, batch):
        x = batch["frames"].to(device, non_blocking=True)
        y = batch["label"].to(device, non_blocking=True)
        if jitter is not None:
            x = torch.stack([jitter(clip) for clip in normalise_uint8(x)])
        return F.cross_entropy(m(x), y, label_smoothing=smoothing)

    def run_eval(m):
        res = evaluate(ctx, m, eval_set)
        return {f"{rep.protocol.eval_split}_{k}": v for k, v in res["metrics"].items()}

    result = fit(model, optimizer, train_set, step_loss, cfg, ctx.output_dir,
                 scheduler=scheduler, evaluate=run_eval, resume=ctx.extras.get("resume"),
                 dist=dist, log=ctx.log)
    return {"checkpoint": result.checkpoint, "last_checkpoint": result.last,
            "selected_epoch": result.selected_epoch, "selection": "last epoch",
            "steps": result.steps, "world_size": result.world_size, "accum": result.accum,
            "per_device_batch": result.per_device_batch, "setup_mismatch": result.mismatch,
            "resumed_from": result.resumed_from, "history": result.history}
