"""K-center's typed recipe options (every ``--set`` key beyond the generic recipe fields).

Official: kami93/kcenter_video @ ef7a40a, kcenter_transformer/configs/kcenter_models/*.yaml,
models/optimizer.py (AdamW, no-decay list), utils/lr_policy.py (cosine, no warm-up),
models/losses.py (label smoothing), tools/run.py (LR and end LR scaled by global batch / 256).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from reproducers.common.recipe import TrainerOptions
from reproducers.harness.knobs import knob

INIT = "{data_root}/pretrained/jx_vit_base_p16_224-80ecf9dd.pth"


@dataclass(frozen=True)
class KCenterOptions(TrainerOptions):
    """Evaluation draws each sample's first K-center pick from the run's seed (``ctx.seed``;
    the released test is reproducible only through RNG_SEED): ``--seeds N`` averages over N."""

    OPTIMIZERS: ClassVar[tuple[str, ...]] = ("adamw",)
    SCHEDULES: ClassVar[tuple[str, ...]] = ("cosine",)  # per step, no warm-up

    # per-step cosine from lr to end_lr (COSINE_END_LR 1e-6 x global batch / 256 as released)
    end_lr: float = knob(1e-6, ge=0)
    label_smoothing: float = knob(0.2, ge=0, lt=1)  # cross-entropy label smoothing
    # as released, the no-weight-decay list (pos_embed, time/temp table, cls_token) is lost
    # when the model is wrapped in DDP (more than one process): those tensors are decayed
    ddp_no_decay_quirk: bool = True
    # ImageNet ViT-B/16 file ("{data_root}" expands; timm's file loads too); None: random init
    init_checkpoint: str | None = INIT
    amp: Literal["fp16", "bf16"] | None = "fp16"  # TRAIN.MIXED_PRECISION as released
    num_workers: int = knob(4, ge=0)  # DATA_LOADER.NUM_WORKERS

    def describe_optimizer(self, recipe) -> str:
        no_decay = ("lost under DDP as released" if self.ddp_no_decay_quirk
                    else "kept under DDP")
        return (f"adamw (betas 0.9/0.999; wd 0 on 1-D tensors, biases, pos/time tables and "
                f"cls token; that list is {no_decay})")

    def describe_schedule(self, recipe) -> str:
        return f"per-step cosine {recipe.lr:g} -> {self.end_lr:g}, no warm-up"
