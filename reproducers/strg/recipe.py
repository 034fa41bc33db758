"""STRG typed recipe options (every ``--set`` key beyond the generic recipe fields).

Paper: Wang & Gupta, ECCV 2018, p10 (SGD, lr 0.00125 for 8 clips on 4 GPUs, /10 at 90K of
100K iterations, BN frozen, dropout 0.3; three stages). jd730/STRG @ 0df179c ``opts.py`` and
README commands for the jd730 rows (momentum 0.9, weight decay 1e-3, multistep milestone 90
of 100 epochs). The model knobs (BN frozen, dropout, head preset) are model config
(``model.NAME``), not options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from reproducers.common.recipe import TrainerOptions
from reproducers.harness.knobs import knob

# STRG states neither momentum nor weight decay: the values of the Non-local code base
# (facebookresearch/video-nonlocal-net configs), which the paper builds on
NONLOCAL_SGD = "momentum and weight decay assumed: the Non-local code base's; STRG states neither"


@dataclass(frozen=True)
class STRGOptions(TrainerOptions):
    OPTIMIZERS: ClassVar[tuple[str, ...]] = ("sgd",)
    # "step": lr /10 once, after lr_drop of the steps; "constant": no decay
    SCHEDULES: ClassVar[tuple[str, ...]] = ("step", "constant")

    momentum: float = knob(0.9, ge=0, lt=1)  # SGD momentum (see sgd_source)
    sgd_source: str = NONLOCAL_SGD  # where momentum / weight decay come from (report text)
    # length in SGD iterations (paper: 100K; stage 3 30K); None: recipe.epochs epochs
    iterations: int | None = knob(None, ge=1)
    lr_drop: float = knob(0.9, gt=0, le=1)  # "step": share of the steps before lr /10
    # what trains: "all", or "head" (paper stage 2: the GCN on frozen I3D features)
    train_part: Literal["all", "head"] = "all"
    # initial weights from user files, applied after the declared (chained) init:
    # an I3D / STRG checkpoint (checkpoints.load_backbone) ...
    init_checkpoint: str | None = None
    # ... or a torchvision ImageNet ResNet file inflated to 3-D (inflate.inflate_imagenet)
    imagenet: str | None = None
    imagenet_inflation: Literal["mean", "centre", "jd730_noop"] = "mean"  # jd730: a no-op
    # "paper": 2 clips (SSv1) / 10 (Charades) max-pooled over full frames;
    # "jd730_clip": jd730's clip-level validation
    eval_mode: str = "paper"
    eval_every: int | None = knob(1, ge=1)  # epochs between evaluations (None: last only)
    # full frames at short side 256 differ in width: one video per batch
    eval_batch_size: int | None = knob(1, ge=1)
    # region proposals: "store": the prepare stage's offline boxes (paper); "online": jd730's
    # per-iteration RPN (proposals.OnlineProposals; the data then ships no boxes)
    proposals: Literal["store", "online"] = "store"
    # "online": torchvision's COCO fasterrcnn_resnet50_fpn file (the prepare stage's
    # --weights); a relative path is read under --data-root. Smoke runs without it use a
    # seeded random-init stand-in (online.py)
    rpn_weights: str | None = None

    def describe_optimizer(self, recipe) -> str:
        return (f"sgd (momentum {self.momentum:g}, weight decay {recipe.weight_decay:g}; "
                f"{self.sgd_source})")

    def describe_schedule(self, recipe) -> str:
        length = (f"{self.iterations} iterations" if self.iterations
                  else f"{recipe.epochs} epochs")
        if recipe.schedule == "constant":
            return f"constant lr {recipe.lr:g}, {length}"
        if self.iterations:
            return (f"{length}, lr {recipe.lr:g} /10 after "
                    f"{int(self.lr_drop * self.iterations)}")
        return (f"{length}, lr {recipe.lr:g} /10 after epoch "
                f"{math.floor(self.lr_drop * recipe.epochs)}")
