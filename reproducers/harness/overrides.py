"""``--set KEY=VALUE`` overrides of a declared reproduction, recorded in the config hash.

``model.NAME=V`` and ``data.NAME=V`` change the model / data config; ``NAME=V`` changes a
recipe field (lr, epochs, batch_size, ...) or, failing that, a recipe option (scheduler,
select, eval_every, ...). Values are parsed as JSON when they can be (numbers, true/false,
null), else kept as strings.
"""

from __future__ import annotations

import dataclasses
import json

from .declarations import Recipe
from .errors import UserError

RECIPE_FIELDS = {f.name for f in dataclasses.fields(Recipe)} - {"options"}


def parse(pairs: list[str] | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set epochs=10")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def apply(recipe: Recipe, model: dict, data: dict, overrides: dict) -> tuple[Recipe, dict, dict]:
    model, data, options, fields = dict(model), dict(data), dict(recipe.options), {}
    for key, value in overrides.items():
        scope, _, name = key.partition(".")
        if name and scope == "model":
            if name not in model:
                raise UserError(f"--set {key}: the model config has no {name!r}; "
                                f"known: {', '.join(sorted(model))}")
            model[name] = value
        elif name and scope == "data":
            data[name] = value
        elif key in RECIPE_FIELDS:
            fields[key] = value
        else:
            options[key] = value
    return dataclasses.replace(recipe, options=options, **fields), model, data
