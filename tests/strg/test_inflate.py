"""ImageNet inflation really copies a torchvision ResNet-50's weights (and jd730's does not)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from reproducers.harness.errors import UserError
from reproducers.strg.backbone import build_i3d
from reproducers.strg.inflate import inflate_imagenet, read_torchvision_resnet


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory):
    torch.manual_seed(3)
    net = torchvision.models.resnet50(weights=None)
    for m in net.modules():  # non-trivial BN so a copy is visible
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("imagenet") / "resnet50.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize("mode", ["mean", "centre"])
def test_inflation_copies_every_backbone_tensor(resnet50_file, mode):
    state_2d = read_torchvision_resnet(resnet50_file)
    torch.manual_seed(0)
    model = build_i3d(num_classes=174)
    fc_before = model.fc.weight.clone()
    report = inflate_imagenet(model, state_2d, mode)
    assert report == {"mode": mode, "copied": 318, "kept_init": 2}
    sd = model.state_dict()
    for key, value in sd.items():
        if key.startswith("fc."):
            continue
        w2d = state_2d[key]
        if value.dim() == 5:
            t = value.shape[2]
            if mode == "mean":
                torch.testing.assert_close(value.sum(2), w2d, msg=key)
                torch.testing.assert_close(value[:, :, 0], w2d / t, msg=key)
            else:
                torch.testing.assert_close(value[:, :, t // 2], w2d, rtol=0, atol=0)
                others = torch.cat([value[:, :, :t // 2], value[:, :, t // 2 + 1:]], 2)
                assert not others.any()  # zeros elsewhere
        else:
            torch.testing.assert_close(value, w2d, rtol=0, atol=0, msg=key)
    assert torch.equal(model.fc.weight, fc_before)
    assert sd["conv1.weight"].shape == (64, 3, 5, 7, 7)


def test_mean_inflation_keeps_2d_response_on_a_static_clip(resnet50_file):
    """Mean inflation: the stem conv on a static clip equals the 2-D conv on its frame
    (away from the temporal border, where zero padding cuts planes)."""
    state_2d = read_torchvision_resnet(resnet50_file)
    model = build_i3d()
    inflate_imagenet(model, state_2d, "mean")
    frame = torch.randn(1, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(1, 3, 9, 32, 32)
    with torch.no_grad():
        y3 = model.conv1(clip)[:, :, 4]
        y2 = torch.nn.functional.conv2d(frame, state_2d["conv1.weight"], stride=2, padding=3)
    torch.testing.assert_close(y3, y2, rtol=1e-4, atol=1e-4)


def test_jd730_noop_changes_nothing(resnet50_file):
    model = build_i3d(widen_factor=1.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = inflate_imagenet(model, read_torchvision_resnet(resnet50_file), "jd730_noop")
    assert report["copied"] == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_files_and_modes(tmp_path, resnet50_file):
    with pytest.raises(UserError, match="no such file"):
        read_torchvision_resnet(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_text("not torch")
    with pytest.raises(UserError, match="not a readable torch file"):
        read_torchvision_resnet(tmp_path / "junk.pth")
    state = read_torchvision_resnet(resnet50_file)
    with pytest.raises(UserError, match="choose one of"):
        inflate_imagenet(build_i3d(widen_factor=1 / 16), state, "zeros")
    with pytest.raises(UserError, match="shape"):  # a 1/16-width model cannot take R50 weights
        inflate_imagenet(build_i3d(widen_factor=1 / 16), state, "mean")
    with pytest.raises(UserError, match="missing 'layer3.6"):  # R101 needs more blocks
        inflate_imagenet(build_i3d(depth=101), state, "mean")
