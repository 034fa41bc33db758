"""Expected result tables: one ``expected.toml`` per paper, validated against a schema.

Each ``[[row]]`` has: reproduction, metric, value, direction, kind, source, and optionally
tolerance (a number; omitted for proportions means "2 binomial standard errors of the
eval-set size, floor 0.3 points", DESIGN.md), note, dataset (when one reproduction lists rows
of several datasets) and unavailable (why the row can never be run here, e.g. no released
code: ``check`` then reports it NOT RUN with that reason). Any schema violation raises
``UserError`` naming the file and the row number.
"""

from __future__ import annotations

import math
from pathlib import Path

import tomllib

from .declarations import ExpectedRow
from .errors import UserError
from .metric_schema import METRICS

REQUIRED = ("reproduction", "metric", "value", "direction", "kind", "source")
OPTIONAL = ("tolerance", "note", "dataset", "unavailable")
KINDS = ("paper", "official-repo", "derived", "smoke")
TOLERANCE_FLOOR = 0.3  # accuracy points


def read_expected_toml(path: Path) -> dict:
    """An expected.toml parsed, with one-line errors for a missing file or bad syntax."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: expected-results file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc}); fix the syntax") from None


def load_expected(path: Path) -> list[ExpectedRow]:
    path = Path(path)
    data = read_expected_toml(path)
    rows = data.get("row")
    if not isinstance(rows, list) or not rows:
        raise UserError(f"{path}: no [[row]] tables; declare at least one expected row")
    extra = set(data) - {"row", "claim"}  # [[claim]]: harness/claims.py
    if extra:
        raise UserError(f"{path}: unknown top-level keys {sorted(extra)}; only [[row]] and "
                        f"[[claim]] are allowed")
    out: list[ExpectedRow] = []
    seen: dict[tuple, int] = {}
    for i, raw in enumerate(rows, start=1):
        out.append(_validate_row(path, i, raw))
        key = (out[-1].reproduction, out[-1].metric, out[-1].kind, out[-1].dataset)
        if key in seen:
            raise UserError(
                f"{path}: row {i} duplicates row {seen[key]} "
                f"({key[0]} {key[1]} kind={key[2]}{' ' + key[3] if key[3] else ''}); keep one"
            )
        seen[key] = i
    return out


def _validate_row(path: Path, i: int, raw: dict) -> ExpectedRow:
    where = f"{path}: row {i}"
    missing = [k for k in REQUIRED if k not in raw or raw[k] in ("", None)]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)} (every row needs {', '.join(REQUIRED)})")
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise UserError(f"{where}: unknown keys {sorted(unknown)}; allowed: {REQUIRED + OPTIONAL}")
    metric = raw["metric"]
    if metric not in METRICS:
        raise UserError(f"{where}: unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    if raw["direction"] not in ("higher", "lower"):
        raise UserError(f"{where}: direction must be 'higher' or 'lower', got {raw['direction']!r}")
    if raw["direction"] != METRICS[metric].direction:
        raise UserError(
            f"{where}: direction {raw['direction']!r} contradicts {metric} "
            f"({METRICS[metric].direction} is better)"
        )
    if raw["kind"] not in KINDS:
        raise UserError(f"{where}: kind must be one of {', '.join(KINDS)}, got {raw['kind']!r}")
    if not isinstance(raw["value"], int | float) or isinstance(raw["value"], bool):
        raise UserError(f"{where}: value must be a number, got {raw['value']!r}")
    tol = raw.get("tolerance")
    if tol is not None and (not isinstance(tol, int | float) or tol < 0):
        raise UserError(f"{where}: tolerance must be a non-negative number, got {tol!r}")
    if tol is None and not METRICS[metric].proportion:
        raise UserError(f"{where}: {metric} is not a proportion; give an explicit tolerance")
    if not str(raw["source"]).strip():
        raise UserError(f"{where}: source is empty; cite the table, README or URL")
    return ExpectedRow(
        reproduction=raw["reproduction"],
        metric=metric,
        value=float(raw["value"]),
        direction=raw["direction"],
        tolerance=None if tol is None else float(tol),
        kind=raw["kind"],
        source=str(raw["source"]).strip(),
        note=str(raw.get("note", "")),
        dataset=str(raw.get("dataset", "")),
        unavailable=str(raw.get("unavailable", "")).strip(),
    )


def tolerance_for(row: ExpectedRow, eval_size: int | None) -> float | None:
    """Row tolerance; for proportions without one: 2 binomial SEs in points, floor 0.3."""
    if row.tolerance is not None:
        return row.tolerance
    if not eval_size:
        return None
    p = min(max(row.value / 100.0, 0.0), 1.0)
    return max(TOLERANCE_FLOOR, 2.0 * 100.0 * math.sqrt(p * (1.0 - p) / eval_size))


def passes(row: ExpectedRow, measured: float, tolerance: float) -> bool:
    if row.direction == "higher":
        return measured >= row.value - tolerance
    return measured <= row.value + tolerance
