"""One protocol: the evaluation's views (clips x crops) come from the run's ``Protocol`` alone,
and the profile stage's FLOPs x views counts the same object's views.

Each case changes the smoke protocol of a real reproduction and runs the real stages (the
paper's dataset builder and evaluate, a random-init smoke model): the evaluated views follow.
A builder that takes its views from anywhere else is refused by the evaluate stage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from reproducers.harness import predictions, stages
from reproducers.harness.declarations import Protocol
from reproducers.harness.errors import UserError
from reproducers.harness.registry import discover
from reproducers.harness.stages import RunOptions

# (reproduction, smaller synthetic data, the changed smoke views: clips, crops)
CASES = {
    "svit_ssv2": ({"data.n_per_class": 1, "data.n_val_per_class": 1}, (2, 1)),
    "kcenter_vit_ssv2": ({"data.n_per_class": 1, "data.n_val_per_class": 1}, (2, 1)),
    "strg_r50_ssv1": ({"data.n_per_class": 1, "data.n_val_per_class": 1}, (3, 1)),
}


def _with_views(rep, clips: int, crops: int):
    protocol = replace(rep.protocol_for(smoke=True), temporal_clips=clips, spatial_crops=crops)
    return replace(rep, smoke_protocol=protocol), protocol


def _opts(tmp_path, overrides: dict) -> RunOptions:
    return RunOptions(smoke=True, output_dir=tmp_path / "runs", records_dir=tmp_path / "records",
                      progress=False, log=lambda _m: None, profile_iters=1,
                      overrides=dict(overrides))


def _random_checkpoint(rep, opts, path):
    torch.manual_seed(0)
    model = rep.model.factory(**stages.configs(rep, opts)[1])
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluated_views_and_flops_x_views_follow_the_protocol(tmp_path, name):
    overrides, (clips, crops) = CASES[name]
    rep, protocol = _with_views(discover()[name], clips, crops)
    assert protocol.views != discover()[name].protocol_for(smoke=True).views  # a real change
    opts = _opts(tmp_path, overrides)
    opts.checkpoint = _random_checkpoint(rep, opts, tmp_path / "init.pt")
    ev = stages.evaluate(rep, opts)
    assert ev["result"]["views"] == protocol.views == clips * crops
    assert ev["config"]["protocol"]["temporal_clips"] == clips
    assert ev["config"]["protocol"]["views"] == protocol.views
    prof = stages.profile(rep, opts)["result"]
    assert prof["views"] == protocol.views
    assert prof["gmacs_x_views"] == pytest.approx(prof["gmacs_per_view"] * protocol.views)


def test_a_builder_reading_views_elsewhere_is_refused(tmp_path):
    """The svit builder handed a different protocol than the run's (as a builder reading its
    views from the data config would be): the evaluate stage fails, no ok record."""
    overrides, (clips, crops) = CASES["svit_ssv2"]
    rep, protocol = _with_views(discover()["svit_ssv2"], clips, crops)
    build = rep.dataset.build

    def stale_build(root, split, config, train, protocol=None):
        return build(root, split, config, train, protocol=replace(protocol, temporal_clips=1))

    rep = replace(rep, dataset=replace(rep.dataset, build=stale_build))
    opts = _opts(tmp_path, overrides)
    opts.checkpoint = _random_checkpoint(rep, opts, tmp_path / "init.pt")
    with pytest.raises(RuntimeError, match=r"scored 1 views per sample but the protocol "
                                           r"declares 2 clip\(s\) x 1 crop\(s\) = 2"):
        stages.evaluate(rep, opts)
    assert not list((tmp_path / "records").rglob("evaluate.smoke.json"))


def test_no_data_config_declares_views():
    """Views and test clips live in the protocol only (the data configs lost them)."""
    for rep in discover().values():
        for cfg in (rep.data_config, rep.smoke_data, rep.dataset.config_defaults):
            assert not {"views", "test_clips"} & set(cfg), rep.name


def test_run_context_carries_the_smoke_protocol():
    rep = discover()["strg_r50_charades"]
    assert rep.protocol.temporal_clips == 10 and rep.protocol_for(smoke=True).temporal_clips == 2
    assert rep.protocol_for(smoke=False) is rep.protocol
    plain = discover()["svit_ssv2"]
    assert plain.smoke_protocol is None and plain.protocol_for(smoke=True) is plain.protocol


def test_bad_protocols_are_refused():
    with pytest.raises(Exception, match="temporal_clips=0"):
        Protocol("x", 0, 1, "sum", "val")
    rep = discover()["svit_ssv2"]
    with pytest.raises(ValueError, match="smoke_protocol.eval_split"):
        replace(rep, smoke_protocol=replace(rep.protocol, eval_split="train"))


def test_set_protocol_drives_evaluation_profile_and_pooling(tmp_path):
    """``--set protocol.*`` changes the run's protocol: 2 clips x 1 crop evaluated and counted,
    and ``pool`` decides how a video's view scores combine (softmax rows: a sum over 2 views
    sums to 2, a max to less)."""
    rep = discover()["svit_ssv2"]
    small, _ = CASES["svit_ssv2"]
    rows = {}
    for pool in ("sum", "max"):
        opts = _opts(tmp_path / pool, {**small, "protocol.temporal_clips": 2,
                                       "protocol.spatial_crops": 1, "protocol.pool": pool})
        opts.checkpoint = _random_checkpoint(rep, opts, tmp_path / "init.pt")
        ev = stages.evaluate(rep, opts)
        assert ev["result"]["views"] == 2 and ev["config"]["protocol"]["pool"] == pool
        assert stages.profile(rep, opts)["result"]["views"] == 2
        pred = predictions.load(predictions.predictions_path(opts.records_dir, rep.name, True))
        rows[pool] = pred.arrays["scores"].sum(1)
    np.testing.assert_allclose(rows["sum"], 2.0, rtol=1e-5)
    assert (rows["max"] < 2.0 - 1e-4).all() and (rows["max"] >= 1.0 - 1e-5).all()


@pytest.mark.parametrize("pair,message", [
    ({"protocol.temporal_clips": 0}, "--set protocol.temporal_clips=0: expected an integer >= 1"),
    ({"protocol.pool": "mean"}, "--set protocol.pool=mean: expected one of sum, max"),
    ({"protocol.frames": 8}, "--set protocol.frames: the protocol config has no 'frames'; "
                             "valid keys: .*protocol.temporal_clips, protocol.spatial_crops"),
])
def test_bad_protocol_overrides_are_one_line_errors(pair, message):
    opts = RunOptions(smoke=True, overrides=pair)
    with pytest.raises(UserError, match=message):
        stages.configs(discover()["svit_ssv2"], opts)
