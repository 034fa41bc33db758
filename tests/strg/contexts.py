"""Smoke run contexts of STRG reproductions over a synthetic tree, as the harness builds them."""

from __future__ import annotations

import dataclasses

from reproducers.harness.declarations import RunContext
from reproducers.strg import data


def smoke_context(rep, root, tmp_path, smoke=True, datasets=True, **options) -> RunContext:
    """The run context of ``rep``'s smoke recipe for one epoch, with ``options`` replaced and
    the data config they imply (``data.for_recipe``); ``datasets``: also build the train and
    validation sets into ``ctx.extras`` as the harness does."""
    recipe = rep.smoke_recipe
    recipe = dataclasses.replace(recipe, epochs=1,
                                 options=dataclasses.replace(recipe.options, **options))
    cfg = data.for_recipe(rep.smoke_data, recipe.options)
    ctx = RunContext(reproduction=rep, smoke=smoke, data_root=root, output_dir=tmp_path,
                     device="cpu", seed=0, recipe=recipe, model_config=rep.model.smoke,
                     data_config=cfg, progress=False, log=lambda m: None)
    if datasets:
        ctx.extras["datasets"] = {
            split: data.build(root, split, cfg, train=split == "train", protocol=ctx.protocol)
            for split in ("train", "validation")}
    return ctx
