"""One STRG stage on synthetic SSv1 data: data build, training, evaluation, results json."""

from __future__ import annotations

import json

import pytest
import torch

from reproducers.strg import REPRODUCTIONS, data
from reproducers.strg.checkpoints import read_state
from tests.strg.contexts import smoke_context


def test_strg_stage_trains_evaluates_and_writes_results(root, tmp_path):
    rep = next(r for r in REPRODUCTIONS if r.name == "strg_r50_ssv1")
    ctx = smoke_context(rep, root, tmp_path)
    fp = data.fingerprint(ctx.extras["datasets"]["validation"])
    assert fp["found"] == 4 and fp["boxes"]["padded_boxes"] == 4 * 8  # 1 of 3 per frame
    out = rep.task.train(ctx)
    assert out["steps"] == 1 and out["train_part"] == "all"
    model = rep.model.factory(**ctx.model_config)
    model.load_state_dict(read_state(out["checkpoint"]))
    res = rep.task.evaluate(ctx, model, ctx.extras["datasets"]["validation"])
    assert res["eval_size"] == 4 and 0 <= res["metrics"]["acc@1"] <= 100
    pred = res["predictions"]  # per-video scores for the claim rows, same metric offline
    assert pred.kind == "classification" and len(pred.ids) == 4
    assert pred.metric("acc@1", None) == pytest.approx(res["metrics"]["acc@1"])
    results = json.loads((tmp_path / "validation_results.json").read_text())["results"]
    assert len(results) == 4 and all(len(v) == 4 for v in results.values())


def test_stage2_trains_the_head_only(root, tmp_path):
    """The paper's stage 2: GCN on frozen I3D features, initialised from an I3D file."""
    i3d = next(r for r in REPRODUCTIONS if r.name == "i3d_r50_ssv1")
    strg = next(r for r in REPRODUCTIONS if r.name == "strg_r50_ssv1")
    init = i3d.model.factory(**i3d.model.smoke)
    torch.save(init.state_dict(), tmp_path / "i3d.pt")
    ctx = smoke_context(strg, root, tmp_path / "run", init_checkpoint=str(tmp_path / "i3d.pt"),
               train_part="head")
    out = strg.task.train(ctx)
    assert out["init_files"]["init_checkpoint"]["loaded"] == 318
    trained = read_state(out["checkpoint"])
    for k, v in init.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(trained["base_model." + k], v), k  # backbone untouched


def test_chained_init_loads_the_i3d_backbone_into_strg(tmp_path):
    """Stage 2's declared init: the harness loads an I3D checkpoint through the declared
    adapt hook; every backbone tensor arrives, the head keeps its initialisation."""
    from reproducers.harness.weights import initialise

    gcn = next(r for r in REPRODUCTIONS if r.name == "strg_r50_ssv1_gcn")
    i3d = next(r for r in REPRODUCTIONS if r.name == gcn.init.reproduction)
    state = i3d.model.factory(**i3d.model.smoke).state_dict()
    model = gcn.model.factory(**gcn.model.smoke)
    account = initialise(model, state, tmp_path / "i3d.pt", gcn.init.strict, gcn.init.adapt)
    backbone = [k for k in state if not k.startswith("fc.")]
    assert account["loaded"] == len(backbone) == 318 and not account["mismatched"]
    assert account["missing"] and all(not k.startswith("base_model.")
                                      for k in account["missing"])
    for k in backbone:
        assert torch.equal(model.state_dict()["base_model." + k], state[k]), k
