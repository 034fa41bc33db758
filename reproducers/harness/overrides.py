"""``--set KEY=VALUE`` overrides of a declared reproduction, recorded in the config hash.

``NAME=V`` changes a recipe field (optimizer, lr, epochs, batch_size, ...) or one of the
paper's typed recipe options (``options.NAME=V`` says the same explicitly);
``model.NAME=V`` and ``data.NAME=V`` change the model / data config; ``protocol.NAME=V``
the run's evaluation protocol (``PROTOCOL_FIELDS``: test clips, crops, pooling). Values are
parsed as
JSON when they can be (numbers, true/false, null, lists), else kept as strings, then
checked against the field's declared type and range. An unknown key or a bad value is a
one-line ``UserError`` (naming the valid keys) raised before any stage runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from .declarations import Protocol, Recipe
from .errors import UserError
from .knobs import BadValue, coerce, expected, like

RECIPE_FIELDS = {f.name for f in dataclasses.fields(Recipe)} - {"options"}
PROTOCOL_FIELDS = ("temporal_clips", "spatial_crops", "pool")  # the typed protocol knobs


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


def valid_keys(recipe: Recipe, model: Mapping, data: Mapping,
               data_defaults: Mapping | None = None) -> list[str]:
    """Every key ``--set`` accepts for this configuration."""
    return [*sorted(RECIPE_FIELDS), *sorted(recipe.options_dict()),
            *(f"model.{k}" for k in sorted(model)),
            *(f"data.{k}" for k in sorted({**(data_defaults or {}), **data})),
            *(f"protocol.{k}" for k in PROTOCOL_FIELDS)]


def _bad(key, value, what: str) -> UserError:
    return UserError(f"--set {key}={json.dumps(value) if not isinstance(value, str) else value}:"
                     f" expected {what}")


def apply(recipe: Recipe, model: dict, data: dict, overrides: dict,
          data_defaults: Mapping | None = None) -> tuple[Recipe, dict, dict]:
    """(recipe, model config, data config) with ``overrides`` applied and checked.

    ``data_defaults``: the keys the dataset builder reads beyond ``data`` (DatasetSpec
    .config_defaults), also accepted as ``data.NAME``."""
    model, data, fields = dict(model), dict(data), {}
    opts = recipe.options
    typed = dataclasses.is_dataclass(opts)
    option_values = recipe.options_dict()
    data_known = {**(data_defaults or {}), **data}
    for key, value in overrides.items():
        scope, _, name = key.partition(".")
        option = name if scope == "options" and name else key
        if scope == "protocol" and name in PROTOCOL_FIELDS:
            continue  # apply_protocol's
        try:
            if name and scope == "model" and name in model:
                model[name] = like(model[name], value)
            elif name and scope == "data" and name in data_known:
                data[name] = like(data_known[name], value)
            elif key in RECIPE_FIELDS:
                try:
                    fields[key] = coerce(Recipe, key, value)
                except BadValue:
                    raise BadValue(expected(Recipe, key)) from None
            elif option in option_values:
                try:
                    option_values[option] = (coerce(type(opts), option, value) if typed
                                             else like(option_values[option], value))
                except BadValue as exc:
                    raise BadValue(expected(type(opts), option) if typed else str(exc)) from None
            else:
                keys = ", ".join(valid_keys(recipe, model, data, data_defaults))
                where = (f"the {scope} config has no {name!r}" if name and scope in
                         ("model", "data", "protocol") else "unknown key")
                raise UserError(f"--set {key}: {where}; valid keys: {keys}")
            allowed = {"optimizer": getattr(opts, "OPTIMIZERS", None),
                       "schedule": getattr(opts, "SCHEDULES", None)}.get(key)
            if allowed is not None and fields[key] not in allowed:
                raise BadValue(f"one of {', '.join(allowed)}")
        except BadValue as exc:
            raise _bad(key, value, str(exc)) from None
    options = (dataclasses.replace(opts, **option_values) if typed else option_values)
    try:
        return dataclasses.replace(recipe, options=options, **fields), model, data
    except UserError as exc:
        raise UserError(f"--set: {exc}") from None


def apply_protocol(protocol: Protocol, overrides: dict) -> Protocol:
    """``protocol`` with the ``protocol.NAME`` overrides applied and checked (``apply``
    leaves them to this; it refuses other ``protocol.*`` keys)."""
    changes = {}
    for key, value in overrides.items():
        scope, _, name = key.partition(".")
        if scope != "protocol" or name not in PROTOCOL_FIELDS:
            continue
        try:
            changes[name] = coerce(Protocol, name, value)
        except BadValue:
            raise _bad(key, value, expected(Protocol, name)) from None
    if not changes:
        return protocol
    try:
        return dataclasses.replace(protocol, **changes)
    except UserError as exc:
        raise UserError(f"--set: {exc}") from None
