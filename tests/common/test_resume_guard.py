"""``fit`` resumes only its own run: the run hash in ``checkpoint_last.pt`` must match
("auto" otherwise starts fresh and says so in one line, an explicit path is refused); a
corrupt file or another architecture is a one-line ``UserError``; logs and weights of a
run that fails stay partial."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from reproducers.common.checkpointing import Resume
from reproducers.common.trainer import TrainConfig, fit
from reproducers.harness.errors import UserError


def _fit(out, epochs=1, resume=None, width=8, log=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
    data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = TrainConfig(epochs=epochs, global_batch=8, progress=False, seed=1)
    lines = [] if log is None else log
    return fit(model, opt, data, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), cfg,
               out, resume=resume, log=lines.append)


def test_auto_resumes_only_the_same_run_hash(tmp_path):
    _fit(tmp_path, epochs=1, resume=Resume(None, "aaa"))
    log = []
    other = _fit(tmp_path, epochs=2, resume=Resume("auto", "bbb"), log=log)
    said = [line for line in log if "not resuming" in line]
    assert len(said) == 1 and "another configuration (run hash aaa, this run bbb)" in said[0]
    assert other.resumed_from is None and other.steps == 8
    same = _fit(tmp_path, epochs=3, resume=Resume("auto", "bbb"))
    assert same.resumed_from == {"epoch": 3, "step_in_epoch": 0, "global_step": 8}


def test_explicit_resume_of_another_run_is_refused(tmp_path):
    _fit(tmp_path / "a", resume=Resume(None, "aaa"))
    with pytest.raises(UserError, match="another configuration") as err:
        _fit(tmp_path / "b", resume=Resume(tmp_path / "a" / "checkpoint_last.pt", "bbb"))
    assert "\n" not in str(err.value)


def test_corrupt_checkpoint_and_other_architecture_are_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UserError, match="not a readable training checkpoint") as err:
        _fit(tmp_path / "x", resume=bad)
    assert "\n" not in str(err.value)
    _fit(tmp_path / "a", epochs=1)
    with pytest.raises(UserError, match="does not fit this architecture") as err:
        _fit(tmp_path / "b", epochs=2, resume=tmp_path / "a" / "checkpoint_last.pt", width=16)
    assert "\n" not in str(err.value)


def test_weights_and_logs_are_published_only_when_the_run_ends(tmp_path):
    _fit(tmp_path, epochs=1)
    finished = {n: (tmp_path / n).read_bytes() for n in ("model_last.pt", "steps.csv",
                                                         "history.csv")}
    assert not list(tmp_path.glob("*.partial.*"))
    with pytest.raises(UserError, match="not a readable"):  # a failed start
        _fit(tmp_path, epochs=1, resume=tmp_path / "history.csv")
    # a run that stops on a NaN loss in epoch 2, after writing epoch 1's partial files

    def boom(m, b):
        loss = nn.functional.cross_entropy(m(b[0]), b[1])
        return loss * float("nan") if boom.calls > 5 else loss

    boom.calls = 0

    def counted(m, b):
        boom.calls += 1
        return boom(m, b)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
    cfg = TrainConfig(epochs=3, global_batch=8, progress=False, seed=1)
    with pytest.raises(UserError, match="loss became nan"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, counted, cfg, tmp_path,
            log=lambda _m: None)
    assert (tmp_path / "model_last.partial.pt").exists()  # epoch 1 of the stopped run
    assert {n: (tmp_path / n).read_bytes() for n in finished} == finished


def test_partial_files_of_another_run_are_never_published(tmp_path):
    """A finished run A, then a run B killed after writing partial weights and log rows but
    before its first checkpoint: resuming A's (finished) checkpoint must not publish B's."""
    _fit(tmp_path, epochs=1, resume=Resume(None, "aaa"))
    finished = {n: (tmp_path / n).read_bytes() for n in ("model_last.pt", "steps.csv")}
    (tmp_path / "partial.run_id").write_text("another-run\n")
    torch.save({"0.weight": torch.zeros(8, 4)}, tmp_path / "model_last.partial.pt")
    (tmp_path / "steps.partial.csv").write_text("epoch,step,loss,lr,time\n1,1,9.9,0.1,0.1\n")
    again = _fit(tmp_path, epochs=1, resume=Resume("auto", "aaa"))
    assert again.resumed_from == {"epoch": 2, "step_in_epoch": 0, "global_step": 4}
    assert {n: (tmp_path / n).read_bytes() for n in finished} == finished
    assert not list(tmp_path.glob("*.partial.*")) and not (tmp_path / "partial.run_id").exists()
