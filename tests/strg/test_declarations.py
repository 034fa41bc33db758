"""The STRG declarations: every reproduction builds, its smoke model runs its example input."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness.registry import discover
from reproducers.strg import REPRODUCTIONS

NAMES = [r.name for r in REPRODUCTIONS]


def test_registered_with_expected_rows():
    reps = discover()
    assert set(NAMES) <= set(reps)
    stage2 = [n for n in NAMES if n.endswith("_gcn")]
    assert len(NAMES) == 24 and len(stage2) == 8  # 16 table rows + the paper's stage 2 each
    for rep in REPRODUCTIONS:
        assert rep.expected or rep.name in stage2, rep.name
        assert {e.metric for e in rep.expected} <= set(rep.metrics)


def test_three_stages_are_chained():
    """I3D (stage 1) -> <strg>_gcn (2: head only, from the I3D) -> <strg> (3: end-to-end,
    from stage 2, lr 0.000125 for 30K iterations); jd730's two stages likewise."""
    by = {r.name: r for r in REPRODUCTIONS}
    for name in [n for n in NAMES if n.endswith("_gcn")]:
        gcn, strg = by[name], by[name.removesuffix("_gcn")]
        i3d = by[gcn.init.reproduction]
        assert i3d.init is None and i3d.model.full["kind"] == "i3d"
        assert i3d.recipe.options.iterations == 100_000 and i3d.recipe.lr == 0.00125
        # the epochs the report states are those the task runs: iterations over full batches
        per_epoch = i3d.dataset.expected_samples["train"] // 8
        assert i3d.recipe.epochs == -(-100_000 // per_epoch)
        assert strg.recipe.epochs == -(-30_000 // per_epoch)
        assert gcn.recipe.options.train_part == "head"
        assert gcn.smoke_recipe.options.train_part == "head"
        assert (gcn.recipe.options.iterations, gcn.recipe.lr) == (100_000, 0.00125)
        assert strg.init.reproduction == name and strg.init.strict
        assert (strg.recipe.options.iterations, strg.recipe.lr) == (30_000, 0.000125)
        assert strg.recipe.schedule == "constant"
        assert dict(gcn.model.full) == dict(strg.model.full)
        for key in ("depth", "nonlocal_blocks", "num_classes"):
            assert i3d.model.full[key] == strg.model.full[key], (name, key)
    assert by["strg_jd730_ssv1"].init.reproduction == "i3d_jd730_ssv1"


def test_paper_recipe_text_comes_from_the_typed_options():
    rec = by_name("i3d_r50_ssv1").recipe
    assert rec.optimizer_text.startswith("sgd (momentum 0.9, weight decay 0.0001; momentum "
                                         "and weight decay assumed")
    assert rec.schedule_text == "100000 iterations, lr 0.00125 /10 after 90000"
    assert by_name("strg_r50_ssv1").recipe.schedule_text == \
        "constant lr 0.000125, 30000 iterations"
    assert by_name("i3d_jd730_ssv1").recipe.schedule_text == \
        "100 epochs, lr 0.00125 /10 after epoch 90"
    assert by_name("strg_r50_ssv1").recipe.options.eval_mode == "paper"


def by_name(name):
    return next(r for r in REPRODUCTIONS if r.name == name)


def test_set_reaches_exactly_the_typed_options():
    from reproducers.harness.errors import UserError
    from reproducers.harness.overrides import apply

    rec = by_name("strg_r50_ssv1_gcn").recipe
    out, _, _ = apply(rec, {}, {}, {"train_part": "all", "iterations": 10, "lr_drop": 0.5})
    assert (out.options.train_part, out.options.iterations, out.options.lr_drop) == \
        ("all", 10, 0.5)
    with pytest.raises(UserError, match="--set train_part=none: expected one of all, head"):
        apply(rec, {}, {}, {"train_part": "none"})
    with pytest.raises(UserError, match="--set lr_drop=0: expected a number > 0"):
        apply(rec, {}, {}, {"lr_drop": 0})
    with pytest.raises(UserError, match="--set stage: unknown key"):
        apply(rec, {}, {}, {"stage": "x"})


@pytest.mark.parametrize("name", NAMES)
def test_smoke_model_runs_example_input(name):
    rep = next(r for r in REPRODUCTIONS if r.name == name)
    torch.manual_seed(0)
    model = rep.model.factory(**rep.model.smoke).eval()
    inputs = rep.model.example_input(rep.model.smoke, 2)
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    with torch.no_grad():
        out = model(*args)
    assert out.shape == (2, rep.model.smoke["num_classes"])


def test_full_size_builds_on_meta():
    sizes = {}
    for rep in REPRODUCTIONS:
        with torch.device("meta"):
            model = rep.model.factory(**rep.model.full)
        sizes[rep.name] = sum(p.numel() for p in model.parameters())
    assert sizes["i3d_jd730_ssv1"] == 32_561_134  # jd730 resnet_strg-50, every block 3×1×1
    assert sizes["i3d_r50_ssv1"] == 27_580_398  # the Non-local I3D (flops.py)
    assert sizes["nl_i3d_r50_ssv1"] > sizes["i3d_r50_ssv1"]
    assert sizes["strg_r101_charades"] > sizes["strg_r50_charades"]
