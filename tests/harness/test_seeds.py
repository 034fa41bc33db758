"""`--seeds N` on the fake paper: every seed's result and mean ± std recorded, rows checked
against the mean, the report shows the spread; random evaluations repeat evaluation alone."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from reproducers.harness import run
from reproducers.harness.check import check_reproduction
from reproducers.harness.declarations import ExpectedRow, Task
from reproducers.harness.errors import UserError
from reproducers.harness.portable import Roots
from reproducers.harness.report import render
from reproducers.harness.stages import RunOptions
from tests.harness import fake_paper


@pytest.fixture
def opts(tmp_path):
    return RunOptions(smoke=True, output_dir=tmp_path / "runs", records_dir=tmp_path / "rec",
                      progress=False, log=lambda _m: None)


def _rep(name="fake_toy", **task):
    # few epochs of a high LR: the seeds end at visibly different accuracies
    rep = fake_paper.make(name, expected=[
        ExpectedRow(name, "acc@1", 50.0, "higher", 0.0, "smoke", "toy sign task")])
    recipe = dataclasses.replace(rep.smoke_recipe, epochs=2, lr=0.3)
    return dataclasses.replace(rep, smoke_recipe=recipe, task=Task(**{
        "train": fake_paper.train, "evaluate": fake_paper.evaluate, **task}))


def _record(opts, name="fake_toy"):
    return json.loads((opts.records_dir / name / "evaluate.smoke.json").read_text())


def test_three_seeds_record_each_result_and_mean_std(opts, tmp_path):
    rep = _rep()
    assert run.run(rep, opts, ["train", "evaluate"], report=tmp_path / "r.md",
                   json_out=False, seeds=3) == 0
    res = _record(opts)["result"]
    assert [s["seed"] for s in res["seeds"]] == [3, 4, 5]  # from the recipe's seed
    values = np.array([s["metrics"]["acc@1"] for s in res["seeds"]])
    for s in res["seeds"]:  # each seed's own records, with its own seed
        assert s["record"].startswith(f"$RECORDS_DIR/fake_toy/seeds/seed-{s['seed']}/")
        rec = json.loads(Roots.of(opts).resolve(s["record"]).read_text())
        assert rec["provenance"]["seed"] == s["seed"]
        assert rec["result"]["metrics"] == s["metrics"]
    assert len(set(values)) > 1  # the seeds differ, so the spread is real
    assert res["metrics"]["acc@1"] == pytest.approx(values.mean())
    assert res["metrics_std"]["acc@1"] == pytest.approx(values.std(ddof=1))
    assert res["repeated"] == "training and evaluation"
    # the synthetic data is written once, in the run's own folder, and every seed reads it
    assert not list((opts.output_dir / "seeds").rglob(".synthetic-complete"))
    assert len(list(opts.output_dir.rglob(".synthetic-complete"))) == 1
    (row,) = check_reproduction(rep, opts.records_dir)
    assert row.measured == pytest.approx(values.mean())  # checked against the mean
    text = render([rep], opts.records_dir, tmp_path / "report" / "results.md").read_text()
    assert f"± {res['metrics_std']['acc@1']:.2f} (mean of 3 seeds: " in text


def test_random_evaluation_trains_once_and_repeats_evaluation(opts, tmp_path):
    def evaluate(ctx, model, ds):  # scores a random half of the test set, seeded by ctx.seed
        x, y = ds.tensors
        keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(ctx.seed))[:16]
        acc = (model(x[keep]).argmax(1) == y[keep]).float().mean().item() * 100
        return {"metrics": {"acc@1": acc}, "eval_size": 16}

    rep = _rep(evaluate=evaluate, random_evaluation=True)
    run.run(rep, opts, ["train", "evaluate"], report=tmp_path / "r.md", json_out=False, seeds=3)
    res = _record(opts)["result"]
    assert res["repeated"] == "evaluation"
    assert (opts.records_dir / "fake_toy" / "train.smoke.json").is_file()  # one training
    assert not list((opts.records_dir / "fake_toy" / "seeds").rglob("train.smoke.json"))
    configs = [json.loads(Roots.of(opts).resolve(s["record"]).read_text())["config"]
               for s in res["seeds"]]
    # the same weights, three evaluations; stored relative to the run's --output-dir
    assert {c["checkpoint"] for c in configs} == {"$OUTPUT_DIR/fake_toy-smoke/model.pt"}


def test_seeds_below_one_is_a_user_error(opts, tmp_path):
    with pytest.raises(UserError, match="--seeds 0"):
        run.run(_rep(), opts, ["train"], report=tmp_path / "r.md", json_out=False, seeds=0)
