"""jd730's online proposals for a run (``--set proposals=online``): the RPN built from the
typed options, run on every batch by the task, its padded boxes counted for the record.

The paper computes proposals offline (the prepare stage's box store, the default); jd730's
``training.py`` / ``validation.py`` run the RPN inside every iteration. The weights are the
prepare stage's: torchvision's COCO ``fasterrcnn_resnet50_fpn`` file, here the option
``rpn_weights`` (a relative path is read under ``--data-root``), resized by the data config's
``rpn_min_size`` (800, the detector's default; smoke data: the clip's own size). Smoke runs have no COCO file: without
``rpn_weights`` they use a stand-in, the same RPN with torchvision's random initialisation
under seed 0 (deterministic, its boxes meaningless; the record says so); a full run without it
is a one-line error. The checkpoint holds the STRG model alone (the RPN is frozen and not
part of it), so store and online checkpoints are interchangeable.
"""

from __future__ import annotations

from pathlib import Path

import torch

from reproducers.harness.errors import UserError

from .proposals import OnlineProposals, ProposalNetwork

STAND_IN = "random-init stand-in (seed 0; smoke run without rpn_weights: boxes meaningless)"


def rpn_file(weights: str, data_root: Path) -> Path:
    path = Path(weights)
    path = path if path.is_absolute() else Path(data_root) / path
    if not path.is_file():
        raise UserError(f"--set rpn_weights={weights}: {path} does not exist; give torchvision's "
                        f"COCO fasterrcnn_resnet50_fpn state dict (a relative path is read "
                        f"under --data-root)")
    return path


def _build(ctx) -> tuple[OnlineProposals, dict]:
    cfg, weights = ctx.data_config, ctx.recipe.options.rpn_weights
    if weights is None and not ctx.smoke:
        raise UserError("--set proposals=online needs --set rpn_weights=FILE: torchvision's COCO "
                        "fasterrcnn_resnet50_fpn state dict (as for `prepare --weights`; a "
                        "relative path is read under --data-root)")
    path = rpn_file(weights, ctx.data_root) if weights is not None else None
    k = cfg.get("boxes_per_frame", 10)
    # the data config's (800 declared, the detector's); smoke data declares none: the clip
    # as it is (64 px), not upscaled to 800 on a CPU
    min_size = cfg.get("rpn_min_size") or (cfg.get("crop", 224) if ctx.smoke else 800)
    with torch.random.fork_rng(devices=[]):  # the model's initialisation stays the seed's
        torch.manual_seed(0)
        rpn = ProposalNetwork(k, min_size=min_size, max_size=max(1333, min_size))
    report = rpn.load_coco(path) if path else {"file": None, "weights": STAND_IN}
    online = OnlineProposals(rpn, torch.nn.Identity(), step=cfg.get("box_step", 2))
    device = ctx.extras["dist"].device if ctx.extras.get("dist") is not None else ctx.device
    online.to(device)
    return online, {"mode": "online", "rpn": report, "boxes_per_frame": k,
                    "box_step": online.step, "rpn_min_size": min_size}


def proposals_for(ctx) -> OnlineProposals | None:
    """The run's online RPN (built once per run), or None: boxes come from the store (or the
    model takes none)."""
    if ctx.data_config.get("proposals") != "online":
        return None
    if "online_proposals" not in ctx.extras:
        ctx.extras["online_proposals"] = _build(ctx)
    return ctx.extras["online_proposals"][0]


def record(ctx, since: tuple[int, int] = (0, 0)) -> dict | None:
    """What the run's online RPN did (None without one): the box frames it ran on and the
    boxes padded by the store's rule, counted from ``since`` (counts()) on."""
    if "online_proposals" not in ctx.extras:
        return None
    online, report = ctx.extras["online_proposals"]
    frames, padded = counts(online)
    return {**report, "box_frames": frames - since[0], "padded_boxes": padded - since[1]}


def counts(online: OnlineProposals | None) -> tuple[int, int]:
    return (online.box_frames, online.padded_boxes) if online is not None else (0, 0)
