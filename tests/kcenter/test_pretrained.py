"""Initialisation from a user-supplied ImageNet ViT file: the official jx layout, timm's own
layout (and safetensors), the position-table resize, and clear errors for bad files."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from reproducers.harness.errors import UserError
from reproducers.kcenter.models import build_kcenter_model
from reproducers.kcenter.models.pretrained import load_image_checkpoint, read_image_checkpoint

TINY = {"num_frames": 8, "crop_size": 64, "embed_dim": 32, "depth": 2, "num_heads": 2,
        "total_tokens": 32, "drop_path": 0.0}
MODELS = {"vit": {}, "timesformer": {"time_division": 2, "space_division": 4},
          "motionformer": {"time_division": 2}}


def timm_vit(img_size: int = 64) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=img_size, patch_size=16, embed_dim=32, depth=2, num_heads=2,
        num_classes=1000, qkv_bias=True)
    return {k: v + 0.01 * torch.randn_like(v) for k, v in vit.state_dict().items()}


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_loads_a_timm_vit_file(tmp_path, kind, suffix):
    state = timm_vit()
    path = tmp_path / f"vit{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:  # the official jx file: a plain state dict, flat patch weights in old files
        torch.save({**state, "patch_embed.proj.weight":
                    state["patch_embed.proj.weight"].flatten(1)}, path)
    model = build_kcenter_model(kind, 7, **TINY, **MODELS[kind])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = load_image_checkpoint(model, path)
    ours = model.state_dict()
    assert "head.weight" not in loaded and torch.equal(ours["head.weight"], before["head.weight"])
    for key in ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.1.mlp.fc2.weight",
                "blocks.0.attn.qkv.bias", "norm.weight"):
        assert key in loaded and torch.equal(ours[key], state[key]), key
    table = "temp_embed" if kind == "motionformer" else "time_embed"
    assert not ours[table].any()
    if kind == "timesformer":
        assert torch.equal(ours["blocks.1.temporal_attn.qkv.weight"],
                           state["blocks.1.attn.qkv.weight"])
        assert torch.equal(ours["blocks.0.temporal_norm1.bias"], state["blocks.0.norm1.bias"])
        assert not ours["blocks.0.temporal_fc.weight"].any()
    if kind == "motionformer":
        assert "blocks.0.attn.proj_q.weight" not in loaded


def test_position_table_resized_bicubically_for_vit():
    state = timm_vit(img_size=96)  # a 6x6 grid into the 4x4 model
    model = build_kcenter_model("vit", 7, **TINY)
    load_image_checkpoint(model, state)
    grid = state["pos_embed"][0, 1:].reshape(1, 6, 6, 32).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(4, 4), mode="bicubic",
                                               align_corners=False)
    torch.testing.assert_close(model.pos_embed[0, 1:].detach(),
                               expected.permute(0, 2, 3, 1).reshape(16, 32))
    assert torch.equal(model.pos_embed[0, 0].detach(), state["pos_embed"][0, 0])


def test_nested_checkpoint_and_module_prefix(tmp_path):
    state = timm_vit()
    path = tmp_path / "wrapped.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, path)
    assert set(read_image_checkpoint(path)) == set(state)


def test_bad_files_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_image_checkpoint(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        read_image_checkpoint(junk)
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(UserError, match="no pos_embed"):
        read_image_checkpoint(other)
