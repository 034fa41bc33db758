"""SViT vs the official-code golden file (shared/golden/svit_small.pt, beside the repository).

The golden file was produced by eladb3/SViT @ bf0ab3e in float64, eval mode (see the SViT
section of shared/golden/README.md). Every output and every per-block intermediate is compared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reproducers.svit.model import SViT, SViTConfig

GOLDEN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
GOLDEN = GOLDEN_DIR / "svit_small.pt"
pytestmark = pytest.mark.skipif(
    not GOLDEN.is_file(),
    reason=f"golden file absent: {GOLDEN} (it lives in ../shared/golden beside the repository)")

SPLITS = ("video", "image", "video_alt")
ATOL64 = 1e-8  # golden README, "Tolerances" (independent float64 implementation)
ATOL32 = 1e-4  # golden README, "Tolerances" (float32 implementation)


@pytest.fixture(scope="module")
def golden():
    return torch.load(GOLDEN, weights_only=True)


def config_from_golden(c: dict) -> SViTConfig:
    """Map the golden file's neutral-words config onto SViTConfig."""
    depth = c["depth"]
    blocks = c["blocks"]
    kernel = tuple(c["pool_kernel_qkv"])
    assert all(tuple(b["q_pool_kernel"]) == kernel == tuple(b["kv_pool_kernel"]) for b in blocks)
    assert c["pooling_mode"].startswith("depthwise Conv3d") and not c["pool_before_projection"]
    assert c["fused_qkv_linear"] and not c["absolute_position_embedding"] and c["cls_token"]
    return SViTConfig(
        num_frames=c["num_frames"],
        crop_size=c["crop_size"],
        in_chans=c["input_channels"],
        num_classes=c["num_classes"],
        embed_dim=c["embed_dim"],
        num_heads=c["initial_num_heads"],
        depth=depth,
        mlp_ratio=c["mlp_ratio"],
        qkv_bias=c["qkv_bias"],
        dim_mul={int(k): v for k, v in c["dim_multiplier_blocks"].items()},
        head_mul={int(k): v for k, v in c["head_multiplier_blocks"].items()},
        q_strides=[list(c["q_stride_blocks"][str(i)]) for i in range(depth)],
        pool_kvq_kernel=kernel,
        kv_stride_adaptive=tuple(c["adaptive_kv_stride_start"]),
        patch_kernel=tuple(c["patch_kernel"]),
        patch_stride=tuple(c["patch_stride"]),
        patch_padding=tuple(c["patch_padding"]),
        rel_pos_spatial=c["rel_pos_spatial"],
        rel_pos_temporal=c["rel_pos_temporal"],
        residual_pooling=c["residual_pooling"],
        dim_mul_in_att=c["dim_mul_in_attention"],
        cls_embed_on=c["cls_token"],
        drop_path_rate=c["drop_path_rate"],
        block_dropout=c["block_dropout"],
        head_dropout=c["head_dropout"],
        layernorm_eps=c["layernorm_eps"],
        num_objects=c["num_object_prompts"],
    )


def _build(golden, dtype=torch.float64) -> SViT:
    model = SViT(config_from_golden(golden["config"]))
    model.load_state_dict(golden["state_dict"], strict=True)
    return model.to(dtype).eval()


def _run(model: SViT, x: torch.Tensor) -> tuple[dict, dict]:
    with torch.no_grad():
        probs, extra, inter = model(x, return_intermediates=True)
    outputs = {
        "class_probs": probs,
        "class_logits": extra["logits"],
        "object_tokens": extra["obj_desc"],
        "pred_bboxes": extra["pred_bboxes"],
        "pred_contact_state": extra["pred_contact_state"],
        "existence_logits": extra["existence_logits"],
        "contact_logits": extra["contact_logits"],
    }
    return outputs, inter


def test_config_and_state_dict(golden):
    c = golden["config"]
    model = _build(golden)
    assert sum(p.numel() for p in model.parameters()) == c["num_parameters"]
    # Same names in the same (official state-dict) order.
    assert list(model.state_dict()) == list(golden["state_dict"])
    for b, blk in zip(c["blocks"], model.blocks, strict=True):
        assert blk.attn.num_heads == b["num_heads"] and blk.dim_out == b["dim_out"]
        assert blk.attn.rel_pos_h.shape[0] == b["rel_pos_h_len"]
        assert blk.attn.rel_pos_t.shape[0] == b["rel_pos_t_len"]
        assert list(blk.attn.pool_k.stride) == b["kv_pool_stride"]
        assert list(blk.attn.pool_q.stride) == b["q_pool_stride"]
        assert list(blk.pool_skip.kernel_size) == b["skip_maxpool_kernel"]
        assert hasattr(blk, "proj") == b["has_skip_projection_linear"]
        assert blk.mlp.fc1.out_features == b["mlp_hidden"]


@pytest.mark.parametrize("split", SPLITS)
def test_golden_float64(golden, split):
    model = _build(golden, torch.float64)
    outputs, inter = _run(model, golden["inputs"][split])
    for name, ref in golden["outputs"][split].items():
        assert outputs[name].shape == ref.shape, name
        torch.testing.assert_close(outputs[name], ref, atol=ATOL64, rtol=0, msg=name)
    for name, ref in golden["intermediates"][split].items():
        if name == "thw_after_block":
            assert inter[name] == [list(t) for t in ref]
            continue
        assert inter[name].shape == ref.shape, name
        torch.testing.assert_close(inter[name], ref, atol=ATOL64, rtol=0, msg=name)


@pytest.mark.parametrize("split", SPLITS)
def test_golden_float32(golden, split):
    model = _build(golden, torch.float32)
    outputs, inter = _run(model, golden["inputs"][split].float())
    for name, ref in golden["outputs"][split].items():
        torch.testing.assert_close(outputs[name].double(), ref, atol=ATOL32, rtol=0, msg=name)
    for name, ref in golden["intermediates"][split].items():
        if name != "thw_after_block":
            torch.testing.assert_close(inter[name].double(), ref, atol=ATOL32, rtol=0, msg=name)


def test_train_mode_returns_logits(golden):
    """Dropout-free config: training mode returns the class logits / raw head outputs."""
    model = _build(golden).train()
    x = golden["inputs"]["video"]
    with torch.no_grad():
        logits, extra = model(x)
    ref = golden["outputs"]["video"]
    torch.testing.assert_close(logits, ref["class_logits"], atol=ATOL64, rtol=0)
    torch.testing.assert_close(extra["pred_bboxes"][..., :1], ref["existence_logits"],
                               atol=ATOL64, rtol=0)
    torch.testing.assert_close(extra["pred_contact_state"], ref["contact_logits"],
                               atol=ATOL64, rtol=0)


def test_official_list_input(golden):
    """The official model is called as model([x])."""
    model = _build(golden)
    x = golden["inputs"]["image"]
    with torch.no_grad():
        probs, _ = model([x])
    torch.testing.assert_close(probs, golden["outputs"]["image"]["class_probs"],
                               atol=ATOL64, rtol=0)


def test_backward_reaches_every_parameter(golden):
    """Training-mode backward on an image batch: every parameter gets a (finite) gradient,
    including pos_embed_temporal, which the official code keeps in the graph via ``* 0``."""
    model = _build(golden).train()
    logits, extra = model(golden["inputs"]["image"])
    loss = logits.sum() + extra["pred_bboxes"].sum() + extra["pred_contact_state"].sum()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.pos_embed_temporal.grad.abs().max() == 0
