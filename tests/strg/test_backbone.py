"""The paper's I3D ResNet (jd730 names): golden equality, official key list, full size."""

from __future__ import annotations

import torch

from reproducers.strg.backbone import NONLOCAL_R50, build_i3d, freeze_batchnorm
from tests.conftest import REPO_ROOT

TSV = REPO_ROOT.parent / "shared" / "papers" / "strg_resnet_strg_official_state_dict.tsv"


def _golden(golden_dir):
    return torch.load(golden_dir / "strg_backbone_small.pt", weights_only=True)


def _small_from(cfg: dict) -> torch.nn.Module:
    small = cfg["small"]
    assert small["shortcut_type"] == "B" and not small["no_max_pool"]
    assert small["conv1_t_stride"] == 1 and small["n_input_channels"] == 3
    return build_i3d(depth=small["model_depth"], num_classes=small["n_classes"],
                     widen_factor=small["widen_factor"], conv1_t_size=small["conv1_t_size"])


def test_golden_backbone_every_stage(golden_dir):
    g = _golden(golden_dir)
    model = _small_from(g["config"]).double().eval()
    model.load_state_dict(g["state_dict"], strict=True)
    assert list(model.state_dict()) == list(g["state_dict"])  # same order, too
    assert sum(p.numel() for p in model.parameters()) == g["config"]["num_parameters"]
    x, out = g["inputs"]["x"], g["outputs"]
    with torch.no_grad():
        stages = model.stages(x)
        features = model.extract_feature(x)
        pooled = model.pool(features)
        logits = model(x)
    for name in ("stem", "layer1", "after_maxpool2", "layer2", "layer3", "layer4"):
        torch.testing.assert_close(stages[name], out[name], rtol=0, atol=1e-9, msg=name)
    torch.testing.assert_close(features, out["features"], rtol=0, atol=1e-9)
    torch.testing.assert_close(pooled, out["pooled_features"], rtol=0, atol=1e-10)
    torch.testing.assert_close(logits, out["logits"], rtol=0, atol=1e-10)


def test_frozen_bn_training_mode_equals_eval(golden_dir):
    """jd730's STRG.train(): backbone BN frozen, so training-mode features = the eval ones."""
    g = _golden(golden_dir)
    model = _small_from(g["config"]).double()
    model.load_state_dict(g["state_dict"])
    model.train()
    freeze_batchnorm(model)
    with torch.no_grad():
        features = model.extract_feature(g["inputs"]["x"])
    torch.testing.assert_close(features, g["outputs"]["features"], rtol=0, atol=1e-9)
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".bn" in n
                   or n.startswith("bn1") or "downsample.1" in n)


def _tsv_rows() -> list[tuple[str, tuple[int, ...]]]:
    lines = TSV.read_text().splitlines()
    assert lines[0] == "name\tshape"
    rows = []
    for line in lines[1:]:
        name, shape = line.split("\t")
        rows.append((name, tuple(int(s) for s in shape.strip("()").split(",") if s.strip())))
    return rows


def test_full_size_key_list_and_parameter_count(golden_dir):
    full = _golden(golden_dir)["config"]["full_size"]
    with torch.device("meta"):
        model = build_i3d(depth=full["config"]["model_depth"],
                          num_classes=full["config"]["n_classes"],
                          conv1_t_size=full["config"]["conv1_t_size"])
    sd = model.state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == _tsv_rows()
    assert len(sd) == full["num_state_dict_entries"] == 320
    assert sum(p.numel() for p in model.parameters()) == full["num_parameters"] == 32_561_134
    assert sum(b.numel() for b in model.buffers()) == full["num_buffer_elements"]
    assert [list(v.shape) for v in sd.values()] == full["state_dict_shapes"]


def test_full_size_output_shape_on_meta():
    """32×224² → 2048×16×14×14 (paper Table 1), res4 and res5 both 14×14."""
    with torch.device("meta"):
        model = build_i3d().eval()
        stages = model.stages(torch.empty(1, 3, 32, 224, 224))
    assert stages["layer3"].shape == (1, 1024, 16, 14, 14)
    assert stages["layer4"].shape == (1, 2048, 16, 14, 14)


def test_resnet101_and_nonlocal_variants():
    with torch.device("meta"):
        r101 = build_i3d(depth=101)
        nl = build_i3d(nonlocal_blocks="nonlocal_paper")
    assert len(r101.layer3) == 23
    base = {k for k in build_i3d(widen_factor=1 / 16).state_dict()}
    nl_keys = [k for k in nl.state_dict() if "nonlocal_block" in k]
    owners = sorted({k.split(".nonlocal_block")[0] for k in nl_keys})
    assert owners == ["layer2.1", "layer2.3", "layer3.1", "layer3.3", "layer3.5"]
    assert sum(len(v) for v in NONLOCAL_R50.values()) == 5
    assert base <= set(nl.state_dict())  # jd730 names unchanged


def test_nonlocal_starts_as_identity():
    torch.manual_seed(0)
    plain = build_i3d(widen_factor=1 / 16, num_classes=3).eval()
    nl = build_i3d(widen_factor=1 / 16, num_classes=3, nonlocal_blocks="nonlocal_paper").eval()
    nl.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(nl(x), plain(x))
    nl.layer2[1].nonlocal_block.bn.weight.data.fill_(1.0)
    with torch.no_grad():
        assert (nl(x) - plain(x)).abs().max() > 1e-4


def test_alternating_inflation_is_the_nonlocal_i3d():
    """The Non-local code's I3D: same names, 1×1×1 first convs where its flags are 0; its
    size (28.04 M with 400 classes) is the 28.0 M TSM reprints for STRG's I3D."""
    with torch.device("meta"):
        alt = build_i3d(num_classes=400, inflation="alternating")
        every = build_i3d(num_classes=400)
        alt101 = build_i3d(depth=101, inflation="alternating")
    assert list(alt.state_dict()) == list(every.state_dict())
    kernels = [tuple(b.conv1.kernel_size) for layer in (alt.layer1, alt.layer2, alt.layer3,
                                                        alt.layer4) for b in layer]
    assert [k[0] for k in kernels] == [3, 3, 3, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 1, 3, 1]
    assert sum(p.numel() for p in alt.parameters()) == 28_043_472
    assert [b.conv1.kernel_size[0] for b in alt101.layer3][:4] == [3, 1, 3, 1]
    with torch.device("meta"):
        out = alt.eval().extract_feature(torch.empty(1, 3, 32, 224, 224))
    assert out.shape == (1, 2048, 16, 14, 14)


def test_r101_nonlocal_placement_is_the_nonlocal_codes():
    """video-nonlocal-net resnet_video.py for depth 101: res3 every 2nd block, res4 after
    blocks 6, 13, 20 (layer_mod 7)."""
    with torch.device("meta"):
        model = build_i3d(depth=101, nonlocal_blocks="nonlocal_paper")
    where = sorted(name.rsplit(".nonlocal_block", 1)[0] for name, _ in model.named_modules()
                   if name.endswith("nonlocal_block"))
    assert where == ["layer2.1", "layer2.3", "layer3.13", "layer3.20", "layer3.6"]
