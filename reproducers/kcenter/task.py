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
acc@1 / acc@5. The first K-center pick is random at test time as released (reproducible there
only through RNG_SEED); here each view's first picks are drawn from (``ctx.seed``, view index)
(``first_centres``), so an evaluation is reproducible on any batch size or process count, and
``--seeds N`` repeats it over N sampler seeds (``Task.random_evaluation``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reproducers.common.metrics import aggregate_by_video, topk_accuracy
from reproducers.common.recipe import fit_summary, train_config
from reproducers.common.schedules import one_dim, param_groups, warmup_cosine
from reproducers.common.trainer import distributed_evaluate, fit
from reproducers.common.video.dataset import collate_drop_bad
from reproducers.harness import predictions

from .data import ColourJitter
from .models.pretrained import load_image_checkpoint
from .tokens import normalise_uint8


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


def first_centres(seed: int, index: torch.Tensor, segments: int) -> torch.Tensor:
    """First K-center picks [len(index) * segments] (sample-major; the sampler reduces them
    mod the segment size, as released) drawn from (``seed``, sample index) alone: the same
    on any batch size, loader worker count or process count."""
    draws = [np.random.default_rng([seed, i]).integers(0, 2**31 - 1, segments)
             for i in index.tolist()]
    return torch.from_numpy(np.concatenate(draws)) if draws else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    opts, device = ctx.recipe.options, _device(ctx)
    was_training = model.training
    model.eval().to(device)
    num_views = dataset.num_views
    sampler = getattr(getattr(model, "module", model), "sampler", None)  # None: frames only

    def forward(batch):
        index = batch["video_index"] * num_views + batch["view_index"]
        extras = {"index": index, "y": batch["label"], "video": batch["video_index"]}
        if batch["frames"] is None:
            return torch.zeros(0, ctx.model_config["num_classes"]), extras
        init = (None if sampler is None else
                first_centres(ctx.seed, index, sampler.time_division).to(device))
        out = model(batch["frames"].to(device, non_blocking=True), init=init)
        return out.float().cpu(), extras

    res = distributed_evaluate(forward, dataset, dist=ctx.extras.get("dist"),
                               batch_size=opts.eval_batch_size or 4,
                               num_workers=opts.num_workers, collate_fn=collate_drop_bad)
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
    if not (opts.ddp_no_decay_quirk and world > 1):
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
    init = opts.init_checkpoint
    if init and str(init).lower() != "none":
        loaded = load_image_checkpoint(model, str(init).format(data_root=ctx.data_root))
        ctx.log(f"[{rep.name}] ImageNet init: {len(loaded)} tensors from {init}")
    optimizer = _optimizer(ctx, model, world)
    cfg = train_config(ctx, device=device)
    total = max(2, cfg.steps_per_epoch(len(train_set)) * recipe.epochs)
    scheduler = warmup_cosine(optimizer, 0, total, min_lr=opts.end_lr)
    smoothing = opts.label_smoothing
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
    return fit_summary(result, cfg)
