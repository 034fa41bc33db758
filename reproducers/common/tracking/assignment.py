"""Linear assignment with a per-pair cost limit: the ``lap.lapjv(cost, extend_cost=True,
cost_limit=L)`` call of mmtrack's ByteTracker (``ByteTracker.assign_ids``), without ``lap``.

Semantics of ``lap.lapjv`` with a finite ``cost_limit`` (read from gatagat/lap v0.4.0, the PyPI
release mmtrack 0.14 environments install, ``lap/_lapjv.pyx``): the ``r x c`` cost matrix is
embedded in a ``2N x 2N`` square (``N = max(r, c)``) whose extra "dummy" rows/columns all cost
``L`` (padding inside the top-left ``N x N`` block costs ``max(cost) + L + 1``), and the square
problem is solved exactly by Jonker-Volgenant. Rows/columns assigned to dummies come back as -1.
With ``k`` real pairs the total is ``sum(matched costs) + (2N - k) L``, so lapjv maximises
``sum over matched pairs of (L - cost)``: a pair is worth matching only if it costs less than
``L``; a pair costing more than ``L`` is never matched. (lap's later master/0.5.x pads with
``(r + c)`` dummies of cost ``L / 2`` and zeros in the dummy-dummy block: the same objective.)

This module solves the same problem with :func:`scipy.optimize.linear_sum_assignment` on
``min(cost - L, 0)`` (an ``r x c`` problem instead of ``2N x 2N``) and drops the pairs whose cost
is not below ``L``. Both give the same optimal value; they can differ only where several
assignments are exactly optimal (equal sums, or a pair costing exactly ``L``, which is dropped
here), i.e. never with continuous-valued IoU costs in practice.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def lapjv_cost_limit(cost: np.ndarray, cost_limit: float = np.inf
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Emulate ``_, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=cost_limit)``.

    Returns ``(row_to_col, col_to_row)``: int arrays of length ``r`` and ``c`` holding the
    matched column / row index, or -1 where unmatched. Costs are taken as float64, like lapjv.
    With ``cost_limit = inf`` this is a plain maximum-cardinality min-cost assignment.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"lapjv_cost_limit: 2-d cost expected, got shape {cost.shape}")
    r, c = cost.shape
    row_to_col = np.full(r, -1, dtype=np.int64)
    col_to_row = np.full(c, -1, dtype=np.int64)
    if r == 0 or c == 0:
        return row_to_col, col_to_row
    if np.isfinite(cost_limit):
        gain = np.minimum(cost - cost_limit, 0.0)
        rows, cols = linear_sum_assignment(gain)
        keep = cost[rows, cols] < cost_limit
        rows, cols = rows[keep], cols[keep]
    else:
        rows, cols = linear_sum_assignment(cost)
    row_to_col[rows] = cols
    col_to_row[cols] = rows
    return row_to_col, col_to_row


def match(cost: np.ndarray, cost_limit: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matched pairs and leftovers of :func:`lapjv_cost_limit`.

    Returns ``(pairs, unmatched_rows, unmatched_cols)``; ``pairs`` is ``(k, 2)`` of
    ``(row, col)`` sorted by row.
    """
    row_to_col, col_to_row = lapjv_cost_limit(cost, cost_limit)
    rows = np.flatnonzero(row_to_col >= 0)
    pairs = np.stack([rows, row_to_col[rows]], axis=1)
    return pairs, np.flatnonzero(row_to_col < 0), np.flatnonzero(col_to_row < 0)
