"""Streaming Video Model (CVPR 2023): "Streaming Video Model" (Zhao, Luo, Tang, Chen, Codella,
Zha). S-ViT, a CLIP ViT-B/16 with per-layer memory and streaming T2D attention, as the
backbone of YOLOX + ByteTrack for multi-object tracking on MOT17.

Declares ``svm_mot17``: the released MOT model (``configs/mot/svm/svm_base.py`` for training,
``svm_test.py`` for the MOT17 half-val test). Official code: yuzhms/Streaming-Video-Model
@ 46989d2 (mmdet 2.26, vendored mmtrack 0.14). The paper's action-recognition results have no
released code and are listed as unavailable rows.
"""

from __future__ import annotations

from dataclasses import fields, replace
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

from . import data, data_check, task
from .backbone import SViTConfig
from .checkpoints import adapt_state_dict
from .detector import SVM, DetectorConfig
from .model_configs import FULL_MODEL, SMOKE_MODEL
from .recipe import SVMOptions
from .selftest import SELFTEST
from .synthetic import synthesize

PAPER = Paper(
    key="svm",
    title="Streaming Video Model",
    venue="CVPR 2023",
    arxiv="2303.17228",
    code_url="https://github.com/yuzhms/Streaming-Video-Model",
    code_commit="46989d2b6163234c9e0d76446a478c93625ca6ed",
    extra="svm",  # mmcv 2.1 with ops, mmdet 3.3, mmengine (svm/extra.py)
)

EXPECTED = load_expected(Path(__file__).with_name("expected.toml"))

_BACKBONE = {f.name for f in fields(SViTConfig)}
_DETECTOR = {f.name for f in fields(DetectorConfig)}


def build_svm(**cfg) -> SVM:
    """SVM from flat keys of ``SViTConfig`` and ``DetectorConfig`` (lists become tuples)."""
    unknown = set(cfg) - _BACKBONE - _DETECTOR
    if unknown:
        raise ValueError(f"unknown svm model keys {sorted(unknown)}")

    def pick(names):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k in names}

    return SVM(SViTConfig(**pick(_BACKBONE)), DetectorConfig(**pick(_DETECTOR)))


SMOKE_DATA = {
    "num_seqs": 4, "frames": 60, "width": 320, "height": 192, "num_pedestrians": 5,
    "img_scale": [192, 320], "sources": ["mot17_half_train"], "num_frames": 2,
    "official_counts": False,
}


def _example_input(cfg, batch: int):
    h, w = cfg.get("input_size", (800, 1440))
    return torch.randn(batch, 3, h, w)


LAYOUT = ("<root>/MOT17/{train,test}/<seq>/{seqinfo.ini,img1,gt/gt.txt} + "
          "MOT17/annotations/half-{train,val}_cocoformat.json, "
          "<root>/crowdhuman/{train,val}/Images + annotations/crowdhuman_{train,val}.json, "
          "<root>/MOTSynth/train/<seq>/img1 + all_cocoformat.json, "
          "<root>/pretrain/ViT-B-16.pt (the official data/ folder)")

RECIPE = Recipe(
    optimizer="adamw",
    lr=2.5e-4, weight_decay=0.05, epochs=10, batch_size=16, gpus=8,
    lr_scaling="none: 0.001 / 8 x samples_per_gpu (2) fixed in the config",
    schedule="yolox",
    seed=1024,
    options=SVMOptions(num_frames=2, train_memory_length=2, val_memory=2, test_memory=32,
                       clip_weights="{data_root}/pretrain/ViT-B-16.pt", amp="fp16",
                       num_workers=4, persistent_workers=True, eval_every=1,
                       ema_momentum=1e-4, min_lr_ratio=0.05, warmup_epochs=1.0,
                       num_last_epochs=1, select="best",
                       interpolate={"min_num_frames": 5, "max_num_frames": 20}),
)

SMOKE_RECIPE = Recipe(
    optimizer="adamw", lr=1e-3, weight_decay=0.05, epochs=20, batch_size=4, gpus=0,
    lr_scaling="none", schedule="yolox", seed=0,
    options=replace(RECIPE.options, clip_weights=None, num_workers=0,
                    persistent_workers=False, eval_every=100, select="last", val_memory=2,
                    test_memory=8, log_every_steps=10),
)

# keys data.build reads beyond the declared data configs (valid `--set data.NAME` keys)
DATA_DEFAULTS = {"sources": None, "img_scale": [800, 1440], "seed": 0, "official_counts": True,
                 "motsynth_resample": "once", "eval_half": "val", "num_frames": 2,
                 "pipeline": None}

SVM_MOT17 = Reproduction(
    name="svm_mot17",
    paper=PAPER,
    dataset=DatasetSpec(
        name="MOT17 half-train + CrowdHuman + MOTSynth (train), MOT17 half-val (test)",
        train_split="half-train", eval_split="half-val", expected_samples=data.COUNTS,
        format=LAYOUT, data_root_help="see reproducers/svm/DATA.md",
        build=data.build, synthesize=synthesize, fingerprint=data.fingerprint,
        check=data_check.check, sample_unit="frames", config_defaults=DATA_DEFAULTS),
    model=ModelSpec("svm", build_svm, FULL_MODEL, SMOKE_MODEL, _example_input,
                    official_num_params=199_549_842, adapt_state_dict=adapt_state_dict),
    recipe=RECIPE,
    smoke_recipe=SMOKE_RECIPE,
    protocol=Protocol(
        input="one 800x1440 frame (keep-ratio resize into 800x1440, padded to 32), streamed "
              "with a 32-frame memory",
        temporal_clips=1, spatial_crops=1,
        aggregation="per sequence: YOLOX detections (score >= 0.01, NMS 0.7) -> ByteTrack "
                    "(0.7/0.1) -> interpolation (gaps < 20, drops tracks <= 2 frames); "
                    "TrackEval MOTChallenge protocol, COMBINED over the 21 half-val folders",
        eval_split="half-val"),
    task=Task(train=task.train, evaluate=task.evaluate),
    expected=[row for row in EXPECTED if row.reproduction == "svm_mot17"],
    metrics=("mota", "hota", "idf1", "fp", "fn", "idsw"),
    description="S-ViT (streaming CLIP ViT-B/16) + YOLOX + ByteTrack, MOT17 half-val",
    smoke_data=SMOKE_DATA,
    data_config={"img_scale": [800, 1440], "num_frames": 2, "seed": 1024},
    selftest=SELFTEST,
)

REPRODUCTIONS = [SVM_MOT17]
