"""The three K-center backbones and one factory for them (official names and key order)."""

from __future__ import annotations

from ..tokens import plan_tokens
from .base import KCenterBackbone
from .motionformer import KCenterMotionformer
from .timesformer import KCenterTimeSformer
from .vit import KCenterViT

CLASSES = {"vit": KCenterViT, "timesformer": KCenterTimeSformer,
           "motionformer": KCenterMotionformer}


def build_kcenter_model(kind: str, num_classes: int, num_frames: int = 32,
                        crop_size: int = 224, patch_size: int = 16, total_tokens: int = 1568,
                        kept_frames: int = 0, time_division: int = 1, space_division: int = 1,
                        timesformer_reads_motionformer_key: bool = True,
                        motionformer_kept_frames: int = 0, **options) -> KCenterBackbone:
    """A backbone of ``kind`` ("vit", "timesformer", "motionformer") with the released token
    plan (see ``tokens.plan_tokens``); ``options`` go to the class (widths, drop rates,
    ``kcenter_ws``/``kcenter_wt``, Motionformer's ``use_original_code``/``softmax_in_eval``).

    Released (32 frames, 224 px, 1,568 tokens): ViT kept_frames 3; TimeSformer time/space
    division 8/14 (its kept frames come from ``motionformer_kept_frames``, 0); Motionformer
    time division 8, kept_frames 1 (Kinetics) or 0 (SSv2). Frame baselines: kept_frames 8.
    """
    if kind not in CLASSES:
        raise ValueError(f"unknown K-center model {kind!r}; expected one of {sorted(CLASSES)}")
    if crop_size % patch_size:
        raise ValueError(f"crop {crop_size} is not a multiple of the patch size {patch_size}")
    if kind == "timesformer" and not timesformer_reads_motionformer_key:
        motionformer_kept_frames = kept_frames
    plan = plan_tokens(kind, num_frames, crop_size // patch_size, total_tokens, kept_frames,
                       time_division, space_division, timesformer_reads_motionformer_key,
                       motionformer_kept_frames)
    return CLASSES[kind](plan, num_classes, patch_size=patch_size, **options)


__all__ = ["KCenterBackbone", "KCenterMotionformer", "KCenterTimeSformer", "KCenterViT",
           "build_kcenter_model"]
