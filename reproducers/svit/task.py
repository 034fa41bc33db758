"""SViT / MViTv2-S training and the official 1 x 3-view evaluation.

Training (eladb3/SViT ``tools/train_net.py train_epoch``, ``slowfast/models/losses.py
VideoImageLoss``, ``slowfast/models/optimizer.py``, ``slowfast/utils/lr_policy.py``):

- video stream: cross-entropy on the class logits (SViT: hard labels, no mixup; the
  MViTv2-S baseline: PySlowFast's mixup/cutmix soft targets with label smoothing 0.1);
- image stream (SViT only, ``common.aux_stream``): the HAOG losses on Something-Else frames,
  weighted as the official 7 video + 1 image GPUs average them (1/8 of the gradient),
  on a dedicated last rank when there are enough processes, otherwise on every rank;
- frame-clip consistency (``recipe.options.consistency``): ``"released"`` (the official
  code never computes it because of a key-name bug; its no-grad frame pass is skipped here,
  which only changes the dropout random stream), ``"paper"`` (L1 between clip and detached
  frame object tokens, weight ``lambda_con`` 1.5) or ``"paper_l2"`` (MSE, also coded);
- optimizer groups: weight decay 0 on 1-D tensors and biases (SOLVER.ZERO_WD_1D_PARAM),
  but *not* on cls_token / object_queries / pos_embed_temporal / rel_pos tables
  (MVIT.ZERO_DECAY_POS_CLS false); per-step cosine (+ optional linear warm-up), gradient
  clipping, AMP.

The per-rank LR drift of the official image rank (its LR follows its own, longer loader) is
not reproduced: one schedule drives every rank.

Evaluation (``tools/test_net.py``, ``utils/meters.py TestMeter``): softmax probabilities of
3 spatial crops summed per video; acc@1/acc@5 on the full split and on the box-filtered
subset (``data.build_video``'s ``meta["subsets"]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reproducers.common.aux_stream import AuxStream, AuxStreamStep
from reproducers.common.metrics import aggregate_by_video, topk_accuracy
from reproducers.common.recipe import fit_summary, train_config
from reproducers.common.schedules import warmup_cosine
from reproducers.common.trainer import PlainStep, distributed_evaluate, fit, param_groups
from reproducers.common.video.dataset import collate_drop_bad
from reproducers.common.video.transforms import build_mixup
from reproducers.harness import predictions

from . import data, losses


def _device(ctx) -> str:
    dist = ctx.extras.get("dist")
    return dist.device if dist is not None else ctx.device


def _is_svit(ctx) -> bool:
    return ctx.model_config.get("num_objects", 0) > 0


def _class_output(out):
    return out[0] if isinstance(out, tuple) else out


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(ctx, model, dataset) -> dict:
    opts, device = ctx.recipe.options, _device(ctx)
    was_training = model.training
    model.eval().to(device)
    num_views = dataset.num_views

    def forward(batch):
        index = batch["video_index"] * num_views + batch["view_index"]
        if batch["frames"] is None:
            return torch.zeros(0, ctx.model_config["num_classes"]), {
                "index": index, "y": batch["label"], "video": batch["video_index"]}
        probs = _class_output(model(batch["frames"].to(device, non_blocking=True)))
        return probs.float().cpu(), {"index": index, "y": batch["label"],
                                     "video": batch["video_index"]}

    res = distributed_evaluate(forward, dataset, dist=ctx.extras.get("dist"),
                               batch_size=opts.eval_batch_size or 8,
                               num_workers=opts.num_workers,
                               collate_fn=collate_drop_bad)
    model.train(was_training)
    scores = aggregate_by_video(res["outputs"], res["video"], how=ctx.protocol.pool)
    videos = torch.unique(res["video"])  # the scored videos, ascending = rows of ``scores``
    target = aggregate_by_video(res["y"].float(), res["video"], how="mean").round().long()
    subsets = getattr(dataset, "meta", {}).get("subsets", {"full": list(range(len(videos)))})
    row_of = {int(v): r for r, v in enumerate(videos.tolist())}
    out = {}
    for name, members in subsets.items():
        rows = [row_of[i] for i in members if i in row_of]
        if not rows:
            continue
        acc = topk_accuracy(scores[rows], target[rows], ks=(1, 5))
        out[name] = {"metrics": {"acc@1": acc[0], "acc@5": acc[1]}, "eval_size": len(rows),
                     "declared_size": len(members)}
    report = ctx.data_config.get("report_subset", "full")
    if report not in out:
        report = "full"
    ids = [dataset.ids[v] for v in videos.tolist()]
    scored = {name: [dataset.ids[i] for i in members if i in row_of]
              for name, members in subsets.items() if name in out}
    return {"metrics": out[report]["metrics"], "eval_size": out[report]["eval_size"],
            "num_samples": len(res["outputs"]), "views": num_views, "report_subset": report,
            "subsets": out,
            "empty_box_source": getattr(dataset, "meta", {}).get("empty_box_source"),
            "predictions": predictions.classification(ids, scores, target, scored, report)}


# ---------------------------------------------------------------- losses


def _video_loss(ctx, device: str, mixup):
    opts = ctx.recipe.options
    consistency, lambda_con = opts.consistency, opts.lambda_con
    svit = _is_svit(ctx)

    def step_loss(model, batch):
        x = batch["frames"].to(device, non_blocking=True)
        y = batch["label"].to(device, non_blocking=True)
        if mixup is not None:
            x, soft = mixup(x, y)
            out = _class_output(model(x))
            return torch.sum(-soft * F.log_softmax(out, dim=-1), dim=-1).mean()
        out = model(x)
        loss = F.cross_entropy(_class_output(out), y)
        if svit and consistency != "released":
            with torch.no_grad():  # the official frame pass: train mode, no grad
                _, frames_extra = model(x.transpose(1, 2).flatten(0, 1).unsqueeze(2))
            target = frames_extra["obj_desc"].reshape(out[1]["obj_desc"].shape)
            kind = "l1" if consistency == "paper" else "l2"
            loss = loss + lambda_con * losses.consistency_loss(out[1]["obj_desc"], target, kind)
        return loss

    return step_loss


def _image_loss(ctx, device: str):
    opts = ctx.recipe.options

    def step_loss(model, batch):
        image = batch["image"].to(device, non_blocking=True)
        targets = {k: batch[k].to(device, non_blocking=True)
                   for k in ("boxes", "exists", "contact")}
        _, extra = model(image)
        terms = losses.image_losses(extra, targets)
        return losses.weighted_image_loss(terms, opts.lambda_nodes, opts.lambda_edges)

    return step_loss


# ---------------------------------------------------------------- training


def _optimizer(ctx, model):
    recipe, opts = ctx.recipe, ctx.recipe.options
    groups = param_groups(model, recipe.lr, recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=opts.momentum,
                               nesterov=opts.nesterov,
                               weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)


def _aux(ctx, device: str) -> AuxStream | None:
    opts = ctx.recipe.options
    if not _is_svit(ctx) or not opts.image_batch:
        return None
    images = data.build_images(ctx.data_root, ctx.data_config)
    return AuxStream(images, global_batch=opts.image_batch, weight=opts.image_weight,
                     step_loss=_image_loss(ctx, device), dedicated_ranks=opts.image_ranks,
                     num_workers=opts.num_workers, name="image")


def _video_gpus(gpus: int, aux: AuxStream | None) -> int | None:
    """GPUs the recipe gives the video stream (the official 8 minus the image rank)."""
    video = gpus - (aux.dedicated_ranks if aux is not None else 0)
    return video if video > 0 else None


def train(ctx) -> dict:
    rep, recipe, opts = ctx.reproduction, ctx.recipe, ctx.recipe.options
    consistency = opts.consistency  # typed: released | paper | paper_l2 (recipe.SViTOptions)
    torch.manual_seed(ctx.seed)
    device = _device(ctx)
    dist = ctx.extras.get("dist")
    world = dist.world_size if dist is not None else 1
    train_set = ctx.extras["datasets"][rep.dataset.train_split]
    eval_set = ctx.extras["datasets"][rep.protocol.eval_split]
    model = rep.model.factory(**ctx.model_config)
    init = opts.init_checkpoint
    if init and str(init).lower() != "none":
        init = str(init).format(data_root=ctx.data_root)
        from .checkpoints import load_pretrained

        ctx.log(load_pretrained(model, init))
    optimizer = _optimizer(ctx, model)
    aux = _aux(ctx, device)
    image_ranks = aux.dedicated_ranks if aux is not None and world > aux.dedicated_ranks else 0
    cfg = train_config(ctx, device=device, declared_gpus=_video_gpus(recipe.gpus, aux),
                       select_metric=f"{rep.protocol.eval_split}_acc@1")
    spe = cfg.steps_per_epoch(len(train_set))
    total = max(1, spe * recipe.epochs)
    warm = int(round(opts.warmup_epochs * spe))
    start = (recipe.lr if opts.warmup_start_lr is None else opts.warmup_start_lr) / recipe.lr
    scheduler = warmup_cosine(optimizer, warm, total if total > warm else warm + 1,
                              min_lr=opts.end_lr, warmup_start_factor=start)
    mixup = build_mixup(opts.mixup, ctx.model_config["num_classes"])

    def run_eval(m):
        res = evaluate(ctx, m, eval_set)
        return {f"{rep.protocol.eval_split}_{k}": v for k, v in res["metrics"].items()}

    step = PlainStep(_video_loss(ctx, device, mixup))
    result = fit(model, optimizer, train_set, step if aux is None else AuxStreamStep(step, aux),
                 cfg, ctx.output_dir, scheduler=scheduler, evaluate=run_eval,
                 resume=ctx.extras.get("resume"), dist=dist, log=ctx.log)
    return {
        **fit_summary(result, cfg),
        "image_ranks": image_ranks,
        "image_stream": None if aux is None else {
            "global_batch": aux.global_batch, "weight": aux.weight,
            "mode": "dedicated" if image_ranks else "shared", "frames": len(aux.dataset)},
        "consistency": consistency if _is_svit(ctx) else None,
    }
