"""Per-sample predictions: the file round-trips, metrics recompute from it exactly, and the
evaluate stage's hook writes it beside the record."""

from __future__ import annotations

import numpy as np
import pytest

from reproducers.common.metrics import mse, topk_accuracy
from reproducers.harness import predictions as P
from reproducers.harness.errors import UserError


def _classes(n=50, c=7, seed=0):
    rng = np.random.default_rng(seed)
    return [f"v{i:03d}" for i in range(n)], rng.normal(size=(n, c)), rng.integers(0, c, n)


def test_classification_round_trip_and_metrics(tmp_path):
    ids, scores, targets = _classes()
    half = ids[::2]
    pred = P.classification(ids, scores, targets, {"half": half}, "half")
    ref = P.save(tmp_path / "p.npz", pred)
    assert ref["samples"] == 50 and ref["kind"] == "classification" and len(ref["sha256"]) == 64
    back = P.load(tmp_path / "p.npz")
    assert back.ids == ids and back.subset == "half" and back.subsets == {"half": half}
    assert np.array_equal(back.arrays["scores"], scores)
    for k in (1, 5):
        assert back.metric(f"acc@{k}", subset=None) == topk_accuracy(scores, targets, (k,))[0]
    assert back.metric("acc@1") == topk_accuracy(scores[::2], targets[::2], (1,))[0]
    with pytest.raises(UserError, match="no metric 'mse'"):
        back.metric("mse")


def test_regression_metric_and_per_sample():
    pred = P.regression(["a", "b", "c"], [1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    assert pred.metric("mse") == pytest.approx(mse([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]))
    per = P.kind_of("regression").per_sample(pred.arrays, "mse")
    assert per.tolist() == [0.25, 0.0, 1.0]


def test_mean_ap_matches_hand_value():
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.3, 0.6], [0.1, 0.2]])
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    # class 0: ranks 1 (hit), 2, 3 (hit) -> AP (1 + 2/3) / 2; class 1: ranks 1 (hit), 2 (hit)
    pred = P.Predictions("classification", list("abcd"), {"scores": scores, "targets": targets})
    assert pred.metric("mAP") == pytest.approx(100 * ((1 + 2 / 3) / 2 + 1.0) / 2)
    assert pred.metric("map") == pred.metric("mAP")  # the schema's name (claims use it)


def test_bad_predictions_are_rejected():
    with pytest.raises(ValueError, match="repeat"):
        P.regression(["a", "a"], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="rows"):
        P.regression(["a", "b"], [1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="not scored"):
        P.classification(["a"], [[1.0]], [0], {"s": ["zz"]})


def test_store_in_result_writes_beside_the_record(tmp_path):
    ids, scores, targets = _classes()
    path = P.predictions_path(tmp_path, "rep", smoke=True)
    assert path == tmp_path / "rep" / "evaluate.smoke.predictions.npz"
    out = P.store_in_result({"metrics": {}, "predictions": P.classification(ids, scores, targets)},
                            path, write=True)
    assert out["predictions"]["file"] == path.name and path.is_file()
    record = {"reproduction": "rep", "smoke": True, "result": out}
    assert P.load_for(tmp_path, record).ids == ids
    assert P.load_for(tmp_path, {**record, "smoke": False}) is None  # no such file
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(UserError, match="sha256 differs"):
        P.load_for(tmp_path, record)
    # a rank other than 0 writes nothing and keeps no array in its result
    other = P.store_in_result({"predictions": P.regression(["a"], [1], [1])}, tmp_path / "x.npz",
                              write=False)
    assert other == {} and not (tmp_path / "x.npz").exists()


def test_unreadable_file_is_a_user_error(tmp_path):
    (tmp_path / "p.npz").write_text("not a zip")
    with pytest.raises(UserError, match="unreadable predictions"):
        P.load(tmp_path / "p.npz")
