"""Per-sample predictions of an evaluation, stored beside its record.

Contract: a paper's ``Task.evaluate`` may return ``"predictions": Predictions(...)`` in its
result; the evaluate stage writes it to ``<records>/<reproduction>/evaluate[.smoke].
predictions.npz`` (compressed, atomic, ``allow_pickle=False``) and replaces it in the record
by ``{"file", "sha256", "kind", "samples"}``. Metrics can then be recomputed offline
(``metric``) and two runs compared sample by sample (``harness/claims.py``).

A ``Predictions`` is sample ids (video ids, sequence names) plus arrays with one row per id,
of a *kind* that knows how to score them:

- ``"classification"``: ``scores`` (N, C) (any monotone scores: summed softmax, logits) and
  ``targets`` (N,) int; metrics acc@k (and mAP when ``targets`` is (N, C) multi-hot);
- ``"regression"``: ``preds`` (N,) and ``targets`` (N,); metric mse;
- other kinds are registered by the code that produces them (``register_kind``; e.g.
  ``common.mot.evaluate`` registers ``"trackeval"``: per-sequence TrackEval fields, combined
  exactly as TrackEval combines sequences).

``subsets`` names subsets of the ids (e.g. SViT's box-filtered val videos); ``subset`` is
the one the record's metrics refer to (None: all ids).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .errors import UserError
from .records import record_path

FORMAT = 1
RECORD_SUBSET = "<the subset the record's metrics refer to>"  # default of rows/metric


@dataclass(frozen=True)
class Kind:
    """How to score rows of a kind. ``metric(arrays, rows, name)``: the metric on the rows
    ``rows`` (indices, repeats allowed: a bootstrap resample). ``per_sample(arrays, name)``:
    the per-sample values whose mean is the metric (None when the metric is not such a mean,
    e.g. mAP or MOTA); ``correct(arrays, name)``: per-sample 0/1 correctness for accuracy
    metrics (None otherwise), used by the exact McNemar test."""

    metric: Callable[[Mapping[str, np.ndarray], np.ndarray, str], float]
    per_sample: Callable[[Mapping[str, np.ndarray], str], np.ndarray | None] = lambda a, n: None
    correct: Callable[[Mapping[str, np.ndarray], str], np.ndarray | None] = lambda a, n: None


KINDS: dict[str, Kind] = {}


def register_kind(name: str, kind: Kind) -> None:
    KINDS[name] = kind


@dataclass
class Predictions:
    kind: str
    ids: Sequence[str]
    arrays: dict[str, np.ndarray]
    subsets: dict[str, Sequence[str]] = field(default_factory=dict)
    subset: str | None = None

    def __post_init__(self):
        self.ids = [str(i) for i in self.ids]
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("Predictions: sample ids repeat")
        self.arrays = {k: np.asarray(v) for k, v in self.arrays.items()}
        for k, v in self.arrays.items():
            if v.shape[:1] != (len(self.ids),):
                raise ValueError(f"Predictions: {k} has {v.shape[:1]} rows for {len(self.ids)} ids")
        unknown = {i for ids in self.subsets.values() for i in ids} - set(self.ids)
        if unknown:
            raise ValueError(f"Predictions: subset ids not scored: {sorted(unknown)[:5]}")
        if self.subset is not None and self.subset not in self.subsets:
            raise ValueError(f"Predictions: subset {self.subset!r} is not in subsets")

    def rows(self, subset=RECORD_SUBSET) -> np.ndarray:
        """Row indices of ``subset`` (default: the record's subset; None: all rows)."""
        name = self.subset if subset is RECORD_SUBSET else subset
        if name is None:
            return np.arange(len(self.ids))
        members = set(self.subsets[name])
        return np.array([i for i, s in enumerate(self.ids) if s in members], dtype=np.int64)

    def metric(self, name: str, subset=RECORD_SUBSET) -> float:
        return kind_of(self.kind).metric(self.arrays, self.rows(subset), name)


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise UserError(f"predictions of kind {name!r}: no scorer registered (known: "
                        f"{', '.join(sorted(KINDS))}); import the module that produces them")
    return KINDS[name]


def classification(ids, scores, targets, subsets=None, subset=None) -> Predictions:
    return Predictions("classification", ids, {"scores": _np(scores), "targets": _np(targets)},
                       dict(subsets or {}), subset)


def regression(ids, preds, targets) -> Predictions:
    return Predictions("regression", ids, {"preds": _np(preds).reshape(-1),
                                           "targets": _np(targets).reshape(-1)})


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


# ---------------------------------------------------------------- storage


def predictions_path(records_dir: Path, reproduction: str, smoke: bool) -> Path:
    rec = record_path(records_dir, reproduction, "evaluate", smoke)
    return rec.with_name(rec.name.removesuffix(".json") + ".predictions.npz")


def save(path: Path, pred: Predictions) -> dict:
    """Write ``pred`` atomically; returns the record's reference to it."""
    meta = {"format": FORMAT, "kind": pred.kind, "subset": pred.subset,
            "arrays": sorted(pred.arrays)}
    payload = {"meta": np.array(json.dumps(meta, sort_keys=True)),
               "ids": np.array(pred.ids, dtype=str)}
    for k, v in pred.arrays.items():
        payload[f"array.{k}"] = v
    for k, ids in pred.subsets.items():
        payload[f"subset.{k}"] = np.array(list(ids), dtype=str)
    buf = io.BytesIO()
    np.savez_compressed(buf, **payload)
    data = buf.getvalue()
    write_atomic(path, lambda p: p.write_bytes(data))
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "kind": pred.kind,
            "samples": len(pred.ids), "subset": pred.subset}


def load(path: Path) -> Predictions:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k.removeprefix("array."): z[k] for k in z.files if k.startswith("array.")}
            subsets = {k.removeprefix("subset."): z[k].tolist() for k in z.files
                       if k.startswith("subset.")}
            ids = z["ids"].tolist()
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{path}: unreadable predictions file ({exc}); re-run the evaluate "
                        f"stage with --force") from None
    return Predictions(meta["kind"], ids, arrays, subsets, meta.get("subset"))


def store_in_result(result: dict, path: Path, write: bool) -> dict:
    """The evaluate stage's hook: take ``result["predictions"]`` out, write it to ``path``
    (when ``write``: rank 0), and put its reference in the result instead."""
    pred = result.pop("predictions", None)
    if pred is None:
        return result
    if not isinstance(pred, Predictions):
        raise TypeError("Task.evaluate: result['predictions'] must be a harness.predictions."
                        "Predictions")
    if write:
        result["predictions"] = save(path, pred)
    return result


def load_for(records_dir: Path, record: dict) -> Predictions | None:
    """The predictions an evaluate record refers to; None when it has none or the file is
    gone. A file whose hash differs from the record's is an error (a later, other run)."""
    ref = (record.get("result") or {}).get("predictions")
    if not ref:
        return None
    path = predictions_path(records_dir, record["reproduction"], record["smoke"])
    if not path.is_file():
        return None
    if hashlib.sha256(path.read_bytes()).hexdigest() != ref["sha256"]:
        raise UserError(f"{path}: does not match its evaluate record (sha256 differs); re-run "
                        f"the evaluate stage with --force")
    return load(path)


# ---------------------------------------------------------------- built-in kinds


def _topk_hits(arrays, k: int) -> np.ndarray:
    scores = arrays["scores"].astype(np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")  # ties: lower class first, as argmax
    k = min(k, scores.shape[1])
    return (order[:, :k] == arrays["targets"].astype(np.int64)[:, None]).any(axis=1)


def _k(name: str) -> int | None:
    return int(name.split("@", 1)[1]) if name.startswith("acc@") else None


def _classification_correct(arrays, name):
    k = _k(name)
    return None if k is None else _topk_hits(arrays, k).astype(np.float64)


def average_precision(scores, targets) -> np.ndarray:
    """Per-class AP of (N, C) scores against 0/1 targets (sklearn's definition: sum over
    ranks of precision x recall increment; ties in score keep the given order); NaN where a
    class has no positive. The one mAP of the project: papers score their records with it,
    so offline recomputation from the predictions gives the recorded figure."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, axis=0, kind="stable")
    hits = np.take_along_axis(np.asarray(targets) > 0, order, 0).astype(np.float64)
    precision = np.cumsum(hits, 0) / np.arange(1, len(hits) + 1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0: no positive -> NaN
        return (precision * hits).sum(0) / hits.sum(0)


def mean_average_precision(scores, targets) -> float:
    """Mean over the classes with a positive of ``average_precision``, in percent."""
    ap = average_precision(scores, targets)
    ap = ap[~np.isnan(ap)]
    return 100.0 * float(ap.mean()) if len(ap) else float("nan")


def _classification_metric(arrays, rows, name):
    if name in ("map", "mAP"):  # the schema's metric is "map" (metric_schema.py)
        return mean_average_precision(arrays["scores"][rows], arrays["targets"][rows])
    hits = _classification_correct(arrays, name)
    if hits is None:
        raise UserError(f"classification predictions have no metric {name!r} (acc@k, map)")
    return 100.0 * float(hits[rows].mean())


def _regression_per_sample(arrays, name):
    if name != "mse":
        raise UserError(f"regression predictions have no metric {name!r} (mse)")
    return (arrays["preds"].astype(np.float64) - arrays["targets"].astype(np.float64)) ** 2


register_kind("classification", Kind(
    metric=_classification_metric,
    per_sample=lambda a, n: _classification_correct(a, n) * 100.0 if _k(n) else None,
    correct=_classification_correct))
register_kind("regression", Kind(
    metric=lambda a, rows, n: float(_regression_per_sample(a, n)[rows].mean()),
    per_sample=_regression_per_sample))
