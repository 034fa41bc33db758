"""SViT training through the harness stage on tiny synthetic data: both streams, the
consistency options, and the recipe errors."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness import stages
from reproducers.harness.errors import UserError
from reproducers.harness.stages import RunOptions
from reproducers.svit import SVIT
from reproducers.svit.recipe import SViTOptions
from reproducers.svit.task import _video_loss

TINY = {"data.n_per_class": 2, "data.n_val_per_class": 1, "data.frames": 8, "epochs": 1,
        "batch_size": 4, "image_batch": 4}


def _opts(tmp_path, **overrides) -> RunOptions:
    return RunOptions(smoke=True, output_dir=tmp_path / "runs", records_dir=tmp_path / "rec",
                      progress=False, log=lambda _m: None, stages=("train",),
                      overrides={**TINY, **overrides})


def test_one_epoch_trains_video_and_image_streams_with_paper_consistency(tmp_path):
    rec = stages.train(SVIT, _opts(tmp_path, consistency="paper"))
    assert rec["status"] == "ok", rec.get("error")
    res = rec["result"]
    assert res["consistency"] == "paper"
    assert res["image_stream"] == {"global_batch": 4, "weight": 0.125, "mode": "shared",
                                   "frames": 7}  # 8 train videos, the 8th without boxes
    assert res["steps"] == 1 and res["world_size"] == 1  # 7 box-filtered videos / batch 4
    assert torch.isfinite(torch.tensor(res["history"][-1]["train_loss"]))


def test_unknown_consistency_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="--set consistency=l3: expected one of released, paper, paper_l2"):
        stages.train(SVIT, _opts(tmp_path, consistency="l3"))
    assert not (tmp_path / "rec" / "svit_ssv2" / "train.smoke.json").exists()
    assert not (tmp_path / "runs" / "svit_ssv2-smoke" / "checkpoint_last.pt").exists()


class _Recorder(torch.nn.Module):
    """Object tokens = per-frame mean + the number of frames in the pass, so the clip pass
    (T frames) and the frame pass (1 frame each) differ by exactly T - 1."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        b, _, t = x.shape[:3]
        obj = self.scale * (x.mean(dim=(1, 3, 4)) + t)[:, :, None, None].expand(b, t, 4, 2)
        return torch.zeros(b, 4, requires_grad=True) + 0 * self.scale, {"obj_desc": obj}


@pytest.mark.parametrize("kind, extra_pass", [("released", False), ("paper", True),
                                              ("paper_l2", True)])
def test_consistency_runs_the_frame_pass_only_when_it_is_used(kind, extra_pass):
    class Ctx:
        model_config = {"num_objects": 4}
        recipe = type("R", (), {"options": SViTOptions(consistency=kind, lambda_con=1.5)})

    model = _Recorder()
    batch = {"frames": torch.randn(2, 3, 4, 8, 8), "label": torch.tensor([0, 1])}
    loss = _video_loss(Ctx, "cpu", None)(model, batch)
    assert model.calls[0] == (2, 3, 4, 8, 8)
    assert len(model.calls) == (2 if extra_pass else 1)
    if extra_pass:
        assert model.calls[1] == (8, 3, 1, 8, 8)  # B*T frames, one at a time
    ce = torch.nn.functional.cross_entropy(torch.zeros(2, 4), torch.tensor([0, 1])).item()
    gap = {"released": 0.0, "paper": 3.0, "paper_l2": 9.0}[kind]  # |4 - 1|, (4 - 1)^2
    assert loss.item() == pytest.approx(ce + 1.5 * gap, rel=1e-5)
