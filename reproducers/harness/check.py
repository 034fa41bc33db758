"""Compare evaluation records with expected rows: PASS / FAIL / NOT RUN (reason).

Smoke rows are compared with smoke records only and paper rows with real records only, so
synthetic numbers never stand in for a paper number. A corrupt record fails its rows (the
reason names the file) and the other reproductions are still checked; a failure record
beside the last good one (records.py) is named in the row's reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .declarations import ExpectedRow, Reproduction
from .expected import passes, tolerance_for
from .records import CorruptRecord, read_failed_record, read_record, record_path

PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"


@dataclass(frozen=True)
class RowResult:
    reproduction: str
    paper: str
    metric: str
    kind: str
    expected: float
    direction: str
    tolerance: float | None
    measured: float | None
    delta: float | None
    status: str
    reason: str
    source: str
    eval_size: int | None
    record: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def check_reproduction(rep: Reproduction, records_dir: Path) -> list[RowResult]:
    return [check_row(rep, row, records_dir) for row in rep.expected]


def check_row(rep: Reproduction, row: ExpectedRow, records_dir: Path) -> RowResult:
    smoke = row.kind == "smoke"
    path = record_path(records_dir, rep.name, "evaluate", smoke)
    rec = None

    def result(status, reason="", measured=None, eval_size=None, tol=None):
        delta = None if measured is None else round(measured - row.value, 6)
        return RowResult(rep.name, rep.paper.key, row.metric, row.kind, row.value,
                         row.direction, tol, measured, delta, status, reason, row.source,
                         eval_size, str(path) if rec else None)

    if row.unavailable:
        return result(NOT_RUN, f"{row.dataset + ': ' if row.dataset else ''}{row.unavailable}")
    try:
        rec = read_record(records_dir, rep.name, "evaluate", smoke)
        failed = read_failed_record(records_dir, rep.name, "evaluate", smoke)
    except CorruptRecord as exc:
        return result(FAIL, f"skipped: {exc}")
    if rec is None and failed is not None:
        return result(FAIL, f"evaluation failed: {failed.get('error', 'unknown error')}")
    if rec is None:
        return result(NOT_RUN, _not_run_reason(rep, smoke, records_dir))
    if rec.get("status") != "ok":
        return result(FAIL, f"evaluation failed: {rec.get('error', 'unknown error')}")
    # the good record still stands when a later run failed: its rows say so
    later = "" if failed is None else (f"a later evaluate {failed.get('status')}: "
                                       f"{failed.get('error', '?')}")
    metrics = rec.get("result", {}).get("metrics", {})
    eval_size = rec.get("result", {}).get("eval_size")
    if row.metric not in metrics:
        return result(NOT_RUN, f"the evaluation record has no {row.metric}", eval_size=eval_size)
    measured = float(metrics[row.metric])
    tol = tolerance_for(row, eval_size)
    if tol is None:
        return result(FAIL, "no tolerance: the record lacks eval_size", measured, eval_size)
    ok = passes(row, measured, tol)
    return result(PASS if ok else FAIL, later, measured, eval_size, tol)


def _not_run_reason(rep: Reproduction, smoke: bool, records_dir: Path) -> str:
    if smoke:
        return f"no smoke run yet: `python -m reproducers run {rep.name} --smoke`"
    for stage in ("train", "evaluate"):
        try:
            rec = (read_failed_record(records_dir, rep.name, stage, False)
                   or read_record(records_dir, rep.name, stage, False))
        except CorruptRecord as exc:
            return f"skipped: {exc}"
        if rec and rec.get("status") != "ok":
            return f"{stage} failed: {rec.get('error', 'unknown error')}"
    return (f"no data: needs {rep.dataset.name} via --data-root "
            f"({rep.dataset.data_root_help}); recipe declares {rep.recipe.gpus} GPU(s)")


def summarize(results: list[RowResult]) -> dict:
    counts = {PASS: 0, FAIL: 0, NOT_RUN: 0}
    for r in results:
        counts[r.status] += 1
    return counts


def format_table(results: list[RowResult]) -> str:
    lines = []
    for r in results:
        tag = " [smoke]" if r.kind == "smoke" else ""
        measured = "-" if r.measured is None else f"{r.measured:.4g}"
        tol = "" if r.tolerance is None else f" ±{r.tolerance:.3g}"
        why = f"  ({r.reason})" if r.reason else ""
        lines.append(f"{r.status:<8} {r.reproduction:<28} {r.metric:<6}{tag} expected "
                     f"{r.expected:.4g}{tol} measured {measured}{why}")
    return "\n".join(lines)
