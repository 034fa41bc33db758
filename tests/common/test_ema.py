"""EMA objects: each one's decay per optimizer step, the state-dict round trip, and the
checkpoint keys of timm ``ModelEmaV3`` (so checkpoints written before the objects resume)."""

from __future__ import annotations

import math

import pytest
import torch
from timm.utils import ModelEmaV3
from torch import nn

from reproducers.common.ema import Ema, TimmEma, YoloxEma, yolox_ema_momentum
from reproducers.harness.errors import UserError


def _model(value: float) -> nn.Module:
    m = nn.Linear(1, 1, bias=False)
    nn.init.constant_(m.weight, value)
    return m


def _averages(ema, values):
    """EMA weight after updating with a model holding each of ``values`` (steps 1, 2, ...)."""
    model = _model(0.0)
    ema.attach(model)
    out = []
    for step, v in enumerate(values, start=1):
        nn.init.constant_(model.weight, v)
        ema.update(model, step=step)
        out.append(ema.module.weight.item())
    return out


def test_constant_decay_starts_from_the_initial_weights():
    got = _averages(Ema(0.5), [1.0, 3.0])
    assert got == [0.5, 0.5 * 0.5 + 0.5 * 3.0]


def test_timm_first_update_copies_then_constant_decay():
    assert _averages(TimmEma(0.5), [1.0, 3.0]) == [1.0, 0.5 * 1.0 + 0.5 * 3.0]
    warm = _averages(TimmEma(0.99, warmup=True), [1.0, 3.0])
    d2 = 1 - (1 + 1) ** (-2 / 3)  # timm use_warmup at the second update
    assert warm[0] == 1.0 and warm[1] == pytest.approx(d2 * 1.0 + (1 - d2) * 3.0, abs=1e-6)


def test_yolox_decay_follows_mmdet_exp_momentum():
    ema = YoloxEma(momentum=1e-4, total_iter=2000)  # mmdet's defaults
    for step, share in ((1, math.exp(-1 / 2000)), (2000, math.exp(-1)), (10**6, 0.0)):
        assert ema.decay_at(step) == pytest.approx(1 - ((1 - 1e-4) * share + 1e-4), abs=1e-15)
    assert ema.decay_at(3) == 1.0 - yolox_ema_momentum(2)  # step is 1-based, mmdet's it 0-based
    got = _averages(YoloxEma(momentum=0.1, total_iter=1), [1.0])
    m = (1 - 0.1) * math.exp(-1) + 0.1  # the new weights' share at iteration 0
    assert got[0] == pytest.approx(m * 1.0, abs=1e-7)


@pytest.mark.parametrize("make", [lambda: Ema(0.9), lambda: TimmEma(0.9),
                                  lambda: YoloxEma(1e-3)], ids=["ema", "timm", "yolox"])
def test_state_dict_keys_and_round_trip(make):
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = make().attach(model)
    assert ema.state_dict().keys() == ModelEmaV3(model).state_dict().keys()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model, step=1)
    saved = {k: v.clone() for k, v in ema.state_dict().items()}
    other = make().attach(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    assert not all(torch.equal(other.state_dict()[k], saved[k]) for k in saved)
    other.load_state_dict(saved)
    assert all(torch.equal(other.state_dict()[k], saved[k]) for k in saved)


def test_bad_settings_and_unattached_use_fail_clearly():
    with pytest.raises(UserError, match="decay"):
        Ema(1.0)
    with pytest.raises(UserError, match="momentum"):
        YoloxEma(momentum=0.0)
    with pytest.raises(RuntimeError, match="attach"):
        Ema(0.9).update(_model(1.0), step=1)
