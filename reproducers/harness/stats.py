"""Paired tests for claim rows: exact McNemar on per-sample correctness, paired bootstrap
(seeded, percentile interval) for any metric computable on a subset of samples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CHUNK = 1000  # bootstrap resamples drawn at once (memory: CHUNK x samples indices)


def mcnemar_exact(a_correct, b_correct) -> dict:
    """One-sided exact McNemar test of "A is right more often than B" on paired 0/1
    correctness: binomial test of the discordant pairs (A right & B wrong among all pairs
    where they disagree) against 1/2, ``alternative="greater"``."""
    from scipy.stats import binomtest

    a = np.asarray(a_correct).astype(bool)
    b = np.asarray(b_correct).astype(bool)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    n = a_only + b_only
    p = 1.0 if n == 0 else float(binomtest(a_only, n, 0.5, alternative="greater").pvalue)
    return {"a_only": a_only, "b_only": b_only, "p": p}


def bootstrap_indices(n: int, resamples: int, seed: int):
    """Yield (k, n) arrays of resampled row indices, ``resamples`` rows in all, seeded."""
    rng = np.random.default_rng(seed)
    left = resamples
    while left > 0:
        k = min(CHUNK, left)
        yield rng.integers(0, n, size=(k, n))
        left -= k


def paired_bootstrap(n: int, resamples: int, seed: int, *,
                     per_sample_diff: np.ndarray | None = None,
                     statistic: Callable[[np.ndarray], float] | None = None) -> np.ndarray:
    """Bootstrap distribution of a paired difference: each resample draws ``n`` sample rows
    with replacement, the same rows for both runs. ``per_sample_diff``: the difference is
    the mean of these per-sample values (vectorised); else ``statistic(rows)`` returns it."""
    out = []
    for idx in bootstrap_indices(n, resamples, seed):
        if per_sample_diff is not None:
            out.append(np.asarray(per_sample_diff, dtype=np.float64)[idx].mean(axis=1))
        else:
            out.append(np.array([statistic(rows) for rows in idx], dtype=np.float64))
    return np.concatenate(out)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.nanpercentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_p(improvements: np.ndarray, margin: float) -> float:
    """One-sided bootstrap p of "improvement > margin": the share of resamples at or below
    the margin, with the +1 correction (never 0)."""
    imp = improvements[~np.isnan(improvements)]
    return float((1 + np.sum(imp <= margin)) / (1 + imp.size))
