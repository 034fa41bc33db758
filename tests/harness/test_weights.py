"""harness/weights.py: weights-only loading with one-line errors, initialisation by name and
shape with a paper's adapt hook; harness/chain.py: picking a dependency's checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reproducers.harness import chain
from reproducers.harness.errors import UserError
from reproducers.harness.weights import InitFrom, initialise, load_file, load_weights


class Opaque:
    """Refused by torch.load(weights_only=True)."""


def test_pickled_file_is_a_one_line_error_pointing_at_convert_checkpoint(tmp_path):
    path = tmp_path / "official.pyth"
    torch.save({"model_state": {"w": torch.ones(1)}, "cfg": Opaque()}, path)
    with pytest.raises(UserError) as err:
        load_file(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"convert-checkpoint {path} " in msg
    with pytest.raises(UserError, match="no such file"):
        load_file(tmp_path / "absent.pt")


def test_safetensors_and_nested_state_dicts_load(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.arange(3.0)}, str(tmp_path / "w.safetensors"))
    assert torch.equal(load_weights(tmp_path / "w.safetensors")["w"], torch.arange(3.0))
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "n.pt")
    assert set(load_weights(tmp_path / "n.pt")) == {"w"}


def test_initialise_by_name_and_shape_after_the_adapt_hook():
    src = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    state = {f"backbone.{k}": v for k, v in src.state_dict().items()}
    dst = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 5))  # new head
    head = dst[1].weight.clone()

    def adapt(s):
        return {k.removeprefix("backbone."): v for k, v in s.items()}, ["stripped backbone."]

    account = initialise(dst, state, "src.pt", adapt=adapt)
    assert torch.equal(dst[0].weight, src[0].weight) and torch.equal(dst[1].weight, head)
    assert (account["loaded"], account["total"]) == (2, 4)
    assert account["mismatched"] == ["1.bias", "1.weight"]
    assert account["notes"] == ["stripped backbone."]
    with pytest.raises(UserError, match="no tensor matches the model by name and shape"):
        initialise(dst, state, "src.pt")  # without the hook nothing matches
    with pytest.raises(UserError, match=r"src.pt: does not fit the model"):
        initialise(dst, state, "src.pt", strict=True, adapt=adapt)


def test_pick_best_last_selected(tmp_path):
    for name in ("model_best.pt", "model_last.pt", "chosen.pt"):
        torch.save({}, tmp_path / name)
    rec = {"status": "ok", "result": {"checkpoint": str(tmp_path / "chosen.pt")}}
    assert chain._checkpoint(rec, "best") == tmp_path / "model_best.pt"
    assert chain._checkpoint(rec, "last") == tmp_path / "model_last.pt"
    assert chain._checkpoint(rec, "selected") == tmp_path / "chosen.pt"
    (tmp_path / "model_best.pt").unlink()
    assert chain._checkpoint(rec, "best") is None  # select=last: no best file
    assert chain._checkpoint({**rec, "status": "failed"}, "last") is None


def test_an_init_cycle_is_a_one_line_error():
    from tests.harness import fake_paper

    a = dataclasses.replace(fake_paper.make("fake_a"), init=InitFrom("fake_b"))
    b = dataclasses.replace(fake_paper.make("fake_b"), init=InitFrom("fake_a"))
    reps = {r.name: r for r in (a, b)}
    with pytest.raises(UserError, match="init chain fake_a -> fake_b -> fake_a is a cycle"):
        chain._no_cycle(a, reps.__getitem__)
