"""convert-checkpoint: a pickled PySlowFast-style checkpoint becomes a weights-only state dict."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch

from reproducers.harness.convert import convert
from reproducers.harness.errors import UserError
from reproducers.harness.provenance import REPO_ROOT


class NotAllowedUnderWeightsOnly:  # forces full unpickling, like optimizer/cfg objects do
    pass


def test_converts_pyslowfast_style_checkpoint(tmp_path):
    state = OrderedDict(w=torch.arange(6.0).reshape(2, 3), b=torch.ones(2))
    src = tmp_path / "official.pyth"
    torch.save({"epoch": 30, "model_state": state, "cfg": NotAllowedUnderWeightsOnly()}, src)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(src, weights_only=True)
    out = convert(src, tmp_path / "model.pt", log=lambda m: None)
    assert out["from"] == "model_state" and out["tensors"] == 2 and out["values"] == 8
    loaded = torch.load(tmp_path / "model.pt", weights_only=True)
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)


def test_key_errors_name_the_key(tmp_path):
    src = tmp_path / "x.pt"
    torch.save({"a": {"b": torch.zeros(1)}}, src)
    assert convert(src, tmp_path / "y.pt", key="a", log=lambda m: None)["tensors"] == 1
    with pytest.raises(UserError, match="no 'c' in the checkpoint"):
        convert(src, tmp_path / "y.pt", key="c", log=lambda m: None)


def test_cli_then_eval_loader_accepts_it(tmp_path):
    src = tmp_path / "official.pyth"
    torch.save({"model_state": {"w": torch.ones(3)}, "cfg": NotAllowedUnderWeightsOnly()}, src)
    proc = subprocess.run([sys.executable, "-m", "reproducers", "convert-checkpoint", str(src),
                           str(tmp_path / "w.pt")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "weights_only=False" in proc.stdout and "loads with weights_only=True" in proc.stdout
    from reproducers.harness.weights import load_weights

    assert torch.equal(load_weights(tmp_path / "w.pt")["w"], torch.ones(3))
