"""The six released model settings (kcenter_transformer/configs/kcenter_models/*.yaml @ ef7a40a)
and their same-budget frame baselines, as ``build_kcenter_model`` keyword arguments."""

from __future__ import annotations

RELEASED = {
    "kcenter_vit_kinetics": {"kind": "vit", "num_classes": 400, "kept_frames": 3},
    "kcenter_vit_ssv2": {"kind": "vit", "num_classes": 174, "kept_frames": 3},
    # the yaml asks for 4 kept frames; the model reads the Motionformer key (0): quirk 1
    "kcenter_timesformer_kinetics": {"kind": "timesformer", "num_classes": 400,
                                     "kept_frames": 4, "time_division": 8,
                                     "space_division": 14, "motionformer_kept_frames": 0},
    "kcenter_timesformer_ssv2": {"kind": "timesformer", "num_classes": 174, "kept_frames": 0,
                                 "time_division": 8, "space_division": 14,
                                 "motionformer_kept_frames": 0},
    "kcenter_motionformer_kinetics": {"kind": "motionformer", "num_classes": 400,
                                      "kept_frames": 1, "time_division": 8},
    "kcenter_motionformer_ssv2": {"kind": "motionformer", "num_classes": 174,
                                  "kept_frames": 0, "time_division": 8},
}

# parameter counts of the official models (../shared/golden README, "Full official size")
OFFICIAL_PARAMS = {
    "kcenter_vit_kinetics": 86_130_832, "kcenter_vit_ssv2": 85_957_038,
    "kcenter_timesformer_kinetics": 121_584_784, "kcenter_timesformer_ssv2": 121_410_990,
    "kcenter_motionformer_kinetics": 107_392_144, "kcenter_motionformer_ssv2": 107_218_350,
}


def frame_baseline(settings: dict) -> dict:
    """The same model with 8 whole frames instead of K-center patches (1,568 tokens): ViT
    frames linspace(0, 31, 8) = [0, 4, 8, 13, 17, 22, 26, 31]; TimeSformer (through the
    Motionformer key) and Motionformer the middle frame of each 4-frame segment."""
    out = dict(settings)
    out["kept_frames"] = 8
    if out["kind"] == "timesformer":
        out["motionformer_kept_frames"] = 8
    return out
