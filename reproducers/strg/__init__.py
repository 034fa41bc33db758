"""STRG (ECCV 2018): "Videos as Space-Time Region Graphs" (Wang & Gupta). An I3D ResNet
with a graph head over region proposals (a similarity graph and forward/backward IoU graphs,
GCN), on Something-Something v1 (top-1/top-5) and Charades (mAP).

There is no official code. The paper's text (../shared/papers/strg.md, "The paper's own text")
defines the default model; jd730/STRG @ 0df179c, an unofficial re-implementation, is offered as
the ``jd730`` head preset and its own rows (its 23.2 / 24.5 SSv1 top-1).

Declared here: models, protocols, recipes, data and the expected table. Each reproduction
trains one stage (``task.py``: from its ``init_checkpoint``/``imagenet`` options, whole model
or head only). The paper's three stages (I3D fine-tune -> GCN on frozen I3D features ->
end-to-end) need the harness's chained reproductions, and its claim rows and per-sample
predictions, which are being added to the harness; the smoke run trains one end-to-end stage.
Assumptions a run records: the non-local placement (the Non-local paper's 5 blocks, STRG does
not state it), the inflation pattern (``every``: Table 1; ``alternating``: the Non-local I3D,
which matches the paper's 153 GFLOPs), weight decay 1e-4 and momentum 0.9 (the Non-local code
base's; STRG states neither), the stage-3 lr 0.000125 (an inference).
"""

from __future__ import annotations

from dataclasses import replace
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
from reproducers.harness.errors import UserError
from reproducers.harness.expected import load_expected

from . import data, flops, task
from .model import build_i3d_classifier, build_strg

flops.register()

PAPER = Paper(
    key="strg",
    title="Videos as Space-Time Region Graphs (STRG)",
    venue="ECCV 2018",
    arxiv="1806.01810",
    code_url="https://github.com/jd730/STRG (unofficial; no official code)",
    code_commit="0df179cd5afcac000fbf8b59a802f429c09a8f6b",
)

EXPECTED = load_expected(Path(__file__).with_name("expected.toml"))

SSV1_LAYOUT = ("<root>/something-something-v1-{labels,train,validation}.csv (id;label), "
               "<root>/20bn-something-something-v1/<id>/%05d.jpg, "
               "<root>/proposals/{train,validation}.pt (box store, `prepare`)")
CHARADES_LAYOUT = ("<root>/Charades_v1_{classes.txt,train.csv,test.csv}, "
                   "<root>/Charades_v1_rgb/<id>/<id>-%06d.jpg (24 fps), "
                   "<root>/proposals/{train,test}.pt (box store, `prepare`)")

# Reduced models for smoke runs and CPU tests: 1/16 width, 8 frames at 64 px, 3 boxes. BN
# trains there: a from-scratch model cannot learn with BN frozen at its init statistics
# (jd730's quirk); the paper freezes BN of a Kinetics-pretrained I3D.
SMOKE_MODEL = {"widen_factor": 1 / 16, "num_classes": 4, "frames": 8, "crop": 64,
               "boxes_per_frame": 3, "freeze_bn": False}


def build_model(kind: str = "strg", frames: int = 32, crop: int = 224,
                boxes_per_frame: int = 10, **cfg):
    """``kind`` "i3d" (global pool + fc) or "strg" (I3D + graph head); ``frames``, ``crop``
    and ``boxes_per_frame`` size the example input only."""
    if kind == "i3d":
        return build_i3d_classifier(**cfg)
    if kind == "strg":
        return build_strg(**cfg)
    raise UserError(f"model kind {kind!r}: 'i3d' or 'strg'")


def example_input(cfg, batch: int):
    """One clip (B, 3, T, S, S); for STRG also boxes (B, T/2, K, 4) in pixels, one box frame
    per feature frame (every second input frame), drifting boxes of 10-60 % of the crop."""
    frames, crop = cfg.get("frames", 32), cfg.get("crop", 224)
    x = torch.randn(batch, 3, frames, crop, crop)
    if cfg.get("kind", "strg") == "i3d":
        return x
    g = torch.Generator().manual_seed(0)
    k, t = cfg.get("boxes_per_frame", 10), frames // 2
    xy = torch.rand(batch, 1, k, 2, generator=g) * 0.5 * crop
    drift = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1) * crop / 200
    wh = (torch.rand(batch, 1, k, 2, generator=g) * 0.5 + 0.1) * crop
    boxes = torch.cat([xy + drift, xy + drift + wh], -1).clamp(0, crop - 1)
    return x, boxes


def _dataset(name: str, layout: str, expected: dict, eval_split: str) -> DatasetSpec:
    return DatasetSpec(name=name, train_split="train", eval_split=eval_split,
                       expected_samples=expected, format=layout,
                       data_root_help="see reproducers/strg/DATA.md (boxes: the prepare stage)",
                       build=data.build, synthesize=data.synthesize,
                       fingerprint=data.fingerprint, prepare=data.prepare)


SSV1 = _dataset("Something-Something v1", SSV1_LAYOUT,
                {"train": 86_017, "validation": 11_522}, "validation")
CHARADES = _dataset("Charades v1", CHARADES_LAYOUT, {"train": 7_985, "test": 1_863}, "test")

SSV1_PROTOCOL = Protocol(
    input="32 frames at 6 fps x 224² (boxes: 16 frames x 10 proposals)", temporal_clips=2,
    spatial_crops=1, eval_split="validation", pool="max",
    aggregation="max over 2 clips of the full frame at short side 256, fully convolutional "
                "in space (paper p11); FLOPs counted at 224²")
JD730_PROTOCOL = Protocol(
    input="32 consecutive frames x 224² (boxes: 16 frames x 10 proposals)", temporal_clips=3,
    spatial_crops=1, eval_split="validation", pool="max",
    aggregation="jd730 validation.py scores each of 3 evenly spaced clips (clip-level "
                "accuracy, centre crop 224); evaluated here video-level (max over the clips) "
                "until clip-level scoring is added")


def _charades_protocol(frames: int, crop: int) -> Protocol:
    return Protocol(
        input=f"{frames} frames, stride 4 at 24 fps x {crop}² (boxes: {frames // 2} frames x "
              f"50 proposals)", temporal_clips=10, spatial_crops=1, eval_split="test",
        pool="max",
        aggregation="max of sigmoid scores over 10 clips, full frame at short side 256 "
                    f"(paper p11); mAP over 157 classes; FLOPs counted at {crop}²")


def _recipe(iterations: int, lr: float, stage: str, extra: dict | None = None) -> Recipe:
    return Recipe(
        optimizer="sgd (momentum 0.9 and weight decay 1e-4: the Non-local code base's values; "
                  "STRG states neither)",
        lr=lr, weight_decay=1e-4, epochs=1,  # unused: options.iterations decides the length
        batch_size=8, gpus=4,
        lr_scaling="none: lr 0.00125 for 8 clips on 4 GPUs (paper p10)",
        schedule=f"{iterations} iterations, lr /10 at 90% (paper: 90K of 100K)", seed=0,
        options={"iterations": iterations, "stage": stage, "bn": "frozen", "dropout": 0.3,
                 "momentum": 0.9, **(extra or {})})


I3D_RECIPE = _recipe(100_000, 0.00125, "1: I3D fine-tune from Kinetics (ImageNet-inflated)")
STRG_RECIPE = _recipe(
    100_000, 0.00125, "2: GCN on frozen I3D features, then 3: 30K end-to-end iterations",
    {"end_to_end_iterations": 30_000,
     "end_to_end_lr": 0.000125,  # an inference: the paper gives no value
     "init": "the I3D reproduction's checkpoint (chained stages)"})
JD730_RECIPE = Recipe(
    optimizer="sgd (momentum 0.9, weight decay 1e-3, jd730 opts.py defaults)", lr=0.00125,
    weight_decay=1e-3, epochs=100, batch_size=32, gpus=1,
    lr_scaling="none (jd730 README command)", schedule="multistep: /10 at epoch 90", seed=1,
    options={"bn": "frozen at init (freeze_bn)", "imagenet_inflation": "jd730_noop",
             "strg_stage": {"lr": 0.000125, "epochs": 30}})
SMOKE_RECIPE = Recipe(optimizer="sgd (momentum 0.9)", lr=0.01, weight_decay=1e-4, epochs=20,
                      batch_size=8, gpus=0, lr_scaling="none", schedule="constant", seed=0,
                      options={"momentum": 0.9, "eval_every": 5, "eval_batch_size": 8})
# Charades smoke: 157 sigmoid outputs learn slower than 4 softmax ones
SMOKE_RECIPE_CHARADES = Recipe(
    optimizer="sgd (momentum 0.9)", lr=0.3, weight_decay=1e-4, epochs=30, batch_size=8,
    gpus=0, lr_scaling="none", schedule="constant", seed=0,
    options={"momentum": 0.9, "eval_every": 10, "eval_batch_size": 8})
TASK = Task(train=task.train, evaluate=task.evaluate)

SSV1_DATA = {"layout": "ssv1", "frames": 32, "stride": 2, "crop": 224,
             "train_short_side": (256, 320), "test_short_side": 256, "test_crop": None,
             "box_step": 2, "boxes_per_frame": 10, "rpn_min_size": 800}
JD730_DATA = {**SSV1_DATA, "sampling": "jd730", "test_short_side": 224,
              "test_crop": 224, "train_crop": "jd730", "hflip": 0.5}
SMOKE_DATA = {"layout": "ssv1", "frames": 8, "stride": 2, "crop": 64,
              "train_short_side": (64, 72), "test_short_side": 64, "test_crop": 64,
              "box_step": 2, "n_per_class": 8, "n_val_per_class": 6,
              "frames_per_video": 16, "size": 64, "boxes_per_frame": 3}
SMOKE_CLIPS = 2  # test clips of the short synthetic videos, every protocol
# Charades smoke: two interactions per video (two target classes of 157), 8 frames 3 apart
SMOKE_CHARADES = {**SMOKE_DATA, "layout": "charades", "stride": 3, "frames_per_video": 24}


def _rep(name: str, dataset: DatasetSpec, protocol: Protocol, recipe: Recipe, full: dict,
         description: str, metrics: list[str], data_config: dict) -> Reproduction:
    # every knob explicit, so `--set model.NAME=VALUE` can reach it
    defaults = {"depth": 50, "widen_factor": 1.0, "conv1_t_size": 5, "inflation": "every",
                "nonlocal_blocks": None, "freeze_bn": True}
    defaults.update({"dropout": 0.3} if full.get("kind") == "i3d" else
                    {"preset": "paper", "branches": "both"})
    full = {**defaults, **full}
    charades = data_config.get("layout") == "charades"
    smoke = {**full, **SMOKE_MODEL, "depth": 50, **({"num_classes": 157} if charades else {})}
    return Reproduction(
        name=name, paper=PAPER, dataset=dataset,
        model=ModelSpec(full.get("kind", "strg"), build_model, full, smoke, example_input,
                        official_num_params=None),
        recipe=recipe, smoke_recipe=SMOKE_RECIPE_CHARADES if charades else SMOKE_RECIPE,
        protocol=protocol, smoke_protocol=replace(protocol, temporal_clips=SMOKE_CLIPS),
        task=TASK,
        expected=[r for r in EXPECTED if r.reproduction == name], metrics=metrics,
        description=description,
        data_config={**data_config, "boxes": full.get("kind") == "strg"},
        smoke_data={**(SMOKE_CHARADES if charades else SMOKE_DATA),
                    "boxes": full.get("kind") == "strg"})


def _declare() -> list[Reproduction]:
    reps = []
    nl = {"nonlocal_blocks": "nonlocal_paper"}
    ssv1 = {"num_classes": 174, "frames": 32, "crop": 224, "boxes_per_frame": 10}
    for name, kind, extra, desc in [
            ("i3d_r50_ssv1", "i3d", {}, "I3D R50 (Table 1), Kinetics init"),
            ("strg_r50_ssv1", "strg", {}, "I3D R50 + joint GCN (paper head)"),
            ("nl_i3d_r50_ssv1", "i3d", nl, "Non-local I3D R50 (5 NL blocks, assumed)"),
            ("strg_nl_i3d_r50_ssv1", "strg", nl, "Non-local I3D R50 + joint GCN")]:
        recipe = I3D_RECIPE if kind == "i3d" else STRG_RECIPE
        reps.append(_rep(name, SSV1, SSV1_PROTOCOL, recipe,
                         {"kind": kind, **ssv1, **extra}, desc, ["acc@1", "acc@5"], SSV1_DATA))
    for name, kind, extra, desc in [
            ("i3d_jd730_ssv1", "i3d", {"dropout": 0.0}, "jd730's resnet_strg-50 stage 1"),
            ("strg_jd730_ssv1", "strg", {"preset": "jd730"}, "jd730's STRG head (stage 2)")]:
        reps.append(_rep(name, SSV1, JD730_PROTOCOL, JD730_RECIPE,
                         {"kind": kind, **ssv1, **extra}, desc, ["acc@1"], JD730_DATA))
    charades = {"num_classes": 157, "boxes_per_frame": 50}
    for depth, frames, crop in ((50, 32, 224), (101, 128, 288)):
        r = f"r{depth}"
        protocol = _charades_protocol(frames, crop)
        data_cfg = {"layout": "charades", "frames": frames, "stride": 4 if depth == 50 else 1,
                    # R101 at 288²: R50's short sides scaled by 288/224 (an assumption)
                    "crop": crop, "train_short_side": (256, 320) if depth == 50 else (329, 411),
                    "test_short_side": 256 if depth == 50 else 329, "test_crop": None,
                    "box_step": 2, "boxes_per_frame": 50,
                    "rpn_min_size": 800}
        size = {**charades, "depth": depth, "frames": frames, "crop": crop}
        variants = [(f"i3d_{r}_charades", "i3d", {}), (f"strg_{r}_charades", "strg", {}),
                    (f"nl_i3d_{r}_charades", "i3d", nl),
                    (f"strg_nl_i3d_{r}_charades", "strg", nl)]
        if depth == 50:
            variants += [("strg_st_r50_charades", "strg", {"branches": "space_time"}),
                         ("strg_sim_r50_charades", "strg", {"branches": "similarity"})]
        for name, kind, extra in variants:
            recipe = I3D_RECIPE if kind == "i3d" else STRG_RECIPE
            reps.append(_rep(name, CHARADES, protocol, recipe, {"kind": kind, **size, **extra},
                             f"{name}: Charades, sigmoid multi-label", ["map"], data_cfg))
    return reps


REPRODUCTIONS = _declare()
