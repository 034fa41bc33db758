import itertools

import numpy as np
import pytest

from reproducers.common.tracking import lapjv_cost_limit, match


def _brute_force(cost, limit):
    """Best partial matching: maximise sum(limit - cost) over matched pairs (lapjv semantics)."""
    r, c = cost.shape
    best, best_pairs = 0.0, ()
    for k in range(1, min(r, c) + 1):
        for rows in itertools.combinations(range(r), k):
            for cols in itertools.permutations(range(c), k):
                gain = sum(limit - cost[i, j] for i, j in zip(rows, cols, strict=True))
                if gain > best + 1e-12:
                    best, best_pairs = gain, tuple(zip(rows, cols, strict=True))
    return best, sorted(best_pairs)


@pytest.mark.parametrize("seed", range(40))
def test_matches_brute_force_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    r, c = rng.integers(1, 5, size=2)
    cost = rng.uniform(0, 1, size=(r, c)).astype(np.float32)
    limit = float(rng.choice([0.3, 0.5, 0.7, 0.9]))
    best, pairs = _brute_force(cost.astype(np.float64), limit)
    row_to_col, col_to_row = lapjv_cost_limit(cost, limit)
    got = sorted((i, int(j)) for i, j in enumerate(row_to_col) if j >= 0)
    assert got == pairs
    # both directions agree
    for i, j in got:
        assert col_to_row[j] == i
    assert (col_to_row >= 0).sum() == len(got)
    assert all(cost[i, j] < limit for i, j in got)


def test_cost_limit_is_per_pair_and_global_optimum_is_taken():
    cost = np.array([[0.20, 0.95],
                     [0.30, 0.40]])
    # limit 0.9: (0,0)+(1,1) gains 0.7+0.5; (0,1) is above the limit
    pairs, ur, uc = match(cost, 0.9)
    assert pairs.tolist() == [[0, 0], [1, 1]] and ur.size == 0 and uc.size == 0
    # limit 0.35: only pairs below 0.35 may match; the best is (0,0) alone (gain 0.15)
    # over (1,0) alone (gain 0.05)
    pairs, ur, uc = match(cost, 0.35)
    assert pairs.tolist() == [[0, 0]] and ur.tolist() == [1] and uc.tolist() == [1]
    # greedy (cheapest pair first) would take (0,0) and then find nothing below the limit
    # (gain 0.4); the optimum matches both rows crosswise (gain 0.3 + 0.35 = 0.65)
    cost = np.array([[0.1, 0.2],
                     [0.15, 0.8]])
    pairs, _, _ = match(cost, 0.5)
    assert pairs.tolist() == [[0, 1], [1, 0]]


def test_no_limit_is_full_rectangular_assignment():
    cost = np.array([[5.0, 1.0, 3.0],
                     [2.0, 4.0, 6.0]])
    row_to_col, col_to_row = lapjv_cost_limit(cost)
    assert row_to_col.tolist() == [1, 0]
    assert col_to_row.tolist() == [1, 0, -1]


def test_empty_and_all_above_limit():
    r2c, c2r = lapjv_cost_limit(np.zeros((0, 3)), 0.5)
    assert r2c.shape == (0,) and c2r.tolist() == [-1, -1, -1]
    r2c, c2r = lapjv_cost_limit(np.zeros((2, 0)), 0.5)
    assert r2c.tolist() == [-1, -1] and c2r.shape == (0,)
    r2c, c2r = lapjv_cost_limit(np.full((2, 2), 0.6), 0.5)
    assert r2c.tolist() == [-1, -1] and c2r.tolist() == [-1, -1]
