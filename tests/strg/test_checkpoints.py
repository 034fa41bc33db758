"""Initial weights: a jd730 stage-1 checkpoint into STRG; a Kinetics I3D into the I3D."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.strg.checkpoints import load_backbone, read_state
from reproducers.strg.model import build_i3d_classifier, build_strg


def _jd730_file(tmp_path, model, prefix="module."):
    path = tmp_path / "save_100.pth"
    torch.save({"epoch": 100, "arch": "resnet_strg-50",
                "state_dict": {prefix + k: v for k, v in model.state_dict().items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.00125}]},
                "scheduler": {"milestones": {90: 1}, "last_epoch": 100}}, path)
    return path


def test_stage1_checkpoint_into_strg(tmp_path):
    torch.manual_seed(0)
    stage1 = build_i3d_classifier(widen_factor=1 / 16, num_classes=5)
    path = _jd730_file(tmp_path, stage1)
    torch.manual_seed(1)
    strg = build_strg(widen_factor=1 / 16, num_classes=5)
    report = load_backbone(strg, read_state(path), str(path))
    assert report["loaded"] == 318 and report["unused"] == ["fc.bias", "fc.weight"]
    for k, v in stage1.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(strg.base_model.state_dict()[k], v), k


def test_kinetics_i3d_with_400_classes_into_ssv1_nonlocal(tmp_path):
    kinetics = build_i3d_classifier(widen_factor=1 / 16, num_classes=400)
    path = tmp_path / "k400.pt"
    torch.save(kinetics.state_dict(), path)
    model = build_i3d_classifier(widen_factor=1 / 16, num_classes=174,
                                 nonlocal_blocks="nonlocal_paper")
    report = load_backbone(model, read_state(path), str(path))
    assert "fc.weight" in report["kept_init"]
    assert sum(".nonlocal_block." in k for k in report["kept_init"]) > 0
    assert torch.equal(model.conv1.weight, kinetics.conv1.weight)


def test_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_state(tmp_path / "x.pth")
    small = build_i3d_classifier(widen_factor=1 / 16, num_classes=5)
    state = small.state_dict()
    with pytest.raises(UserError, match="has shape"):
        load_backbone(build_i3d_classifier(widen_factor=1 / 16, inflation="alternating"),
                      state, "f")
    del state["layer1.0.conv1.weight"]
    with pytest.raises(UserError, match="missing 'layer1.0.conv1.weight'"):
        load_backbone(build_i3d_classifier(widen_factor=1 / 16), state, "f")
