"""SViT / MViTv2-S typed recipe options (every ``--set`` key beyond the generic recipe fields).

Official: eladb3/SViT configs/ssv2.yaml, slowfast/models/optimizer.py, utils/lr_policy.py,
models/losses.py (VideoImageLoss); PySlowFast configs/SSv2/MVITv2_S_16x4.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from reproducers.common.recipe import TrainerOptions
from reproducers.harness.knobs import knob

ZERO_WD = "wd 0 on 1-D tensors and biases only"


@dataclass(frozen=True)
class SViTOptions(TrainerOptions):
    OPTIMIZERS: ClassVar[tuple[str, ...]] = ("adamw", "sgd")
    SCHEDULES: ClassVar[tuple[str, ...]] = ("cosine",)  # per step, optional linear warm-up

    # SGD (the MViTv2-S baseline)
    momentum: float = knob(0.9, ge=0, lt=1)
    nesterov: bool = True
    # schedule: linear warm-up warmup_start_lr -> lr over warmup_epochs, then cosine to end_lr
    warmup_epochs: float = knob(0.0, ge=0)
    warmup_start_lr: float | None = knob(None, ge=0)  # None: start at lr (no warm-up ramp)
    end_lr: float = knob(0.0, ge=0)
    # frame-clip consistency: "released" (off, the official key-name bug), "paper" (L1),
    # "paper_l2" (MSE), weighted by lambda_con
    consistency: Literal["released", "paper", "paper_l2"] = "released"
    lambda_con: float = knob(1.5, ge=0)
    # image stream (SViT only): HAOG losses on Something-Else frames, image_batch frames per
    # step weighted image_weight, on image_ranks dedicated ranks (None / 0: no image stream)
    image_batch: int | None = knob(None, ge=0)
    image_weight: float = knob(1 / 8, ge=0)
    image_ranks: int = knob(1, ge=0)
    lambda_nodes: float = knob(3.7, ge=0)
    lambda_edges: float = knob(0.3, ge=0)
    # PySlowFast mixup/cutmix (keys of common.video.transforms.build_mixup); None: off
    mixup: dict | None = None
    # initial weights: a PySlowFast checkpoint ("{data_root}" expands); None: from scratch
    init_checkpoint: str | None = None
    grad_clip: float | None = knob(1.0, gt=0)
    eval_every: int | None = knob(None, ge=1)  # None: the last epoch only
    eval_batch_size: int | None = knob(8, ge=1)

    def describe_optimizer(self, recipe) -> str:
        if recipe.optimizer == "sgd":
            return (f"sgd (momentum {self.momentum:g}{', nesterov' if self.nesterov else ''}; "
                    f"{ZERO_WD})")
        return f"adamw (betas 0.9/0.999; {ZERO_WD})"

    def describe_schedule(self, recipe) -> str:
        cosine = f"per-step cosine to {self.end_lr:g}"
        if self.warmup_epochs > 0:
            start = recipe.lr if self.warmup_start_lr is None else self.warmup_start_lr
            return (f"linear warm-up {start:g} -> {recipe.lr:g} over {self.warmup_epochs:g} "
                    f"epochs, then {cosine}")
        return f"per-step cosine {recipe.lr:g} -> {self.end_lr:g}, no warm-up"
