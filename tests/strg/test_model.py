"""Whole models: jd730's STRG checkpoint layout, frozen BN, full size on the meta device."""

from __future__ import annotations

import torch

from reproducers.strg.model import build_i3d_classifier, build_strg


def _head_keys(model) -> list[str]:
    return [k for k in model.state_dict() if not k.startswith("base_model.")]


def test_jd730_strg_layout_loads_strictly(golden_dir):
    head = torch.load(golden_dir / "strg_head_small.pt", weights_only=True)
    backbone = torch.load(golden_dir / "strg_backbone_small.pt", weights_only=True)
    with torch.device("meta"):
        model = build_strg(preset="jd730")
    base = [k for k in model.state_dict() if k.startswith("base_model.")]
    assert len(base) == backbone["config"]["strg_wrapper"]["wrapper_backbone_keys_without_fc"]
    assert base == ["base_model." + k for k in backbone["config"]["full_size"]["state_dict_keys"]
                    if not k.startswith("fc.")]
    assert sorted(_head_keys(model)) == sorted(head["state_dict"])
    # a jd730 stage-2 checkpoint (reduced size) loads strictly
    small = build_strg(widen_factor=1 / 16, num_classes=5, preset="jd730", width=8)
    ckpt = {**{"base_model." + k: v for k, v in backbone["state_dict"].items()
               if not k.startswith("fc.")},
            **{k: v for k, v in head["state_dict"].items()
               if not k.startswith(("reducer.", "classifier."))},
            "reducer.weight": torch.randn(8, 128, 1, 1, 1), "reducer.bias": torch.zeros(8),
            "classifier.weight": torch.randn(5, 16), "classifier.bias": torch.zeros(5)}
    small.load_state_dict(ckpt, strict=True)


def test_full_size_parameter_counts():
    with torch.device("meta"):
        i3d = build_i3d_classifier()
        jd730 = build_strg(preset="jd730")
        paper = build_strg()
    n = {name: sum(p.numel() for p in m.parameters())
         for name, m in (("i3d", i3d), ("jd730", jd730), ("paper", paper))}
    assert n["i3d"] == 32_561_134
    backbone_without_fc = 32_204_608
    head = 2048 * 512 + 512 + 1024 * 174 + 174 + 2 * 512 * 512 + 9 * 512 * 512
    assert n["jd730"] == backbone_without_fc + head  # about 4.11 M head, 36.3 M in all
    assert n["paper"] == n["jd730"] + 6 * 2 * 512  # six LayerNorms


def test_strg_forward_and_frozen_bn_in_training():
    torch.manual_seed(0)
    model = build_strg(widen_factor=1 / 16, num_classes=5).double()
    x = torch.randn(2, 3, 8, 64, 64, dtype=torch.float64)
    rois = torch.tensor([10.0, 12.0, 40.0, 50.0], dtype=torch.float64).expand(2, 4, 3, 4)
    model.eval()
    with torch.no_grad():
        eval_features = model.base_model.extract_feature(x)
    model.train()
    with torch.no_grad():
        train_features = model.base_model.extract_feature(x)
    torch.testing.assert_close(train_features, eval_features, rtol=0, atol=0)
    assert not model.base_model.bn1.weight.requires_grad
    logits = model(x, rois)
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert model.base_model.conv1.weight.grad is not None
