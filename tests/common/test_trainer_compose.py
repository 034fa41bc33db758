"""Step strategies compose: an auxiliary stream over per-frame sequence steps.

Each frame step must equal ``w - lr * ((1 - a) * grad(main frame loss) + a * grad(aux loss))``,
whether one process trains both streams or a rank is dedicated to the auxiliary one (the
dedicated rank then makes as many optimizer steps as there are frames, so DDP stays in step);
the combination resumes bit for bit; meaningless compositions are refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from reproducers.common.aux_stream import AuxStream, AuxStreamStep
from reproducers.common.checkpoint import load_checkpoint
from reproducers.common.distributed import cleanup
from reproducers.common.ema import YoloxEma
from reproducers.common.steps import PerFrameSequenceStep, PlainStep, as_strategy
from reproducers.common.trainer import NonFiniteLoss, TrainConfig, fit
from reproducers.harness.errors import UserError

from .test_trainer_distributed import free_port, join_gloo

LR, WEIGHT, FRAMES = 0.5, 0.125, 2


def _data():
    g = torch.Generator().manual_seed(0)
    clips = TensorDataset(torch.randn(4, FRAMES, 3, generator=g),
                          torch.randn(4, FRAMES, 1, generator=g))
    aux = TensorDataset(torch.randn(2, 3, generator=g), torch.randn(2, 1, generator=g))
    return clips, aux


def _frame_mse(model, batch, frame):
    x, y = batch
    return nn.functional.mse_loss(model(x[:, frame]), y[:, frame])


def _abs(model, batch):
    x, y = batch
    return (model(x) - y).abs().mean()


def _run(out: Path, dist=None, dedicated: int = 0, calls: list | None = None):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    clips, aux = _data()

    def aux_loss(m, b):
        if calls is not None:
            calls.append("aux")
        return _abs(m, b)

    # the auxiliary global batch is the whole (2-sample) set: its mean loss does not depend
    # on the order the cycling sampler draws it in
    stream = AuxStream(aux, global_batch=2, weight=WEIGHT, step_loss=aux_loss,
                       dedicated_ranks=dedicated)
    step = AuxStreamStep(PerFrameSequenceStep(_frame_mse, frames=FRAMES), stream)
    cfg = TrainConfig(epochs=1, global_batch=4, seed=1, progress=False, shuffle=False)
    res = fit(model, torch.optim.SGD(model.parameters(), lr=LR), clips, step, cfg, out,
              dist=dist, log=lambda _m: None)
    return res, load_checkpoint(out / "model_last.pt")


def _expected():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    clips, aux = _data()
    for frame in range(FRAMES):  # one SGD step per frame, the aux stream in each
        model.zero_grad()
        loss = ((1 - WEIGHT) * _frame_mse(model, clips.tensors, frame)
                + WEIGHT * _abs(model, aux.tensors))
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= LR * p.grad
    return {k: v.detach() for k, v in model.state_dict().items()}


def test_aux_stream_over_frame_steps_one_process(tmp_path):
    calls = []
    res, got = _run(tmp_path / "one", calls=calls)
    assert res.steps == FRAMES and calls == ["aux"] * FRAMES  # one aux micro-batch per frame
    want = _expected()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist = join_gloo(rank, world, port)
    try:
        _run(Path(out), dist, dedicated=1)
    finally:
        cleanup()


def test_aux_stream_over_frame_steps_dedicated_rank(tmp_path):
    out = tmp_path / "two"
    mp.spawn(_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    got, want = load_checkpoint(out / "model_last.pt"), _expected()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6)


def test_aux_stream_over_frame_steps_resumes_exactly_mid_epoch(tmp_path):
    """3 epochs straight == a run stopped (NaN) after a mid-epoch checkpoint, then resumed:
    the auxiliary sampler restarts at (steps done) x (frames), the YOLOX EMA and AdamW
    continue."""
    g = torch.Generator().manual_seed(4)
    clips = TensorDataset(torch.randn(8, FRAMES, 3, generator=g),
                          torch.randn(8, FRAMES, 1, generator=g))
    aux = TensorDataset(torch.randn(3, 3, generator=g), torch.randn(3, 1, generator=g))

    def run(out, resume=None, nan_from: int | None = None):
        torch.manual_seed(0)
        model, calls = nn.Linear(3, 1), [0]

        def frame_loss(m, batch, frame):
            calls[0] += 1
            loss = _frame_mse(m, batch, frame)
            return loss * float("nan") if nan_from and calls[0] >= nan_from else loss

        stream = AuxStream(aux, global_batch=1, weight=WEIGHT, step_loss=_abs)
        step = AuxStreamStep(PerFrameSequenceStep(frame_loss, frames=FRAMES), stream)
        cfg = TrainConfig(epochs=3, global_batch=4, seed=2, progress=False,
                          checkpoint_every_steps=FRAMES)  # after every clip batch
        res = fit(model, torch.optim.AdamW(model.parameters(), lr=0.05), clips, step, cfg, out,
                  ema=YoloxEma(momentum=0.1, total_iter=3), resume=resume,
                  log=lambda _m: None)
        return res, load_checkpoint(res.checkpoint), load_checkpoint(res.last)

    full, w_full, last_full = run(tmp_path / "a")
    with pytest.raises(NonFiniteLoss):  # 2 clip batches x 2 frames per epoch: step 7 fails
        run(tmp_path / "b", nan_from=7)
    resumed, w_res, last_res = run(tmp_path / "b", resume="auto")
    assert full.steps == resumed.steps == 3 * 2 * FRAMES
    assert resumed.resumed_from == {"epoch": 2, "step_in_epoch": 1, "global_step": 6}
    assert [r["train_loss"] for r in full.history] == [r["train_loss"] for r in resumed.history]
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)  # EMA weights
    assert all(torch.equal(last_full["model"][k], last_res["model"][k])
               for k in last_full["model"])


def test_meaningless_compositions_are_refused():
    _, aux = _data()
    stream = AuxStream(aux, global_batch=2, weight=WEIGHT, step_loss=_abs, name="image")
    with pytest.raises(UserError, match="one auxiliary stream per run"):
        AuxStreamStep(AuxStreamStep(_frame_mse, stream), stream)
    with pytest.raises(UserError, match="at least 1"):
        PerFrameSequenceStep(_frame_mse, frames=0)
    with pytest.raises(UserError, match="StepStrategy"):
        as_strategy(3)
    plain = as_strategy(_abs)  # a bare loss function is the plain step
    assert isinstance(plain, PlainStep) and plain.step_loss is _abs
