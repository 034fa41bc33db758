"""SVM optimizer groups (first-match custom_keys) and the YOLOX LR schedule."""

from __future__ import annotations

import math

import pytest
import torch

from reproducers.svm import build_svm
from reproducers.svm.optim import (
    build_optimizer,
    param_groups,
    schedule_lengths,
    yolox_lr_factor,
    yolox_scheduler,
)


@pytest.fixture(scope="module")
def small_model():
    from reproducers.svm import SMOKE_MODEL

    return build_svm(**SMOKE_MODEL)


def _lr_of(groups, name):
    for g in groups:
        if name in g["names"]:
            return g["lr"], g["weight_decay"]
    raise KeyError(name)


def test_first_match_custom_keys(small_model):
    groups = param_groups(small_model, lr=2.5e-4, weight_decay=0.05)
    lr = lambda n: _lr_of(groups, n)  # noqa: E731
    # CLIP weights and the new stream parameters: backbone x0.1, decay kept even on norms
    assert lr("detector.backbone.conv1.weight") == pytest.approx((2.5e-5, 0.05))
    assert lr("detector.backbone.transformer.resblocks.0.attn.alpha") == pytest.approx((2.5e-5, 0.05))
    assert lr("detector.backbone.transformer.resblocks.0.ln_1.bias") == pytest.approx((2.5e-5, 0.05))
    assert lr("detector.backbone.ln_post.weight") == pytest.approx((2.5e-5, 0.05))
    # residual blocks, FPN adaptor and ln_post_out*: x1 (they match before 'backbone')
    assert lr("detector.backbone.transformer.resblocks.1.residual_block.conv1.weight") == \
        pytest.approx((2.5e-4, 0.05))
    assert lr("detector.backbone.fpn_adaptor.fpn_adaptor_0.0.weight") == pytest.approx((2.5e-4, 0.05))
    assert lr("detector.backbone.ln_post_out1.weight") == pytest.approx((2.5e-4, 0.05))
    # neck and head: no decay on BN and biases
    assert lr("detector.neck.reduce_layers.0.conv.weight") == pytest.approx((2.5e-4, 0.05))
    assert lr("detector.neck.reduce_layers.0.bn.weight") == pytest.approx((2.5e-4, 0.0))
    assert lr("detector.bbox_head.multi_level_conv_cls.0.bias") == pytest.approx((2.5e-4, 0.0))
    n = sum(len(g["params"]) for g in groups)
    assert n == sum(1 for p in small_model.parameters() if p.requires_grad)


def test_yolox_schedule_numbers():
    lengths = schedule_lengths(loader_len=10, epochs=10, num_frames=2)
    assert lengths == {"total": 200, "warmup": 20, "last": 10}
    f = lambda it: yolox_lr_factor(it, **lengths)  # noqa: E731
    assert f(0) == pytest.approx((1 / 20) ** 2)
    assert f(19) == pytest.approx(1.0)
    # first cosine step: progress 21 of (200 - 20 - 10)
    assert f(20) == pytest.approx(0.05 + 0.95 * (1 + math.cos(math.pi * 1 / 170)) / 2)
    assert f(188) < 0.06 and f(189) == 0.05 and f(199) == 0.05
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, lr=1.0, weight_decay=0.0)
    sched = yolox_scheduler(opt, **lengths)
    seen = []
    for _ in range(25):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([f(i) for i in range(25)])
