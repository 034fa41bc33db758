"""StreamMemory rules, CLIP initialisation (TorchScript archive or state dict) and the
official checkpoint's EMA buffers."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from reproducers.harness.errors import UserError
from reproducers.svm.backbone import SViT, SViTConfig, load_clip_visual
from reproducers.svm.checkpoints import adapt_state_dict
from reproducers.svm.memory import StreamMemory


def _kv(value: float):
    t = torch.full((2, 1, 4, 3), value)
    return t, -t


def test_eval_merge_running_average():
    mem = StreamMemory(3)
    for f, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        mem.write(*_kv(value), frame=f, training=False)
    # entry 0 = k0/4 + k1/4 + k2/2 (golden README), then k3, k4
    k, v = mem.stacked()
    assert k.shape == (2, 1, 3, 4, 3)
    assert k[0, 0, :, 0, 0].tolist() == [1 / 4 + 2 / 4 + 3 / 2, 4.0, 5.0]
    assert v[1, 0, :, 3, 2].tolist() == [-(1 / 4 + 2 / 4 + 3 / 2), -4.0, -5.0]
    assert mem.frames == [2, 3, 4] and sorted(mem.slots) == [0, 1, 2]
    # attention sees the same entries (slot order), in the T-H and T-W layouts
    col_k, _, row_k, _ = mem.attend_views()
    assert col_k.shape == row_k.shape == (2, 2, 1, 3 * 2, 3)
    assert sorted(col_k[0, 0, 0, ::2, 0].tolist()) == sorted([2.25, 4.0, 5.0])


def test_training_clears_when_full_and_intended_skips_recompute():
    mem = StreamMemory(2, "released")
    mem.write(*_kv(1), 0, True)
    mem.write(*_kv(1), 0, True)  # the checkpoint recomputation of frame 0
    mem.write(*_kv(2), 1, True)  # full -> cleared
    assert len(mem) == 1 and mem.frames == [1]
    assert mem.stacked()[0][0, 0, :, 0, 0].tolist() == [2.0]
    mem = StreamMemory(2, "intended")
    mem.write(*_kv(1), 0, True)
    mem.write(*_kv(1), 0, True)  # ignored
    mem.write(*_kv(2), 1, True)
    assert mem.frames == [0, 1]
    k, v = mem.stacked()
    assert k.shape == (2, 1, 2, 4, 3) and mem.last_attended == 2


def test_frame_size_change_inside_a_clip_is_an_error():
    mem = StreamMemory(4)
    mem.write(*_kv(1), 0, False)
    with pytest.raises(RuntimeError, match="clear the memory"):
        mem.write(torch.zeros(3, 1, 4, 3), torch.zeros(3, 1, 4, 3), 1, False)
    with pytest.raises(RuntimeError, match="clear the memory"):
        mem.write(*(t.double() for t in _kv(1)), 1, False)


def test_saved_states_do_not_alias_after_clear():
    """Micro-batches keep separate memories (PerFrameSequenceStep hooks): clear() drops the
    buffers, so writing the next micro-batch never changes a saved state."""
    mem = StreamMemory(2)
    mem.write(*_kv(1), 0, True)
    saved = mem.state()
    mem.clear()
    mem.write(*_kv(7), 0, True)
    mem.load_state(saved)
    assert mem.stacked()[0][0, 0, :, 0, 0].tolist() == [1.0]
    with pytest.raises(ValueError):
        StreamMemory(2, "other")


class _Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attn = nn.MultiheadAttention(c, 2)
        self.ln_1 = nn.LayerNorm(c)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(c, 4 * c)),
                                              ("c_proj", nn.Linear(4 * c, c))]))
        self.ln_2 = nn.LayerNorm(c)

    def forward(self, x):
        return x


class _Visual(nn.Module):
    """OpenAI CLIP VisionTransformer's state-dict names (class token, proj included)."""

    def __init__(self, c=32, layers=2, grid=14):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(c))
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, c))
        self.conv1 = nn.Conv2d(3, c, 16, 16, bias=False)
        self.ln_pre = nn.LayerNorm(c)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(*[_Block(c) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(c)
        self.proj = nn.Parameter(torch.randn(c, 16))

    def forward(self, x):
        return x


class _Clip(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = _Visual()

    def forward(self, x):
        return x


def _small():
    return SViT(SViTConfig(width=32, layers=2, heads=2, window=3, residual_layers=(1,),
                           stage_layers=(0, 1, 1, 1), memory_length=2))


@pytest.mark.parametrize("kind", ["torchscript", "state_dict"])
def test_clip_init_like_the_official_loader(tmp_path, kind):
    torch.manual_seed(0)
    clip = _Clip()
    path = tmp_path / "ViT-B-16.pt"
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(clip), str(path))
    else:
        torch.save(clip.state_dict(), path)  # keys under visual.
    model = _small()
    alpha = model.transformer.resblocks[0].attn.alpha.detach().clone()
    out = load_clip_visual(model, path, log=lambda m: None)
    assert out["skipped"] == ["class_embedding", "proj"]
    v = clip.visual
    torch.testing.assert_close(model.positional_embedding, v.positional_embedding[1:])
    torch.testing.assert_close(model.transformer.resblocks[1].attn.in_proj_weight,
                               v.transformer.resblocks[1].attn.in_proj_weight)
    torch.testing.assert_close(model.ln_post.weight, v.ln_post.weight)
    # stream parameters keep their own init
    assert torch.equal(model.transformer.resblocks[0].attn.alpha, alpha)
    assert len(out["loaded"]) == 6 + 2 * 12  # stem + ln_post, 12 tensors per block


def test_clip_init_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_clip_visual(_small(), tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weight": torch.zeros(1)}, bad)
    with pytest.raises(UserError, match="not a CLIP visual"):
        load_clip_visual(_small(), bad)


def test_released_checkpoint_ema_buffers_are_dropped():
    state = {"detector.backbone.conv1.weight": torch.zeros(1),
             "ema_detector_backbone_conv1_weight": torch.ones(1)}
    out, notes = adapt_state_dict(state)
    assert list(out) == ["detector.backbone.conv1.weight"] and "ema_" in notes[0]
    out, notes = adapt_state_dict({"module.detector.x": torch.zeros(1)})
    assert list(out) == ["detector.x"] and "module." in notes[0]
