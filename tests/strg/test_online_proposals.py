"""``--set proposals=online``: jd730's per-iteration RPN instead of the box store (online.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from reproducers.harness.errors import UserError
from reproducers.harness.overrides import apply
from reproducers.harness.stages import RunOptions, configs
from reproducers.strg import REPRODUCTIONS, data, online
from tests.strg.contexts import smoke_context

STRG = next(r for r in REPRODUCTIONS if r.name == "strg_r50_ssv1")
JD730 = next(r for r in REPRODUCTIONS if r.name == "strg_jd730_ssv1")


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory):
    torch.manual_seed(0)
    det = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)  # COCO layout, random
    path = tmp_path_factory.mktemp("rpn") / "frcnn.pth"
    torch.save({k: v for k, v in det.state_dict().items()
                if k.startswith(("backbone.", "rpn."))}, path)
    return path


def test_store_is_the_default_and_unchanged():
    recipe, _, cfg = configs(STRG, RunOptions(smoke=True))
    assert recipe.options.proposals == "store" and cfg == STRG.smoke_data  # same dict
    i3d = next(r for r in REPRODUCTIONS if r.name == "i3d_r50_ssv1")
    online = dataclasses.replace(recipe.options, proposals="online")
    assert data.for_recipe(i3d.data_config, online) == i3d.data_config  # I3D takes no boxes
    assert data.for_recipe(STRG.data_config, online) == {**STRG.data_config, "boxes": False,
                                                         "proposals": "online",
                                                         "rpn_weights": None}
    _, _, cfg = configs(STRG, RunOptions(smoke=True, overrides={"proposals": "online"}))
    assert cfg["boxes"] is False and cfg["proposals"] == "online"


def test_online_trains_and_evaluates_with_the_rpn_boxes(root, tmp_path, coco_file):
    ctx = smoke_context(STRG, root, tmp_path, proposals="online", rpn_weights=str(coco_file))
    assert "boxes" not in ctx.extras["datasets"]["train"][0]  # the data ships none
    assert "boxes" not in data.fingerprint(ctx.extras["datasets"]["validation"])
    out = STRG.task.train(ctx)
    assert out["steps"] == 1
    rec = out["proposals"]
    assert rec["mode"] == "online" and rec["rpn"]["file"] == str(coco_file)
    assert rec["rpn"]["tensors"] > 0 and rec["boxes_per_frame"] == 3
    # 8 training clips + one evaluation of 4 videos x 2 clips, 4 box frames each (8 frames)
    assert rec["box_frames"] == (8 + 4 * 2) * 4
    assert 0 <= rec["padded_boxes"] <= rec["box_frames"] * 3

    model = STRG.model.factory(**ctx.model_config)
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args))
    res = STRG.task.evaluate(ctx, model, ctx.extras["datasets"]["validation"])
    assert res["eval_size"] == 4 and res["proposals"]["box_frames"] == 4 * 2 * 4
    video, boxes = seen[0]
    rpn = ctx.extras["online_proposals"][0]
    assert boxes.shape == (8, 4, 3, 4)
    assert torch.equal(boxes, rpn.boxes(video))  # what reached the model: the RPN's boxes
    checkpoint = torch.load(out["checkpoint"], weights_only=True)
    assert not any(k.startswith("rpn.") for k in checkpoint)  # the STRG model alone


def test_jd730_clip_evaluation_online_in_smoke_uses_the_stand_in(root, tmp_path):
    ctx = smoke_context(JD730, root, tmp_path, proposals="online", eval_mode="jd730_clip")
    model = JD730.model.factory(**ctx.model_config)
    res = JD730.task.evaluate(ctx, model, ctx.extras["datasets"]["validation"])
    assert res["eval_mode"] == "jd730_clip"
    assert res["proposals"]["rpn"]["weights"] == online.STAND_IN
    assert res["proposals"]["box_frames"] == res["clips"] * 4
    # the stand-in is deterministic: a second build gives the same boxes
    clip = torch.randn(1, 3, 8, 64, 64)
    again = smoke_context(JD730, root, tmp_path, proposals="online")
    assert torch.equal(online.proposals_for(ctx).boxes(clip),
                       online.proposals_for(again).boxes(clip))


def test_bad_proposals_value_lists_the_choices():
    recipe = STRG.smoke_recipe
    with pytest.raises(UserError) as err:
        apply(recipe, dict(STRG.model.smoke), dict(STRG.smoke_data), {"proposals": "nonsense"})
    msg = str(err.value)
    assert "proposals=nonsense" in msg and "one of store, online" in msg and "\n" not in msg


def test_missing_rpn_weights_is_a_one_line_error(root, tmp_path):
    ctx = smoke_context(STRG, root, tmp_path / "a", proposals="online", rpn_weights="none.pth")
    with pytest.raises(UserError) as err:
        STRG.task.train(ctx)
    msg = str(err.value)
    assert "rpn_weights=none.pth" in msg and str(root / "none.pth") in msg and "\n" not in msg
    assert "fasterrcnn_resnet50_fpn" in msg
    ctx = smoke_context(STRG, root, tmp_path / "b", smoke=False, proposals="online")
    with pytest.raises(UserError, match="needs --set rpn_weights=FILE"):
        STRG.task.train(ctx)
    assert not list(tmp_path.rglob("*.pt"))  # refused before training wrote anything
