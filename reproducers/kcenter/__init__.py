"""K-centered Patch Sampling for Efficient Video Recognition (Park et al., ECCV 2022).

Official code: kami93/kcenter_video @ ef7a40a7365b948ed78b38152fd0e1213a9d5e5a. The greedy
K-center patch sampler (``sampler``), the token plan and patch grid (``tokens``), the three
backbones (``models``: ViT joint attention, TimeSformer, Motionformer), Kinetics-400 / SSv2
loaders (``data``), synthetic short-event data (``synthetic``), the typed recipe options
(``recipe``) and training / evaluation (``task``).

Declares the six released configs ``kcenter_{vit,timesformer,motionformer}_{ssv2,k400}`` and
their same-budget frame baselines ``frame_*``: the same model, recipe, data and views with 8
whole frames (1,568 tokens) instead of K-center patches. No trained weights and no table of
the paper are available (../shared/papers/kcenter.md); the paper's claim (K-center beats
frames at the same budget) is what a pair of runs checks. Claim rows come with the harness's
claim support.
"""

from __future__ import annotations

from pathlib import Path

import torch

from reproducers.harness.declarations import (
    DatasetSpec,
    ModelSpec,
    Paper,
    Protocol,
    Recipe,
    Reproduction,
    Task,
)
from reproducers.harness.expected import load_expected

from . import data, synthetic, task
from .configs import OFFICIAL_PARAMS, RELEASED, frame_baseline
from .models import build_kcenter_model
from .recipe import KCenterOptions

PAPER = Paper(
    key="kcenter",
    title="K-centered Patch Sampling for Efficient Video Recognition",
    venue="ECCV 2022",
    arxiv="none (ECVA / LNCS 13695, pp. 160-176)",
    code_url="https://github.com/kami93/kcenter_video",
    code_commit="ef7a40a7365b948ed78b38152fd0e1213a9d5e5a",
)

EXPECTED = load_expected(Path(__file__).with_name("expected.toml"))

DATASETS = {
    "k400": ("kinetics", "Kinetics-400", "val", {"train": 246_534, "val": 19_906},
             "<root>/annotations/{train,val}.csv (official csv), "
             "<root>/{train,val}/<youtube_id>_<start:06d>_<end:06d>.mp4 (short side 256)"),
    "ssv2": ("ssv2", "Something-Something v2", "validation",
             {"train": 168_913, "validation": 24_777},
             "<root>/something-something-v2-{labels,train,validation}.json, "
             "<root>/frames/<id>/<id>_<idx:06d>.jpeg (0-based)"),
}
YAML = {"k400": "kinetics", "ssv2": "ssv2"}

# Smoke: 32 frames of 64 px (4x4 patches, 16 positions), 8 x 16 = 128 tokens, tiny width.
SMOKE_WIDTH = {"num_frames": 32, "crop_size": 64, "total_tokens": 128, "embed_dim": 64,
               "depth": 4, "num_heads": 4, "drop_path": 0.1}
# No RandAugment in smoke runs: its colour operations would change the flash that is the class.
SMOKE_DATA = {"n_per_class": 24, "n_val_per_class": 12, "classes": 4, "frames": 48,
              "size": 64, "event_frames": 3, "crop_size": 64, "jitter_scales": (64, 80),
              "rand_augment": None}


def _example_input(cfg, batch: int):
    """One view as the loader ships it: normalised frames [B, 3, T, crop, crop]."""
    side = cfg.get("crop_size", 224)
    return torch.rand(batch, 3, cfg.get("num_frames", 32), side, side) * 2 - 1


def _smoke_model(full: dict) -> dict:
    smoke = {**full, **SMOKE_WIDTH, "num_classes": SMOKE_DATA["classes"]}
    if smoke["kind"] != "vit":
        smoke["space_division"] = 4 if smoke["kind"] == "timesformer" else 1
    return smoke


def _recipe(kind: str, dataset: str) -> Recipe:
    tsf = kind == "timesformer"
    lr, batch = (2.5e-5, 64) if tsf else (1e-4, 256)
    per_gpu = {"vit": 4, "timesformer": 16, "motionformer": 2}[kind]
    return Recipe(
        optimizer="adamw", lr=lr, weight_decay=0.05, epochs=15, batch_size=batch, gpus=4,
        lr_scaling="BASE_LR 1e-4 x global batch / 256 (already applied)",
        schedule="cosine", seed=0,
        options=KCenterOptions(end_lr=lr / 100, per_device_batch=per_gpu,
                               eval_batch_size=per_gpu))


SMOKE_RECIPE = Recipe(optimizer="adamw", lr=1e-3, weight_decay=0.05, epochs=15, batch_size=8,
                      gpus=0, lr_scaling="none", schedule="cosine", seed=0,
                      options=KCenterOptions(end_lr=1e-5, label_smoothing=0.0, eval_every=15,
                                             eval_batch_size=8, num_workers=0,
                                             init_checkpoint=None, amp=None))

# K-center evaluation draws the first picks (seeded by the run's seed): `--seeds N` trains once
# and repeats the evaluation; the frame baselines' evaluation is deterministic
TASKS = {False: Task(train=task.train, evaluate=task.evaluate, random_evaluation=True),
         True: Task(train=task.train, evaluate=task.evaluate)}


def _dataset(key: str) -> DatasetSpec:
    loader, name, _, counts, layout = DATASETS[key]
    return DatasetSpec(
        name=name, train_split="train", eval_split=DATASETS[key][2], expected_samples=counts,
        format=layout, data_root_help="see reproducers/kcenter/data.py (official layouts)",
        build=data.build_video, synthesize=synthetic.synthesize, fingerprint=data.fingerprint)


def _protocol(kind: str, dataset: str, frames: bool) -> Protocol:
    sampling = ("8 whole frames" if frames else
                "1,568 K-center patches" if kind != "motionformer" or dataset == "ssv2"
                else "1 whole frame + 1,372 K-center patches")
    return Protocol(
        input=f"32 frames x 224² (32x14x14 patch grid) -> {sampling} (1,568 tokens)",
        temporal_clips=1, spatial_crops=3,
        aggregation=("sum of softmax probabilities" if kind == "motionformer"
                     else "sum of logits") + " over 3 spatial crops (short side 224)",
        eval_split=DATASETS[dataset][2])


def _reproduction(kind: str, dataset: str, frames: bool) -> Reproduction:
    name = f"{'frame' if frames else 'kcenter'}_{kind}_{dataset}"
    released = f"kcenter_{kind}_{YAML[dataset]}"
    full = dict(RELEASED[released])
    if frames:
        full = frame_baseline(full)
    loader = DATASETS[dataset][0]
    return Reproduction(
        name=name, paper=PAPER, dataset=_dataset(dataset),
        model=ModelSpec(f"kcenter_{kind}", build_kcenter_model, full, _smoke_model(full),
                        _example_input, official_num_params=OFFICIAL_PARAMS[released]),
        recipe=_recipe(kind, dataset), smoke_recipe=SMOKE_RECIPE,
        protocol=_protocol(kind, dataset, frames), task=TASKS[frames],
        expected=[r for r in EXPECTED if r.reproduction == name], metrics=["acc@1", "acc@5"],
        description=(f"{kind} on {DATASETS[dataset][1]}: "
                     + ("same-budget frame baseline (8 whole frames)" if frames
                        else "released K-center config")),
        smoke_data={**SMOKE_DATA, "dataset": loader},
        data_config={"dataset": loader, "crop_size": 224})


# the paper's claim, K-center beats frames at the same budget: one [[claim]] per pair
# (attached by the registry from expected.toml)
REPRODUCTIONS = [_reproduction(kind, dataset, frames)
                 for frames in (False, True)
                 for kind in ("vit", "timesformer", "motionformer")
                 for dataset in ("ssv2", "k400")]
