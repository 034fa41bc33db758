"""SViT's steps in the device self-test (``harness/selftest.py``): the training step as
``task.train`` runs it on one process, with ``task``'s own loss functions.

One optimizer step = the video batch (cross-entropy; mixup for the MViTv2-S baseline) scaled
by 7/8 plus, for SViT, an image batch of the same size through the HAOG losses scaled by 1/8
(``common.aux_stream`` shared mode: the official 7 video GPUs + 1 image GPU averaged).
Inputs are random at the declared size; boxes, existence and contact targets are consistent
(``exists`` = box not all zeros, as ``losses.image_losses`` requires).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from reproducers.common.video.transforms import build_mixup
from reproducers.harness.declarations import SelfTestHooks
from reproducers.harness.knobs import option

from . import task


def _image_batch(batch: int, size: int, device) -> dict:
    g = torch.Generator().manual_seed(1)
    centre = 0.25 + 0.5 * torch.rand(batch, 4, 2, generator=g)
    wh = 0.1 + 0.3 * torch.rand(batch, 4, 2, generator=g)
    boxes = torch.cat([centre, wh], -1)
    boxes[:, 3] = 0  # one absent object slot per image
    return {"image": torch.randn(batch, 3, size, size, generator=g),
            "boxes": boxes, "exists": (~torch.all(boxes == 0, dim=-1)).float(),
            "contact": torch.randint(-1, 5, (batch, 2), generator=g)}


def train_steps(model, cfg, recipe, batch: int, device) -> list:
    ctx = SimpleNamespace(recipe=recipe, model_config=cfg)
    g = torch.Generator().manual_seed(0)
    video = {"frames": torch.randn(batch, 3, cfg["num_frames"], cfg["crop_size"],
                                   cfg["crop_size"], generator=g),
             "label": torch.randint(0, cfg["num_classes"], (batch,), generator=g)}
    mixup = build_mixup(option(recipe.options, "mixup"), cfg["num_classes"])
    video_loss = task._video_loss(ctx, device, mixup)
    image_weight = float(option(recipe.options, "image_weight", 1 / 8))
    if cfg.get("num_objects", 0) == 0 or not option(recipe.options, "image_batch"):
        return [[lambda m: video_loss(m, video)]]
    images = _image_batch(batch, cfg["crop_size"], device)
    image_loss = task._image_loss(ctx, device)
    return [[lambda m: (1 - image_weight) * video_loss(m, video),
             lambda m: image_weight * image_loss(m, images)]]


def optimizer(model, recipe):
    return task._optimizer(SimpleNamespace(recipe=recipe), model)


# configs/ssv2.yaml: 63 videos on 7 GPUs (9 each) + 63 images on the 8th
SELFTEST = SelfTestHooks(train_steps=train_steps, optimizer=optimizer, batch_per_gpu=9)
# PySlowFast MVITv2_S_16x4.yaml: 16 videos on 8 GPUs
BASELINE_SELFTEST = SelfTestHooks(train_steps=train_steps, optimizer=optimizer, batch_per_gpu=2)
