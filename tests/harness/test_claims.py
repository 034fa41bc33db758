"""Claim rows: schema, the paired tests, and PASS / FAIL / NOT RUN on per-sample records."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from reproducers.harness import predictions as P
from reproducers.harness import stats
from reproducers.harness.claims import FAIL, NOT_RUN, PASS, check_claim, load_claims
from reproducers.harness.declarations import ClaimRow
from reproducers.harness.errors import UserError
from reproducers.harness.records import write_record

IDS = [f"v{i:02d}" for i in range(40)]


def _scores(correct: np.ndarray, targets: np.ndarray, classes=4) -> np.ndarray:
    """Scores whose argmax is the target where ``correct``, another class elsewhere."""
    pred = np.where(correct, targets, (targets + 1) % classes)
    return np.eye(classes)[pred] + 0.01


def _record(records, name, pred, smoke=True, status="ok"):
    result = {"metrics": {}, "predictions": P.save(P.predictions_path(records, name, smoke), pred)}
    write_record(records, {"reproduction": name, "stage": "evaluate", "smoke": smoke,
                           "status": status, "result": result})


@pytest.fixture
def two_runs(tmp_path):
    """A right on 36/40, B on 12/40; discordant pairs: A only 26, B only 2."""
    targets = np.arange(40) % 4
    a = np.ones(40, bool)
    a[:4] = False
    b = np.zeros(40, bool)
    b[2:14] = True
    _record(tmp_path, "good", P.classification(IDS, _scores(a, targets), targets))
    _record(tmp_path, "blind", P.classification(IDS[::-1], _scores(b, targets)[::-1],
                                                targets[::-1]))  # order differs: ids pair
    return tmp_path


def _claim(a="good", b="blind", metric="acc@1", **kw):
    return ClaimRow(a=a, b=b, metric=metric, kind="smoke", source="test", **kw)


def test_claim_passes_with_exact_mcnemar(two_runs):
    r = check_claim("p", _claim(), two_runs)
    assert r.status == PASS and r.reason == ""
    assert (r.samples, r.a_value, r.b_value) == (40, 90.0, 30.0)
    assert r.delta == pytest.approx(60.0)
    assert r.discordant == {"a_only": 26, "b_only": 2}
    assert r.p == pytest.approx(binomtest(26, 28, 0.5, alternative="greater").pvalue)
    assert r.ci_low < 60.0 < r.ci_high and r.ci_low > 0
    assert "McNemar" in r.test


def test_swapped_claim_fails(two_runs):
    r = check_claim("p", _claim(a="blind", b="good"), two_runs)
    assert r.status == FAIL and "p = " in r.reason
    assert r.delta == pytest.approx(-60.0) and r.p > 0.99
    assert r.ci_high < 0


def test_margin_uses_the_bootstrap(two_runs):
    held = check_claim("p", _claim(margin=20.0), two_runs)
    assert held.status == PASS and "bootstrap" in held.test and held.p < 0.05
    too_much = check_claim("p", _claim(margin=70.0), two_runs)
    assert too_much.status == FAIL


def test_not_run_reasons(two_runs):
    r = check_claim("p", _claim(b="missing"), two_runs)
    assert r.status == NOT_RUN and "missing: no evaluate record" in r.reason
    P.predictions_path(two_runs, "blind", True).unlink()
    r = check_claim("p", _claim(), two_runs)
    assert r.status == NOT_RUN and "no per-sample predictions" in r.reason
    r = check_claim("p", ClaimRow("good", "blind", "acc@1", "paper", "t"), two_runs)
    assert r.status == NOT_RUN  # a paper claim reads the real records, which do not exist


def test_bootstrap_on_regression_and_only_common_samples(tmp_path):
    rng = np.random.default_rng(0)
    t = rng.normal(size=40)
    _record(tmp_path, "good", P.regression(IDS, t + rng.normal(0, 0.1, 40), t))
    _record(tmp_path, "bad", P.regression(IDS[10:] + ["extra"], np.append(
        t[10:] + rng.normal(0, 1.0, 30), 0.0), np.append(t[10:], 0.0)))
    r = check_claim("p", _claim("good", "bad", "mse", resamples=2000), tmp_path)
    assert r.samples == 30 and r.status == PASS and r.delta < 0 and r.ci_high < 0
    again = check_claim("p", _claim("good", "bad", "mse", resamples=2000), tmp_path)
    assert (again.ci_low, again.ci_high, again.p) == (r.ci_low, r.ci_high, r.p)  # seeded
    assert check_claim("p", _claim("bad", "good", "mse", resamples=2000), tmp_path).status == FAIL


def test_differing_targets_are_not_comparable(tmp_path):
    t = np.arange(40) % 4
    _record(tmp_path, "good", P.classification(IDS, _scores(np.ones(40, bool), t), t))
    _record(tmp_path, "blind", P.classification(IDS, _scores(np.ones(40, bool), t), (t + 1) % 4))
    r = check_claim("p", _claim(), tmp_path)
    assert r.status == FAIL and "targets differ" in r.reason


def test_mcnemar_and_interval_helpers():
    a = np.array([1, 1, 1, 0, 1, 0], bool)
    b = np.array([0, 0, 1, 0, 1, 1], bool)
    out = stats.mcnemar_exact(a, b)
    assert (out["a_only"], out["b_only"]) == (2, 1)
    assert out["p"] == pytest.approx(0.5)  # P(X >= 2), X ~ Bin(3, 1/2)
    assert stats.mcnemar_exact(a, a)["p"] == 1.0
    boot = stats.paired_bootstrap(6, 500, 1, per_sample_diff=np.ones(6))
    assert boot.shape == (500,) and np.all(boot == 1.0)
    assert stats.bootstrap_p(np.array([1.0, 2.0, -1.0]), 0.0) == pytest.approx(2 / 4)


@pytest.mark.parametrize("body, message", [
    ('a = "x"\nmetric = "acc@1"\nkind = "smoke"\nsource = "s"', "missing b"),
    ('a = "x"\nb = "x"\nmetric = "acc@1"\nkind = "smoke"\nsource = "s"', "compares two runs"),
    ('a = "x"\nb = "y"\nmetric = "acc1"\nkind = "smoke"\nsource = "s"', "unknown metric"),
    ('a = "x"\nb = "y"\nmetric = "acc@1"\nkind = "smoke"\nsource = "s"\nalpha = 0.7', "alpha"),
    ('a = "x"\nb = "y"\nmetric = "acc@1"\nkind = "smoke"\nsource = "s"\nmargin = -1', "margin"),
    ('a = "x"\nb = "y"\nmetric = "acc@1"\nkind = "smoke"\nsource = "s"\nside = 1', "unknown keys"),
])
def test_schema_errors_name_the_claim(tmp_path, body, message):
    path = tmp_path / "expected.toml"
    path.write_text("[[claim]]\n" + body + "\n")
    with pytest.raises(UserError, match=message) as exc:
        load_claims(path)
    assert "claim 1" in str(exc.value) and "\n" not in str(exc.value)


def test_claims_load_beside_rows(tmp_path):
    path = tmp_path / "expected.toml"
    path.write_text('[[row]]\nreproduction = "x"\nmetric = "acc@1"\nvalue = 1.0\n'
                    'direction = "higher"\nkind = "smoke"\nsource = "s"\n\n[[claim]]\n'
                    'a = "x"\nb = "y"\nmetric = "mse"\nkind = "paper"\nsource = "T1"\n'
                    'margin = 0.5\n')
    from reproducers.harness.expected import load_expected

    assert len(load_expected(path)) == 1
    (claim,) = load_claims(path)
    assert (claim.a, claim.b, claim.margin, claim.alpha, claim.resamples) == ("x", "y", 0.5,
                                                                              0.05, 10_000)
