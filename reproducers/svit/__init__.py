"""SViT (NeurIPS 2022): "Bringing Image Scene Structure to Video via Frame-Clip Consistency of
Object Tokens" (Ben-Avraham et al.). MViTv2-S backbone with 4 learned object prompts per frame
and Hand-Object-Graph (HAOG) heads; also the plain MViTv2-S baseline from the same code.

Declares ``svit_ssv2`` (released SSv2 config) and ``mvitv2s_ssv2`` (PySlowFast's MViTv2-S
SSv2 recipe, the baseline row). Official code: eladb3/SViT @ bf0ab3e (configs/ssv2.yaml,
slowfast/models/video_model_builder.py, tools/train_net.py, tools/test_net.py);
facebookresearch/SlowFast configs/SSv2/MVITv2_S_16x4.yaml for the baseline.
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

from . import data, task
from .checkpoints import adapt_state_dict
from .model import build_mvitv2s, build_svit
from .recipe import SViTOptions
from .selftest import BASELINE_SELFTEST, SELFTEST
from .synthetic import write_svit_synthetic

PAPER = Paper(
    key="svit",
    title="Bringing Image Scene Structure to Video via Frame-Clip Consistency of Object "
          "Tokens (SViT)",
    venue="NeurIPS 2022",
    arxiv="2206.06346",
    code_url="https://github.com/eladb3/SViT",
    code_commit="bf0ab3e373e5f151764042fedd33df5d9d122da0",
)

EXPECTED = load_expected(Path(__file__).with_name("expected.toml"))

LAYOUT = ("<root>/sm/annotations/something-something-v2-labels.json, "
          "<root>/json_files/something-something-v2-{train,validation}.json, "
          "<root>/frames/<id>/%04d.jpg, <root>/bbox_jsons/<id>.json (Something-Else boxes), "
          "<root>/empty_bbox_{train,val}.json (eladb3/SViT data/ssv2/)")
COUNTS = {"train": 168_913, "validation": 24_777}
K400_INIT = "{data_root}/pretrained/MViTv2_S_16x4_k400_f302660347.pyth"

# Smoke: the golden file's reduced architecture (4 blocks, dims 16-64, 4 frames at 64 px).
SMOKE_MODEL = {
    "num_frames": 4, "crop_size": 64, "num_classes": 4, "embed_dim": 16, "depth": 4,
    "dim_mul": {1: 2.0, 3: 2.0}, "head_mul": {1: 2.0, 3: 2.0},
    "q_strides": [[1, 1, 1], [1, 2, 2], [1, 1, 1], [1, 2, 2]],
    "kv_stride_adaptive": (1, 4, 4), "drop_path_rate": 0.1, "head_dropout": 0.0,
}
SMOKE_DATA = {
    "n_per_class": 24, "n_val_per_class": 8, "frames": 16, "size": 64, "empty_every": 8,
    "num_frames": 4, "crop_size": 64, "rrc_scale": (0.5, 1.0),
    "rand_augment": "rand-m5-n2-mstd0.5-inc1", "official_counts": False,
}


# keys data.build_video reads beyond the declared data configs (valid `--set data.NAME`)
DATA_DEFAULTS = {"layout": "svit", "report_subset": "full",
                 "channel_order": "bgr", "filter_train": True, "use_box_length": True,
                 "official_counts": True, "max_bad_fraction": 0.0, "image_sample": {}}

FULL_MODEL = {"num_frames": 16, "crop_size": 224, "num_classes": 174}  # configs/ssv2.yaml


def _example_input(cfg, batch: int):
    return torch.randn(batch, 3, cfg["num_frames"], cfg["crop_size"], cfg["crop_size"])


def _synthesize(root, config, seed: int):
    keys = ("n_per_class", "n_val_per_class", "frames", "size", "empty_every")
    return write_svit_synthetic(root, seed=seed, **{k: config[k] for k in keys if k in config})


def _expected(name: str):
    return [row for row in EXPECTED if row.reproduction == name]


def _dataset(name: str) -> DatasetSpec:
    return DatasetSpec(
        name=name, train_split="train", eval_split="validation", expected_samples=COUNTS,
        format=LAYOUT, data_root_help="see reproducers/svit/DATA.md",
        build=data.build_video, synthesize=_synthesize, fingerprint=data.fingerprint,
        config_defaults=DATA_DEFAULTS)


PROTOCOL = Protocol(
    input="16 frames (16 uniform segments, middle frame) x 224² crops",
    temporal_clips=1, spatial_crops=3,
    aggregation="sum of softmax probabilities over 3 spatial crops (left/centre/right of the "
                "short-side-224 frame); acc on the full val set and on the box-filtered subset",
    eval_split="validation")

TASK = Task(train=task.train, evaluate=task.evaluate)


def _smoke_recipe(image_batch: int | None) -> Recipe:
    image = {"image_batch": image_batch, "image_weight": 1 / 8, "image_ranks": 1} \
        if image_batch else {}
    return Recipe(optimizer="adamw", lr=2e-3, weight_decay=1e-4, epochs=40, batch_size=8,
                  gpus=0, lr_scaling="none", schedule="cosine", seed=0,
                  options=SViTOptions(consistency="released", grad_clip=1.0, end_lr=1e-5,
                                      eval_every=10, eval_batch_size=16, num_workers=0,
                                      **image))


SVIT = Reproduction(
    name="svit_ssv2",
    paper=PAPER,
    dataset=_dataset("Something-Something v2 (SViT layout, Something-Else boxes)"),
    model=ModelSpec("svit", build_svit, {**FULL_MODEL, "num_objects": 4},
                    {**SMOKE_MODEL, "num_objects": 4},
                    _example_input,
                    official_num_params=34_373_560, adapt_state_dict=adapt_state_dict),
    recipe=Recipe(
        optimizer="adamw",
        lr=2e-4, weight_decay=1e-4, epochs=50, batch_size=63, gpus=8,
        lr_scaling="none: 2e-4 for 63 videos (7 GPUs x 9) + 63 images (1 GPU), as "
                   "configs/ssv2.yaml",
        schedule="cosine",
        seed=0,
        options=SViTOptions(
            consistency="released", lambda_con=1.5,
            image_batch=63, image_weight=1 / 8, image_ranks=1,
            lambda_nodes=3.7, lambda_edges=0.3,
            grad_clip=1.0, amp="fp16", end_lr=2e-6, eval_every=50,
            eval_batch_size=64, num_workers=7, init_checkpoint=K400_INIT,
        )),
    smoke_recipe=_smoke_recipe(image_batch=8),
    protocol=PROTOCOL,
    task=TASK,
    expected=_expected("svit_ssv2"),
    metrics=["acc@1", "acc@5"],
    description="SViT on SSv2 (released config): K400 MViTv2-S init, 7 video + 1 image GPUs",
    smoke_data={**SMOKE_DATA, "report_subset": "box_filtered"},
    data_config={"layout": "svit", "num_frames": 16, "crop_size": 224,
                 "report_subset": "box_filtered"},
    selftest=SELFTEST,
)

MVITV2S = Reproduction(
    name="mvitv2s_ssv2",
    paper=PAPER,
    dataset=_dataset("Something-Something v2"),
    model=ModelSpec("mvitv2s", build_mvitv2s, {**FULL_MODEL, "num_objects": 0},
                    {**SMOKE_MODEL, "num_objects": 0},
                    _example_input, official_num_params=34_363_950,
                    adapt_state_dict=adapt_state_dict),
    recipe=Recipe(
        optimizer="sgd",
        lr=0.0025, weight_decay=1e-4, epochs=100, batch_size=16, gpus=8,
        lr_scaling="none: 0.0025 for 16 videos on 8 GPUs, as configs/SSv2/MVITv2_S_16x4.yaml",
        schedule="cosine",
        seed=0,
        options=SViTOptions(
            momentum=0.9, nesterov=True,
            warmup_epochs=3.0, warmup_start_lr=1e-4, end_lr=1e-6,
            mixup={"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "prob": 1.0,
                   "switch_prob": 0.5, "label_smoothing": 0.1},
            grad_clip=None, eval_every=100, eval_batch_size=64, num_workers=2,
            init_checkpoint=K400_INIT,
        )),
    smoke_recipe=_smoke_recipe(image_batch=None),
    protocol=PROTOCOL,
    task=TASK,
    expected=_expected("mvitv2s_ssv2"),
    metrics=["acc@1", "acc@5"],
    description="MViTv2-S on SSv2, PySlowFast recipe (RGB, mixup, short-side jitter)",
    smoke_data={**SMOKE_DATA, "channel_order": "rgb", "report_subset": "full",
                "filter_train": False, "use_box_length": False},
    data_config={"layout": "svit", "num_frames": 16, "crop_size": 224,
                 "report_subset": "full", "channel_order": "rgb", "filter_train": False,
                 "use_box_length": False, "train_crop": "short_side_jitter",
                 "jitter_scales": (256, 320), "inverse_uniform": True},
    selftest=BASELINE_SELFTEST,
)

REPRODUCTIONS = [SVIT, MVITV2S]
