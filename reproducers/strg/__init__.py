"""STRG (ECCV 2018): "Videos as Space-Time Region Graphs" (Wang & Gupta). An I3D ResNet
with a graph head over region proposals (a similarity graph and forward/backward IoU graphs,
GCN), on Something-Something v1 (top-1/top-5) and Charades (mAP).

There is no official code. The paper's text (../shared/papers/strg.md, "The paper's own text")
defines the default model; jd730/STRG @ 0df179c, an unofficial re-implementation, is offered as
the ``jd730`` head preset and its own rows (its 23.2 / 24.5 SSv1 top-1).

Declared here: models, protocols, recipes (typed options: ``recipe.py``), data, the expected
table and the paper's claims ([[claim]] rows). Each reproduction trains one stage
(``task.py``). The paper's three stages are chained reproductions (harness ``InitFrom``;
``run strg_r50_ssv1 --with-deps`` runs them in order): ``i3d_*`` (1: I3D fine-tune) ->
``strg_*_gcn`` (2: the GCN on frozen I3D features) -> ``strg_*`` (3: end-to-end); jd730's
two stages likewise (``i3d_jd730_ssv1`` -> ``strg_jd730_ssv1``).
Assumptions a run records: the non-local placement (the Non-local paper's 5 blocks, STRG does
not state it), the inflation pattern (paper rows ``alternating``, the Non-local I3D: the
paper's 153 / 158 GFLOPs, TSM's 28.0 M and its Non-local Kinetics init all describe it, see
``flops.py``; Table 1's literal ``every`` is ``--set model.inflation=every``; jd730 rows
``every``, its code), weight decay 1e-4 and momentum 0.9 (the Non-local code
base's; STRG states neither), the stage-3 lr 0.000125 (an inference).
"""

from __future__ import annotations

import math
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
from reproducers.harness.weights import InitFrom

from . import data, flops, task
from .checkpoints import i3d_as_strg
from .model import build_i3d_classifier, build_strg
from .recipe import STRGOptions

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
# the paper's claims (STRG beats I3D, paired): [[claim]] rows, attached to their ``a`` side

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
                       fingerprint=data.fingerprint, prepare=data.prepare,
                       for_recipe=data.for_recipe)


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
    aggregation="jd730 validation.py: each of up to 3 evenly spaced clips scored on its own "
                "(centre crop 224), clip-level accuracy (recipe option eval_mode=jd730_clip, "
                "evaluation.py); eval_mode=paper gives the max over the clips per video")


def _charades_protocol(frames: int, crop: int) -> Protocol:
    return Protocol(
        input=f"{frames} frames, stride 4 at 24 fps x {crop}² (boxes: {frames // 2} frames x "
              f"50 proposals)", temporal_clips=10, spatial_crops=1, eval_split="test",
        pool="max",
        aggregation="max of sigmoid scores over 10 clips, full frame at short side 256 "
                    f"(paper p11); mAP over 157 classes; FLOPs counted at {crop}²")


def _paper_recipe(dataset: DatasetSpec, lr: float, iterations: int, schedule: str = "step",
                  train_part: str = "all") -> Recipe:
    batch = 8
    return Recipe(
        optimizer="sgd", lr=lr, weight_decay=1e-4,  # wd: an assumption (see recipe.py)
        # what the task runs: options.iterations over full batches of the train split
        epochs=math.ceil(iterations / (dataset.expected_samples["train"] // batch)),
        batch_size=batch, gpus=4,
        lr_scaling="none: lr 0.00125 for 8 clips on 4 GPUs (paper p10)",
        schedule=schedule, seed=0,
        options=STRGOptions(iterations=iterations, train_part=train_part))


def paper_recipes(dataset: DatasetSpec) -> dict[str, Recipe]:
    """The paper's three stages (p10), chained by InitFrom (see ``_chain``): "i3d" (1: I3D
    fine-tune from Kinetics, 100K iterations, lr 0.00125 /10 at 90K), "gcn" (2: the GCN on
    frozen I3D features, same schedule), "strg" (3: end-to-end, 30K more iterations at the
    reduced lr 0.000125: an inference, the paper gives no value for stage 3)."""
    return {"i3d": _paper_recipe(dataset, 0.00125, 100_000),
            "gcn": _paper_recipe(dataset, 0.00125, 100_000, train_part="head"),
            "strg": _paper_recipe(dataset, 0.000125, 30_000, schedule="constant")}


# jd730 README: stage 1 100 epochs at 0.00125 (/10 at epoch 90), stage 2 (--strg, every
# tensor trains, BN frozen) 30 epochs at 0.000125 with the milestone 90 never reached
JD730_OPTIONS = STRGOptions(sgd_source="jd730 opts.py defaults", imagenet_inflation="jd730_noop",
                            eval_mode="jd730_clip")  # its 23.2 / 24.5 are clip-level
JD730_RECIPE = Recipe(
    optimizer="sgd", lr=0.00125, weight_decay=1e-3, epochs=100, batch_size=32, gpus=1,
    lr_scaling="none (jd730 README command)", schedule="step", seed=1, options=JD730_OPTIONS)
JD730_STRG_RECIPE = replace(JD730_RECIPE, lr=0.000125, epochs=30, schedule="constant")


def _smoke(lr: float, epochs: int, eval_every: int, train_part: str = "all") -> Recipe:
    return Recipe(optimizer="sgd", lr=lr, weight_decay=1e-4, epochs=epochs, batch_size=8,
                  gpus=0, lr_scaling="none", schedule="constant", seed=0,
                  options=STRGOptions(eval_every=eval_every, eval_batch_size=8,
                                      train_part=train_part))


# smoke stages on CPU: 1. I3D; 2. graph head on the frozen I3D; 3. end-to-end at lr / 10
SMOKE_RECIPES = {"i3d": _smoke(0.01, 20, 5), "gcn": _smoke(0.01, 10, 5, "head"),
                 "strg": _smoke(0.001, 10, 5)}
# Charades smoke: 157 sigmoid outputs learn slower than 4 softmax ones
SMOKE_RECIPES_CHARADES = {"i3d": _smoke(0.3, 30, 10), "gcn": _smoke(0.1, 30, 10, "head"),
                          "strg": _smoke(0.03, 20, 10)}
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
SMOKE_CHARADES = {**SMOKE_DATA, "layout": "charades", "stride": 3, "frames_per_video": 24,
                  "n_val_per_class": 16}


def _rep(name: str, dataset: DatasetSpec, protocol: Protocol, recipe: Recipe, full: dict,
         description: str, metrics: list[str], data_config: dict, stage: str,
         init: InitFrom | None = None) -> Reproduction:
    """``stage``: "i3d", "gcn" or "strg" (the smoke recipe of that stage)."""
    # every knob explicit, so `--set model.NAME=VALUE` can reach it
    defaults = {"depth": 50, "widen_factor": 1.0, "conv1_t_size": 5, "inflation": "alternating",
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
        recipe=recipe,
        smoke_recipe=(SMOKE_RECIPES_CHARADES if charades else SMOKE_RECIPES)[stage],
        protocol=protocol, smoke_protocol=replace(protocol, temporal_clips=SMOKE_CLIPS),
        task=TASK,
        expected=[r for r in EXPECTED if r.reproduction == name], metrics=metrics,
        description=description,
        data_config={**data_config, "boxes": full.get("kind") == "strg"},
        smoke_data={**(SMOKE_CHARADES if charades else SMOKE_DATA),
                    "boxes": full.get("kind") == "strg"},
        init=init)


def _chain(i3d: str, strg: str, dataset: DatasetSpec, protocol: Protocol, model: dict,
           description: str, metrics: list[str], data_config: dict) -> list[Reproduction]:
    """The paper's three stages (p10) as chained reproductions: ``i3d`` (1: I3D fine-tune),
    ``<strg>_gcn`` (2: the GCN on frozen I3D features, from the I3D's selected checkpoint:
    the last, as the paper trains a fixed schedule) and ``strg`` (3: end-to-end from stage 2;
    its 30K iterations at lr 0.000125 are an inference). A variant of the graph head
    (``model``: branches, non-local blocks) applies to stages 2 and 3."""
    gcn = f"{strg}_gcn"
    args = (dataset, protocol)
    return [
        _rep(gcn, *args, paper_recipes(dataset)["gcn"], {"kind": "strg", **model},
             f"{description}: stage 2 of 3, the GCN on frozen I3D features ({i3d})", metrics,
             data_config, "gcn", InitFrom(i3d, "selected", adapt=i3d_as_strg)),
        _rep(strg, *args, paper_recipes(dataset)["strg"], {"kind": "strg", **model},
             f"{description}: stage 3 of 3, end-to-end from {gcn} (30K iterations at lr "
             f"0.000125, an inference)", metrics, data_config, "strg",
             InitFrom(gcn, "selected", strict=True))]


def _declare() -> list[Reproduction]:
    reps = []
    nl = {"nonlocal_blocks": "nonlocal_paper"}
    ssv1 = {"num_classes": 174, "frames": 32, "crop": 224, "boxes_per_frame": 10}
    args = (SSV1, SSV1_PROTOCOL)
    for i3d, strg, extra, desc in [
            ("i3d_r50_ssv1", "strg_r50_ssv1", {}, "I3D R50 (Table 1) + joint GCN (paper head)"),
            ("nl_i3d_r50_ssv1", "strg_nl_i3d_r50_ssv1", nl,
             "Non-local I3D R50 (5 NL blocks, assumed) + joint GCN")]:
        reps.append(_rep(i3d, *args, paper_recipes(SSV1)["i3d"],
                         {"kind": "i3d", **ssv1, **extra},
                         f"{desc.split(' + ')[0]}, Kinetics init: stage 1 of 3",
                         ["acc@1", "acc@5"], SSV1_DATA, "i3d"))
        reps += _chain(i3d, strg, *args, {**ssv1, **extra}, desc, ["acc@1", "acc@5"],
                       SSV1_DATA)
    reps.append(_rep("i3d_jd730_ssv1", SSV1, JD730_PROTOCOL, JD730_RECIPE,
                     {"kind": "i3d", **ssv1, "dropout": 0.0, "inflation": "every"},
                     "jd730's resnet_strg-50 stage 1",
                     ["acc@1"], JD730_DATA, "i3d"))
    reps.append(_rep("strg_jd730_ssv1", SSV1, JD730_PROTOCOL, JD730_STRG_RECIPE,
                     {"kind": "strg", **ssv1, "preset": "jd730", "inflation": "every"},
                     "jd730's STRG head, stage 2 (every tensor trains) from i3d_jd730_ssv1's "
                     "last checkpoint (its save_100.pth)", ["acc@1"], JD730_DATA, "strg",
                     InitFrom("i3d_jd730_ssv1", "selected", adapt=i3d_as_strg)))
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
        args = (CHARADES, protocol)
        for nl_extra, prefix in (({}, ""), (nl, "nl_")):
            i3d = f"{prefix}i3d_{r}_charades"
            reps.append(_rep(i3d, *args, paper_recipes(CHARADES)["i3d"],
                             {"kind": "i3d", **size, **nl_extra},
                             f"{i3d}: Charades, sigmoid multi-label, stage 1 of 3", ["map"],
                             data_cfg, "i3d"))
            variants = [(f"strg_{prefix}{'i3d_' if prefix else ''}{r}_charades", {})]
            if depth == 50 and not prefix:
                variants += [("strg_st_r50_charades", {"branches": "space_time"}),
                             ("strg_sim_r50_charades", {"branches": "similarity"})]
            for strg, extra in variants:
                reps += _chain(i3d, strg, *args, {**size, **nl_extra, **extra},
                               f"{strg}: Charades, sigmoid multi-label", ["map"], data_cfg)
    return reps


REPRODUCTIONS = _declare()
