"""Claim rows: "A's metric beats B's (by more than a margin)", checked on the samples both
runs scored (their per-sample predictions, harness/predictions.py) with a paired test.

``[[claim]]`` tables in a paper's expected.toml: a, b, metric, kind, source (required);
margin (metric units, default 0), alpha (one-sided level, default 0.05), resamples (paired
bootstrap, default 10,000), seed (default 0), note. ``kind = "smoke"`` compares the two smoke
records; any other kind the real ones.

Test (one-sided, H0: A is not better than B by more than the margin):
- accuracy (acc@k) with margin 0: exact McNemar, a binomial test of the discordant pairs
  (scipy.stats.binomtest, alternative "greater");
- everything else (a margin, mAP, mse, MOTA/HOTA/IDF1 over sequences): paired bootstrap
  (same rows for both runs), p = share of resamples whose improvement is <= margin (+1
  corrected).
Δ = A − B on the common samples; its 95% interval is the paired bootstrap's percentile
interval in every case. PASS when p < alpha and Δ is beyond the margin in the claimed
direction; FAIL otherwise; NOT RUN (reason) when a side has no record or no predictions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import predictions as P
from . import stats
from .declarations import ClaimRow
from .errors import UserError
from .expected import read_expected_toml
from .metric_schema import METRICS
from .records import read_record, record_path

PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"
REQUIRED = ("a", "b", "metric", "kind", "source")
OPTIONAL = ("margin", "alpha", "resamples", "seed", "note")
KINDS = ("paper", "official-repo", "derived", "smoke")
LEVEL = 0.95  # the reported interval


def load_claims(path: Path) -> list[ClaimRow]:
    """The ``[[claim]]`` tables of an expected.toml (none: an empty list)."""
    path = Path(path)
    data = read_expected_toml(path)
    raw = data.get("claim", [])
    if not isinstance(raw, list):
        raise UserError(f"{path}: 'claim' must be an array of tables ([[claim]])")
    return [_validate(path, i, c) for i, c in enumerate(raw, start=1)]


def _validate(path: Path, i: int, raw: dict) -> ClaimRow:
    where = f"{path}: claim {i}"
    missing = [k for k in REQUIRED if raw.get(k) in ("", None)]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)} (every claim needs "
                        f"{', '.join(REQUIRED)})")
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise UserError(f"{where}: unknown keys {sorted(unknown)}; allowed: {REQUIRED + OPTIONAL}")
    if raw["metric"] not in METRICS:
        raise UserError(f"{where}: unknown metric {raw['metric']!r}; known metrics: "
                        f"{', '.join(METRICS)}")
    if raw["kind"] not in KINDS:
        raise UserError(f"{where}: kind must be one of {', '.join(KINDS)}, got {raw['kind']!r}")
    if raw["a"] == raw["b"]:
        raise UserError(f"{where}: a and b are both {raw['a']!r}; a claim compares two runs")
    margin, alpha = raw.get("margin", 0.0), raw.get("alpha", 0.05)
    if not _number(margin) or margin < 0:
        raise UserError(f"{where}: margin must be a non-negative number, got {margin!r}")
    if not _number(alpha) or not 0 < alpha < 0.5:
        raise UserError(f"{where}: alpha must be a number in (0, 0.5), got {alpha!r}")
    resamples, seed = raw.get("resamples", 10_000), raw.get("seed", 0)
    if not isinstance(resamples, int) or isinstance(resamples, bool) or resamples < 100:
        raise UserError(f"{where}: resamples must be an integer >= 100, got {resamples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"{where}: seed must be an integer, got {seed!r}")
    return ClaimRow(a=raw["a"], b=raw["b"], metric=raw["metric"], kind=raw["kind"],
                    source=str(raw["source"]).strip(), margin=float(margin), alpha=float(alpha),
                    resamples=resamples, seed=seed, note=str(raw.get("note", "")))


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class ClaimResult:
    kind: str  # always "claim" in JSON, beside expected rows; the row's kind is row_kind
    reproduction: str  # A
    other: str  # B
    paper: str
    metric: str
    row_kind: str
    statement: str
    margin: float
    alpha: float
    test: str | None
    samples: int | None  # scored by both
    a_value: float | None  # on the common samples
    b_value: float | None
    delta: float | None  # A - B
    ci_low: float | None
    ci_high: float | None
    p: float | None
    discordant: dict | None  # McNemar: {"a_only", "b_only"}
    status: str
    reason: str
    source: str
    records: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def statement(claim: ClaimRow) -> str:
    sign = ">" if METRICS[claim.metric].direction == "higher" else "<"
    margin = f" {'+' if sign == '>' else '-'} {claim.margin:g}" if claim.margin else ""
    return f"{claim.a} {claim.metric} {sign} {claim.b} {claim.metric}{margin}"


def check_claims(reps, records_dir: Path) -> list[ClaimResult]:
    """Every claim declared by ``reps`` (claims live on their ``a`` reproduction)."""
    return [check_claim(rep.paper.key, c, records_dir) for rep in reps for c in rep.claims]


def check_claim(paper: str, claim: ClaimRow, records_dir: Path) -> ClaimResult:
    smoke = claim.kind == "smoke"
    paths = [str(record_path(records_dir, n, "evaluate", smoke)) for n in (claim.a, claim.b)]
    base = {"kind": "claim", "reproduction": claim.a, "other": claim.b, "paper": paper,
            "metric": claim.metric, "row_kind": claim.kind, "statement": statement(claim),
            "margin": claim.margin, "alpha": claim.alpha, "source": claim.source,
            "records": paths, "test": None, "samples": None, "a_value": None, "b_value": None,
            "delta": None, "ci_low": None, "ci_high": None, "p": None, "discordant": None}

    def result(status, reason="", **kw):
        return ClaimResult(**{**base, **kw, "status": status, "reason": reason})

    preds = []
    for name in (claim.a, claim.b):
        rec = read_record(records_dir, name, "evaluate", smoke)
        run = f"python -m reproducers run {name}{' --smoke' if smoke else ''}"
        if rec is None or rec.get("status") != "ok":
            why = "no evaluate record" if rec is None else "its evaluation failed"
            return result(NOT_RUN, f"{name}: {why} (`{run}`)")
        pred = P.load_for(records_dir, rec)
        if pred is None:
            return result(NOT_RUN, f"{name}: no per-sample predictions beside its record "
                                   f"(`{run} --stages evaluate --force`)")
        preds.append(pred)
    return _test(claim, *preds, result)


def _test(claim: ClaimRow, pa: P.Predictions, pb: P.Predictions, result) -> ClaimResult:
    if pa.kind != pb.kind:
        return result(FAIL, f"not comparable: {claim.a} has {pa.kind} predictions, "
                            f"{claim.b} {pb.kind}")
    rows_a, rows_b = pa.rows(), pb.rows()
    where_b = {pb.ids[r]: r for r in rows_b}
    common = [(r, where_b[pa.ids[r]]) for r in rows_a if pa.ids[r] in where_b]
    if not common:
        return result(NOT_RUN, "the two runs scored no sample in common")
    ia = np.array([x for x, _ in common], dtype=np.int64)
    ib = np.array([y for _, y in common], dtype=np.int64)
    if "targets" in pa.arrays and "targets" in pb.arrays and not np.array_equal(
            pa.arrays["targets"][ia], pb.arrays["targets"][ib]):
        return result(FAIL, "not comparable: the runs' targets differ on common samples")
    kind = P.kind_of(pa.kind)
    sign = 1.0 if METRICS[claim.metric].direction == "higher" else -1.0
    a_value = kind.metric(pa.arrays, ia, claim.metric)
    b_value = kind.metric(pb.arrays, ib, claim.metric)
    delta = a_value - b_value
    per_a, per_b = kind.per_sample(pa.arrays, claim.metric), kind.per_sample(pb.arrays,
                                                                              claim.metric)
    n = len(common)
    if per_a is not None and per_b is not None:
        boot = stats.paired_bootstrap(n, claim.resamples, claim.seed,
                                      per_sample_diff=per_a[ia] - per_b[ib])
    else:
        boot = stats.paired_bootstrap(n, claim.resamples, claim.seed, statistic=lambda rows: (
            kind.metric(pa.arrays, ia[rows], claim.metric)
            - kind.metric(pb.arrays, ib[rows], claim.metric)))
    lo, hi = stats.percentile_interval(boot, LEVEL)
    ca, cb = kind.correct(pa.arrays, claim.metric), kind.correct(pb.arrays, claim.metric)
    discordant = None
    if ca is not None and cb is not None and claim.margin == 0:
        test = "exact McNemar (one-sided binomial on discordant pairs)"
        mc = stats.mcnemar_exact(ca[ia], cb[ib]) if sign > 0 else \
            stats.mcnemar_exact(cb[ib], ca[ia])
        p, discordant = mc["p"], {"a_only": mc["a_only"], "b_only": mc["b_only"]}
    else:
        test = f"paired bootstrap ({claim.resamples} resamples, seed {claim.seed})"
        p = stats.bootstrap_p(sign * boot, claim.margin)
    holds = p < claim.alpha and sign * delta > claim.margin
    why = "" if holds else (
        f"p = {p:.3g} >= alpha {claim.alpha:g}" if p >= claim.alpha
        else f"Δ {delta:+.3g} is not beyond the margin {claim.margin:g}")
    return result(PASS if holds else FAIL, why, test=test, samples=n,
                  a_value=round(a_value, 6), b_value=round(b_value, 6),
                  delta=round(delta, 6), ci_low=round(lo, 6), ci_high=round(hi, 6), p=p,
                  discordant=discordant)


def format_claims(results: list[ClaimResult]) -> str:
    lines = []
    for r in results:
        tag = " [smoke]" if r.row_kind == "smoke" else ""
        if r.delta is None:
            body = ""
        else:
            body = (f": Δ {r.delta:+.4g} (95% CI {r.ci_low:+.4g} .. {r.ci_high:+.4g}), "
                    f"p {r.p:.3g}, {r.samples} common samples")
        why = f"  ({r.reason})" if r.reason else ""
        lines.append(f"{r.status:<8} claim{tag} {r.statement}{body}{why}")
    return "\n".join(lines)
