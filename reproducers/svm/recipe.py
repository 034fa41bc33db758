"""SVM's typed recipe options (every ``--set`` key beyond the generic recipe fields).

Official: yuzhms/Streaming-Video-Model configs/mot/svm/svm_base.py (training),
svm_test.py (test), mmdet YOLOX schedule and EMA hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from reproducers.common.recipe import TrainerOptions
from reproducers.harness.knobs import knob


@dataclass(frozen=True)
class SVMOptions(TrainerOptions):
    OPTIMIZERS: ClassVar[tuple[str, ...]] = ("adamw",)  # with optim.param_groups' custom_keys
    # YOLOX: exp warm-up, cosine to min_lr_ratio, constant over the last loader length
    SCHEDULES: ClassVar[tuple[str, ...]] = ("yolox",)

    num_frames: int = knob(2, ge=1)  # frames per training clip (one optimizer step each)
    train_memory_length: int = knob(2, ge=1)  # backbone memory during training
    val_memory: int = knob(2, ge=1)  # memory of the per-epoch validation
    test_memory: int = knob(32, ge=1)  # memory of the evaluate stage (svm_test.py)
    # CLIP ViT-B/16 initialisation ("{data_root}" expands); None or "": from scratch
    clip_weights: str | None = None
    warmup_epochs: float = knob(1.0, ge=0)
    min_lr_ratio: float = knob(0.05, ge=0, le=1)
    num_last_epochs: int = knob(1, ge=0)
    ema_momentum: float = knob(1e-4, gt=0, lt=1)  # YOLOX EMA, per frame step
    # ByteTrackerConfig keys ({}: SVM's thresholds) and the linear interpolation (None: off)
    tracker: dict = field(default_factory=dict)
    interpolate: dict | None = field(
        default_factory=lambda: {"min_num_frames": 5, "max_num_frames": 20})
    eval_workers: int | None = knob(None, ge=0)  # tracking loader workers (None: num_workers)
    amp: Literal["fp16", "bf16"] | None = "fp16"  # on CUDA only
    select: Literal["best", "last"] = "best"  # save_best='HOTA'
    num_workers: int = knob(4, ge=0)
    persistent_workers: bool | None = False
    log_every_steps: int = knob(50, ge=1)

    def describe_optimizer(self, recipe) -> str:
        return ("adamw (betas 0.9/0.999); custom_keys first match: backbone x0.1 except "
                "residual blocks, FPN adaptor and ln_post_out* (x1); wd 0.05 on every backbone "
                "tensor, 0 on neck/head norms and biases")

    def describe_schedule(self, recipe) -> str:
        kept = (f"best per-epoch HOTA (memory {self.val_memory}) kept" if self.select == "best"
                else "last epoch kept")
        return (f"YOLOX: exp warmup over {self.warmup_epochs:g} epoch(s) of frame steps, cosine "
                f"to {self.min_lr_ratio:g}x, constant over the last {self.num_last_epochs} "
                f"epoch(s); one optimizer step per frame ({self.num_frames}-frame clips), "
                f"{self.amp or 'fp32'}, EMA (momentum {self.ema_momentum:g}) weights saved, "
                f"{kept}")
