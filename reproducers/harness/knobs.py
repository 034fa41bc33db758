"""Typed recipe knobs: dataclass fields with a default, a type (the annotation) and, where it
makes sense, a range, each declared once with a comment (PySlowFast's config style).

``knob(default, ge=..., gt=..., le=...)`` declares a field with its range; ``coerce`` turns a
``--set`` value into a field's type or raises a one-line ``UserError``; ``check`` validates
every field of an instance (called from ``__post_init__``, so a bad declaration fails at
import and a bad override before any stage runs).

Base layer: imports only ``errors``, so ``harness``, ``common`` and papers may all use it.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping

from .errors import UserError

_RANGES = {"ge": (">=", lambda v, b: v >= b), "gt": (">", lambda v, b: v > b),
           "le": ("<=", lambda v, b: v <= b), "lt": ("<", lambda v, b: v < b)}


def knob(default=dataclasses.MISSING, *, ge=None, gt=None, le=None, lt=None,
         default_factory=dataclasses.MISSING):
    """A dataclass field whose value (when not None) must satisfy the given bounds."""
    meta = {k: v for k, v in {"ge": ge, "gt": gt, "le": le, "lt": lt}.items() if v is not None}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


class BadValue(ValueError):
    """A value that does not fit a type; the message says what was expected."""


@functools.cache
def hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, getattr(origin or tp, "__name__", str(tp)))


def coerce_type(tp, value):
    """``value`` converted to the type ``tp`` (int -> float, list -> tuple, "none" -> None for
    optional fields), or BadValue."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any or tp is object:
        return value
    if origin is typing.Literal:
        for a in args:
            if value == a and type(value) is type(a):
                return a
        raise BadValue(_describe(tp))
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str)
                                                     and value.lower() in ("none", "null"))):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce_type(a, value)
            except BadValue:
                continue
        raise BadValue(_describe(tp))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise BadValue(_describe(tp))
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise BadValue(_describe(tp))
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise BadValue(_describe(tp))
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise BadValue(_describe(tp))
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise BadValue("a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce_type(args[0], v) for v in value)
        if args and len(args) != len(value):
            raise BadValue(f"a list of {len(args)}")
        return tuple(coerce_type(a, v) for a, v in zip(args, value, strict=True)) if args \
            else tuple(value)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise BadValue("a list")
        return [coerce_type(args[0], v) for v in value] if args else list(value)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise BadValue("a JSON object")
        return dict(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise BadValue(_describe(tp))


def like(default, value):
    """``value`` checked against the type of an untyped config's declared ``default``
    (model/data configs are plain mappings): bool, int, number, string, list, mapping."""
    if default is None:
        return value
    for tp in (bool, int, float, str):
        if type(default) is tp:
            return coerce_type(tp, value)
    if isinstance(default, list | tuple):
        return coerce_type(tuple if isinstance(default, tuple) else list, value)
    if isinstance(default, Mapping):
        return coerce_type(dict, value)
    return value


def in_range(f: dataclasses.Field, value) -> str | None:
    """Why ``value`` is outside ``f``'s declared range, or None."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    for key, bound in f.metadata.items():
        if key in _RANGES:
            op, ok = _RANGES[key]
            if not ok(value, bound):
                return f"must be {op} {bound}"
    return None


def coerce(cls, name: str, value):
    """``value`` for field ``name`` of dataclass ``cls``: typed and in range, or BadValue."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    out = coerce_type(hints(cls)[name], value)
    why = in_range(f, out)
    if why:
        raise BadValue(why)
    return out


def expected(cls, name: str) -> str:
    """What field ``name`` accepts, e.g. 'an integer >= 1'."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    bounds = [f"{_RANGES[k][0]} {v}" for k, v in f.metadata.items() if k in _RANGES]
    return " ".join([_describe(hints(cls)[name]), *bounds])


def check(obj, what: str) -> None:
    """Raise a one-line UserError if a field of the dataclass ``obj`` has a bad value."""
    cls = type(obj)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        try:
            coerce(cls, f.name, value)
        except BadValue:
            raise UserError(f"{what} {f.name}={value!r}: expected {expected(cls, f.name)}") \
                from None


def option(options, name: str, default=None):
    """A recipe option read the same way from typed options (a paper's dataclass) and from a
    plain dict (papers whose options are not typed yet; small test papers). A typed class
    that does not declare ``name`` is an error, never a silent default."""
    if isinstance(options, dict):
        return options.get(name, default)
    if dataclasses.is_dataclass(options) and name not in {f.name for f in
                                                          dataclasses.fields(options)}:
        raise AttributeError(f"{type(options).__name__} declares no option {name!r}")
    return getattr(options, name)
