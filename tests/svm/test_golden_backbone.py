"""S-ViT backbone vs the official-code golden files (shared/golden/svm_small*.pt).

Produced by yuzhms/Streaming-Video-Model @ 46989d2 on CPU (golden README, "SVM" section):
eval-mode streams with the memory merge, training mode with and without the official
per-block activation checkpointing (whose backward recomputation writes the memory twice).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reproducers.svm.backbone import SViT, SViTConfig

GOLDEN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
SMALL, EXTRA = GOLDEN_DIR / "svm_small.pt", GOLDEN_DIR / "svm_small_extra.pt"
pytestmark = pytest.mark.skipif(
    not SMALL.is_file(),
    reason=f"golden file absent: {SMALL} (it lives in ../shared/golden beside the repository)")

ATOL64, ATOL32 = 1e-9, 1e-4  # golden README, "Tolerances"


def config_from_golden(c: dict, **kw) -> SViTConfig:
    assert c["attn_type"] == "stream" and c["windowed_layers"] == list(range(c["layers"]))
    assert c["mlp_hidden"] == 4 * c["width"] and c["residual_bottleneck_channels"] == c["width"] // 2
    return SViTConfig(width=c["width"], layers=c["layers"], heads=c["heads"],
                      patch=c["patch_size"][0], window=c["window_size"],
                      residual_layers=tuple(c["residual_block_layers"]),
                      stage_layers=tuple(c["stage_layers"]), out_indices=tuple(c["out_indices"]),
                      fpn_scales=tuple(c["fpn_scales"]), input_resolution=c["input_resolution"],
                      memory_length=c["memory_length"], **kw)


def build(g, dtype=torch.float64, **kw) -> SViT:
    model = SViT(config_from_golden(g["config"], **kw))
    model.load_state_dict(g["state_dict"], strict=True)
    return model.to(dtype)


def run_clip(model, frames, backward=False):
    outs, lengths, after = [], [], []
    for frame in frames:
        if backward:
            levels = model(frame)
            lengths.append(model.memory_lengths())
            sum(level.sum() for level in levels).backward()
            after.append([len(m) for m in model.memories])
        else:
            with torch.no_grad():
                levels = model(frame)
        outs.append([level.detach() for level in levels])
        if not backward:
            lengths.append(model.memory_lengths())
    return outs, lengths, after


def assert_levels(outs, ref, atol):
    for i in range(3):
        got = torch.stack([o[i] for o in outs])
        torch.testing.assert_close(got, ref[f"level{i}"].to(got.dtype), atol=atol, rtol=0)


@pytest.fixture(scope="module", params=[SMALL, EXTRA], ids=["small", "extra"])
def golden(request):
    if not request.param.is_file():
        pytest.skip(f"golden file absent: {request.param}")
    return torch.load(request.param, weights_only=True)


def test_eval_stream_outputs_and_memory_merge(golden):
    model = build(golden).eval()
    outs, lengths, _ = run_clip(model, golden["inputs"]["frames"])
    assert_levels(outs, golden["outputs"], ATOL64)
    assert lengths == golden["outputs"]["memory_lengths"]
    for layer, mem in enumerate(model.memories):
        k, v = mem.stacked()
        ref = golden["intermediates"]["memory_after_clip"][f"layer{layer}"]
        torch.testing.assert_close(k.permute(2, 0, 1, 3, 4), ref["k"], atol=ATOL64, rtol=0)
        torch.testing.assert_close(v.permute(2, 0, 1, 3, 4), ref["v"], atol=ATOL64, rtol=0)


@pytest.fixture(scope="module")
def small():
    """svm_small.pt alone: the float32 run, the training-mode runs, the init constants."""
    return torch.load(SMALL, weights_only=True)


def test_pre_fpn_maps(golden):
    model = build(golden).eval()
    maps = []
    with torch.no_grad():
        for frame in golden["inputs"]["frames"]:
            maps.append(model.forward_features(frame))
    for i in range(3):
        got = torch.stack([m[i] for m in maps])
        ref = golden["intermediates"]["pre_fpn"][f"level{i}"]
        torch.testing.assert_close(got, ref, atol=ATOL64, rtol=0)


def test_float32_matches_unmodified_official_float32(small):
    model = build(small, torch.float32).eval()
    outs, lengths, _ = run_clip(model, small["inputs"]["frames"].float())
    assert_levels(outs, small["outputs_float32"], ATOL32)
    assert lengths == small["outputs_float32"]["memory_lengths"]


def test_training_mode_clears_the_full_memory(small):
    ref = small["train_mode"]["no_checkpoint"]
    model = build(small).train()
    outs, lengths, _ = run_clip(model, small["inputs"]["frames"])
    assert_levels(outs, ref, ATOL64)
    assert lengths == ref["memory_lengths"]


def test_released_checkpointing_writes_the_memory_twice(small):
    """Official enable_checkpoint=True: frame 1 never attends to frame 0 in training."""
    ref = small["train_mode"]["checkpoint_with_backward"]
    model = build(small, checkpoint=True, train_memory="released").train()
    frames = small["inputs"]["frames"]
    outs, lengths, after = run_clip(model, frames, backward=True)
    assert_levels(outs, ref, ATOL64)
    assert lengths == ref["memory_lengths_forward"]
    assert after == ref["memory_lengths_after_backward"]
    # and it differs from the un-checkpointed run at frame 1, as the small file says
    plain = small["train_mode"]["no_checkpoint"]["level1"][1]
    assert (outs[1][1] - plain).abs().max() > 1e-6


def test_intended_memory_ignores_the_recomputation(small):
    """train_memory='intended' with checkpointing gives the un-checkpointed training run."""
    ref = small["train_mode"]["no_checkpoint"]
    model = build(small, checkpoint=True, train_memory="intended").train()
    outs, lengths, after = run_clip(model, small["inputs"]["frames"], backward=True)
    assert_levels(outs, ref, ATOL64)
    assert lengths == ref["memory_lengths"]
    assert after == [[1] * 4, [2] * 4, [1] * 4]


def test_official_init_constants(small):
    torch.manual_seed(small["config"]["construction_seed"])
    model = SViT(config_from_golden(small["config"]))
    state = model.state_dict()
    for name, value in small["official_init_constants"].items():
        assert torch.all(state[name] == torch.tensor(value, dtype=state[name].dtype)), name
    assert model.state_dict().keys() == small["state_dict"].keys()
    assert sum(p.numel() for p in model.parameters()) == sum(
        v.numel() for k, v in small["state_dict"].items() if k in dict(model.named_parameters()))
