"""One test module over every discovered reproduction (in the spirit of timm's tests over
``list_models()``): adding a paper folder puts its reproductions under these checks with no
edit here.

For each reproduction: the declaration is consistent; the smoke model builds and runs one
forward on its example input; the synthetic data is written in the real on-disk format and read
back through the real loader with a fingerprint; the full-size parameter count (built on the
meta device, no memory) equals the declared official count.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reproducers.harness.metric_schema import METRICS
from reproducers.harness.registry import discover

REPRODUCTIONS = sorted(discover())
# one smoke dataset per (paper, dataset, smoke data config): the 11 ViS4mer reproductions share
# a handful of synthetic formats, so writing each once keeps this module fast
_SEEN_DATA: dict[tuple, str] = {}


def _data_key(rep) -> tuple:
    return (rep.paper.key, rep.dataset.name, repr(sorted(dict(rep.smoke_data).items())))


DATA_REPRODUCTIONS = [n for n in REPRODUCTIONS
                      if _SEEN_DATA.setdefault(_data_key(discover()[n]), n) == n]


def _call(model, inputs):
    return model(*inputs) if isinstance(inputs, tuple) else model(inputs)


def _tensors(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, list | tuple):
        return [t for o in out for t in _tensors(o)]
    return []


def test_something_is_discovered():
    assert len(REPRODUCTIONS) >= 14  # 11 ViS4mer + 2 SViT + 1 SVM


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_declaration_is_consistent(name):
    rep = discover()[name]
    assert rep.name == name and rep.paper.key and rep.paper.title and rep.paper.code_url
    assert rep.metrics, "a reproduction declares the metrics it reports"
    assert set(rep.metrics) <= set(METRICS), f"metrics unknown to the schema: {rep.metrics}"
    assert rep.protocol.views >= 1
    assert rep.protocol.eval_split in rep.dataset.expected_samples or not \
        rep.dataset.expected_samples, "the evaluated split has an official sample count"
    assert rep.recipe.epochs >= 1 and rep.recipe.batch_size >= 1 and rep.recipe.lr > 0
    assert rep.smoke_recipe.epochs >= 1 and rep.smoke_recipe.batch_size >= 1
    for row in rep.expected:
        assert row.source, f"{row.metric}: an expected row needs a source"
        assert row.metric in rep.metrics or row.unavailable, row.metric
        assert row.direction == METRICS[row.metric].direction, row.metric
    assert dataclasses.is_dataclass(rep.recipe)


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_smoke_model_builds_and_runs_a_forward(name):
    rep = discover()[name]
    torch.manual_seed(0)
    cfg = dict(rep.model.smoke)
    model = rep.model.factory(**cfg).eval()
    inputs = rep.model.example_input(cfg, 1)
    with torch.no_grad():
        out = _call(model, inputs)
    tensors = _tensors(out)
    assert tensors, f"{name}: the smoke forward returned no tensor"
    assert all(torch.isfinite(t.float()).all() for t in tensors if t.is_floating_point())


@pytest.mark.parametrize("name", DATA_REPRODUCTIONS)
def test_synthetic_data_round_trips_through_the_real_loader(tmp_path, name):
    rep = discover()[name]
    cfg, protocol = dict(rep.smoke_data), rep.protocol_for(smoke=True)
    rep.dataset.synthesize(tmp_path, cfg, seed=rep.smoke_recipe.seed)
    prints = []
    for split, train in ((rep.dataset.train_split, True), (rep.protocol.eval_split, False)):
        ds = rep.dataset.build(tmp_path, split, cfg, train=train, protocol=protocol)
        assert len(ds) > 0, f"{name}: synthetic {split} split is empty"
        if hasattr(ds, "__getitem__"):  # clip datasets; MOT eval sets are read per sequence
            ds[0]  # the real loader reads a sample
        fp = rep.dataset.fingerprint(ds)
        assert fp["found"] == len(ds) or fp["found"] > 0
        assert fp["id_hash"]
        prints.append(fp)
    # the same data written again with the same seed has the same fingerprint
    again = tmp_path / "again"
    rep.dataset.synthesize(again, cfg, seed=rep.smoke_recipe.seed)
    ds = rep.dataset.build(again, rep.protocol.eval_split, cfg, train=False,
                           protocol=protocol)
    assert rep.dataset.fingerprint(ds)["id_hash"] == prints[-1]["id_hash"]


OFFICIAL = [n for n in REPRODUCTIONS if discover()[n].model.official_num_params is not None]


@pytest.mark.parametrize("name", OFFICIAL)
def test_full_size_parameter_count_is_official(name):
    rep = discover()[name]
    try:
        with torch.device("meta"):
            model = rep.model.factory(**dict(rep.model.full))
    except NotImplementedError:
        # initialisers that read tensor values (mmengine's init_weights, trunc_normal_ copies)
        # cannot run on meta tensors: build for real on the CPU
        model = rep.model.factory(**dict(rep.model.full))
    assert sum(p.numel() for p in model.parameters()) == rep.model.official_num_params
