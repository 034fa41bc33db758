"""fit(PerFrameSequenceStep): one optimizer step per clip frame (mmtrack SeqEpochBasedRunner), hooks
keeping a per-micro-batch state, and the YOLOX EMA momentum."""

from __future__ import annotations

import math

import torch
from torch import nn

from reproducers.common.ema import YoloxEma, yolox_ema_momentum
from reproducers.common.steps import PerFrameSequenceStep
from reproducers.common.trainer import TrainConfig, fit


class Stateful(nn.Module):
    """A linear model whose 'memory' is the running sum of the inputs it has seen."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1, bias=False)
        nn.init.zeros_(self.lin.weight)
        self.memory = []


def test_per_frame_steps_hooks_and_state(tmp_path):
    clips = [torch.full((2, 2), float(i)) for i in range(8)]  # 8 clips of 2 frames
    calls, seen = [], []

    def step_loss(model, batch, frame):
        model.memory.append(frame)
        seen.append((int(batch["clip"][0, 0, 0]), frame, list(model.memory)))
        return model.lin(batch["clip"][:, frame]).pow(2).mean() + (model.lin.weight - 1).pow(2).sum()

    def enter(model, batch):
        calls.append("enter")
        model.memory = list(batch.get("memory", []))

    def leave(model, batch):
        calls.append("leave")
        batch["memory"] = list(model.memory)

    def end(model):
        calls.append("end")
        model.memory = []

    model = Stateful()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    cfg = TrainConfig(epochs=2, global_batch=4, per_device_batch=2, progress=False,
                      shuffle=False)
    res = fit(model, opt, clips,
              PerFrameSequenceStep(step_loss, frames=2, enter=enter, leave=leave, end=end),
              cfg, tmp_path, scheduler=sched, ema=YoloxEma(momentum=2e-4),
              collate_fn=lambda b: {"clip": torch.stack(b)}, log=lambda m: None)
    # 8 clips / global batch 4 = 2 batches per epoch, x 2 frames x 2 epochs
    assert res.steps == 8 and res.accum == 2
    assert sched.last_epoch == 8
    # each micro-batch sees its own memory: frame 1 follows its own frame 0 only
    assert [m for *_, m in seen[:4]] == [[0], [0], [0, 1], [0, 1]]
    # per batch: end, (enter, leave) x 2 micro-batches x 2 frames, end
    assert calls[:10] == ["end"] + ["enter", "leave"] * 4 + ["end"]
    rows = res.history
    assert len(rows) == 2 and math.isfinite(rows[0]["train_loss"])


def test_yolox_ema_momentum_matches_mmdet_formula():
    assert yolox_ema_momentum(0) == (1 - 1e-4) * math.exp(-1 / 2000) + 1e-4
    assert abs(yolox_ema_momentum(10**7) - 1e-4) < 1e-12
    assert yolox_ema_momentum(1999) == (1 - 1e-4) * math.exp(-1) + 1e-4


def test_seeded_samples_tell_the_dataset_its_epoch():
    """Datasets with set_epoch (SVM's MOTSynth re-draw) learn the epoch in the loading
    process, once per epoch, also inside persistent workers."""
    from reproducers.common.distributed import SeededSamples

    class Data:
        epochs: list = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return i

    data = Data()
    wrapped = SeededSamples(data, seed=0)
    assert [wrapped[(i, e)] for e in (1, 1, 2) for i in range(2)] == [0, 1, 0, 1, 0, 1]
    assert data.epochs == [1, 2]


def test_sequence_run_resumes_exactly(tmp_path):
    """Per-frame steps and the YOLOX EMA resume bit-for-bit from an epoch-end checkpoint."""
    clips = [torch.randn(2, 2, generator=torch.Generator().manual_seed(i)) for i in range(8)]

    def step_loss(model, batch, frame):
        return (model.lin(batch[:, frame]) - 1).pow(2).mean()

    def run(out, epochs, resume=None):
        torch.manual_seed(0)
        model = Stateful()
        opt = torch.optim.AdamW(model.parameters(), lr=0.05)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
        cfg = TrainConfig(epochs=epochs, global_batch=4, progress=False)
        res = fit(model, opt, clips, PerFrameSequenceStep(step_loss, frames=2, end=lambda m: None),
                  cfg, out, scheduler=sched, ema=YoloxEma(momentum=2e-4),
                  collate_fn=lambda b: torch.stack(b), resume=resume, log=lambda m: None)
        return res, torch.load(res.checkpoint, weights_only=True)

    full, w_full = run(tmp_path / "a", 3)
    run(tmp_path / "b", 1)
    resumed, w_res = run(tmp_path / "b", 3, resume="auto")
    assert full.steps == resumed.steps == 3 * 2 * 2
    assert resumed.resumed_from == {"epoch": 2, "step_in_epoch": 0, "global_step": 4}
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)
