"""MOTChallenge evaluation with TrackEval: HOTA, CLEAR (MOTA, MOTP, ...) and Identity (IDF1).

One evaluator for all three metric families (DESIGN.md: "TrackEval for MOTA, HOTA and IDF1
alike"). The configuration reproduces the official SVM evaluation
(``MOTChallengeDatasetVideo.get_dataset_cfg_for_hota`` and ``evaluate`` in
``mmtrack/datasets/streaming_dataset/mot_challenge_dataset_video.py``): TrackEval
``MotChallenge2DBox`` with ``SKIP_SPLIT_FOL=True``, ``TRACKER_SUB_FOLDER=''``, a seqmap file
listing the sequences, tracker name ``track``, ``CLASSES_TO_EVAL=['pedestrian']``,
``DO_PREPROC=True`` (False for MOT15), and ``GT_LOC_FORMAT='{gt_folder}/{seq}/<gt_file>'``
(``gt/gt_half-val.txt`` for MOT17 half-val). The official code takes MOTA/IDF1 from
py-motmetrics and only HOTA from TrackEval; both implement the MOTChallenge protocol:

1. each frame, predictions are Hungarian-matched (IoU >= 0.5) to all ground-truth boxes and
   those matched to a distractor class (2 person_on_vehicle, 7 static_person, 8 distractor,
   12 reflection; MOT20 also 6) are removed;
2. ground truth is kept where the conf flag is non-zero and class == 1 (pedestrian); no
   visibility filter. A prediction on a conf-0 pedestrian is *not* removed: it counts as FP;
3. CLEAR and Identity match at IoU 0.5; HOTA averages alpha = 0.05 ... 0.95 (19 values).

The number of frames comes from each sequence's ``seqinfo.ini``. Any folder layout works:
``gt_dir/<seq>/{seqinfo.ini, <gt_file>}`` and ``results_dir/<seq>.txt`` are validated with
``motchallenge.parse_mot_file`` (``file:line`` errors) and copied into TrackEval's layout in
a temporary folder. TrackEval's own printing goes to ``log`` (or nowhere).
"""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ...harness.errors import UserError
from ...harness.predictions import Kind, Predictions, register_kind
from .motchallenge import parse_mot_file, read_seqinfo

BENCHMARKS = ("MOT15", "MOT16", "MOT17", "MOT20")
MISSING = ("error", "empty")
TRACKER_NAME = "track"
PROTOCOL = ("MOTChallenge (TrackEval MotChallenge2DBox): distractor removal at IoU 0.5, GT "
            "kept where conf != 0 and class == pedestrian, no visibility filter; CLEAR and "
            "Identity at IoU 0.5; HOTA mean over alpha 0.05..0.95")

# result key -> (TrackEval metric, field, scale); scale 100 turns fractions into percent
# (MOTChallenge convention: MOTA 79.7, not 0.797); array fields (HOTA) are averaged over alpha.
FIELDS = {
    "HOTA": ("HOTA", "HOTA", 100), "DetA": ("HOTA", "DetA", 100),
    "AssA": ("HOTA", "AssA", 100), "LocA": ("HOTA", "LocA", 100),
    "DetRe": ("HOTA", "DetRe", 100), "DetPr": ("HOTA", "DetPr", 100),
    "MOTA": ("CLEAR", "MOTA", 100), "MOTP": ("CLEAR", "MOTP", 100),
    "Rcll": ("CLEAR", "CLR_Re", 100), "Prcn": ("CLEAR", "CLR_Pr", 100),
    "IDF1": ("Identity", "IDF1", 100), "IDP": ("Identity", "IDP", 100),
    "IDR": ("Identity", "IDR", 100),
    "TP": ("CLEAR", "CLR_TP", 1), "FP": ("CLEAR", "CLR_FP", 1), "FN": ("CLEAR", "CLR_FN", 1),
    "IDSW": ("CLEAR", "IDSW", 1), "Frag": ("CLEAR", "Frag", 1), "MT": ("CLEAR", "MT", 1),
    "PT": ("CLEAR", "PT", 1), "ML": ("CLEAR", "ML", 1),
    "Dets": ("Count", "Dets", 1), "IDs": ("Count", "IDs", 1),
    "GT_Dets": ("Count", "GT_Dets", 1), "GT_IDs": ("Count", "GT_IDs", 1),
}
COUNT_KEYS = tuple(k for k, (_m, _f, scale) in FIELDS.items() if scale == 1)


def trackeval_version() -> str:
    import trackeval

    return getattr(trackeval, "__version__", "unknown")


def discover_sequences(gt_dir: Path) -> list[str]:
    """Sub-folders of ``gt_dir`` that hold a ``seqinfo.ini``, sorted."""
    return sorted(p.name for p in Path(gt_dir).iterdir()
                  if p.is_dir() and (p / "seqinfo.ini").is_file())


def summarize(res: dict) -> dict:
    """One sequence's (or COMBINED_SEQ's) TrackEval result ``{metric: {field: value}}`` ->
    ``FIELDS`` (percent for fractions, ints for counts, HOTA/DetA/AssA/... mean over alpha)."""
    out = {}
    for key, (metric, field, scale) in FIELDS.items():
        value = res[metric][field]
        if scale == 1:
            out[key] = int(value)
        else:
            out[key] = float(np.mean(value)) * scale
    return out


def trackeval_configs(gt_folder: str, trackers_folder: str, seqmap_file: str, *,
                      gt_file: str, benchmark: str, output_folder: str | None = None):
    """(eval config, dataset config, metric configs) as the official SVM evaluation sets them,
    with all printing and file output turned off."""
    eval_config = {
        "USE_PARALLEL": False, "NUM_PARALLEL_CORES": 1, "BREAK_ON_ERROR": True,
        "RETURN_ON_ERROR": False, "LOG_ON_ERROR": None, "PRINT_RESULTS": False,
        "PRINT_ONLY_COMBINED": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
        "DISPLAY_LESS_PROGRESS": True, "OUTPUT_SUMMARY": False, "OUTPUT_EMPTY_CLASSES": True,
        "OUTPUT_DETAILED": False, "PLOT_CURVES": False,
    }
    dataset_config = {
        "GT_FOLDER": gt_folder, "TRACKERS_FOLDER": trackers_folder,
        "OUTPUT_FOLDER": output_folder, "TRACKERS_TO_EVAL": [TRACKER_NAME],
        "CLASSES_TO_EVAL": ["pedestrian"], "BENCHMARK": benchmark, "SPLIT_TO_EVAL": "train",
        "INPUT_AS_ZIP": False, "PRINT_CONFIG": False,
        "DO_PREPROC": benchmark != "MOT15", "TRACKER_SUB_FOLDER": "",
        "OUTPUT_SUB_FOLDER": "", "TRACKER_DISPLAY_NAMES": None, "SEQMAP_FOLDER": None,
        "SEQMAP_FILE": seqmap_file, "SEQ_INFO": None,
        "GT_LOC_FORMAT": "{gt_folder}/{seq}/" + gt_file, "SKIP_SPLIT_FOL": True,
    }
    metric_configs = {
        "HOTA": {},  # trackeval 1.3's HOTA takes no options (alphas 0.05..0.95 fixed)
        "CLEAR": {"THRESHOLD": 0.5, "PRINT_CONFIG": False},
        "Identity": {"THRESHOLD": 0.5, "PRINT_CONFIG": False},
    }
    return eval_config, dataset_config, metric_configs


def _load_inputs(gt_dir: Path, results_dir: Path, seqs: Sequence[str], gt_file: str,
                 benchmark: str, missing: str, log):
    """Validate every input file; return ``{seq: (seqinfo text, gt text, results text)}``."""
    out = {}
    for seq in seqs:
        seq_dir = gt_dir / seq
        if not seq_dir.is_dir():
            raise UserError(f"{seq_dir}: no such sequence folder in --gt {gt_dir}")
        ini = seq_dir / "seqinfo.ini"
        info = read_seqinfo(ini)
        gt_path = seq_dir / gt_file
        if not gt_path.is_file():
            raise UserError(f"{gt_path}: no ground-truth file; pass --gt-file (e.g. "
                            "gt/gt_half-val.txt) or create it")
        gt = parse_mot_file(gt_path, "gt", seq_length=info.seq_length,
                            check_classes=benchmark != "MOT15")
        res_path = results_dir / f"{seq}.txt"
        if res_path.is_file():
            res_text = parse_mot_file(res_path, "results",
                                      seq_length=info.seq_length).normalized_text(7)
        elif missing == "empty":
            log(f"{res_path}: missing, counted as an empty result (no predictions)")
            res_text = ""
        else:
            raise UserError(f"{res_path}: no result file for sequence {seq}; TrackEval needs "
                            "one per sequence (write an empty file, or count missing files as "
                            "empty with missing='empty' / --missing empty)")
        out[seq] = (ini.read_text(encoding="utf-8-sig"), gt.normalized_text(), res_text)
    return out


def evaluate_mot(gt_dir: Path, results_dir: Path, *, gt_file: str = "gt/gt.txt",
                 seqs: Sequence[str] | None = None, benchmark: str = "MOT17",
                 missing: str = "error", log: Callable[[str], None] | None = None,
                 predictions: bool = False) -> dict:
    """Evaluate MOTChallenge tracker results against ground truth with TrackEval.

    gt_dir: folder of sequences ``<seq>/{seqinfo.ini, <gt_file>}``; results_dir: one
    ``<seq>.txt`` per sequence. ``seqs``: sequence names (default: every sub-folder of
    ``gt_dir`` with a seqinfo.ini). ``benchmark``: MOT15 disables preprocessing and class
    checks (as TrackEval and the official code do for MOT15); MOT20 adds non_mot_vehicle to
    the distractors. ``missing``: ``"error"`` (TrackEval requires every result file) or
    ``"empty"`` (a missing file counts as no predictions). ``log`` receives TrackEval's output.

    Returns ``{"sequences": {seq: metrics}, "combined": metrics, "settings": {...}}`` where
    metrics has ``FIELDS`` keys: HOTA, DetA, AssA, LocA, DetRe, DetPr, MOTA, MOTP, Rcll, Prcn,
    IDF1, IDP, IDR in percent, and the counts TP, FP, FN, IDSW, Frag, MT, PT, ML, Dets, IDs,
    GT_Dets, GT_IDs. ``combined`` is TrackEval's COMBINED_SEQ (counts summed over sequences,
    ratios recomputed from the sums; HOTA from summed TP/FN/FP and AssA per alpha).
    ``predictions``: also return ``"predictions"``, the per-sequence TrackEval fields as a
    ``harness.predictions.Predictions`` of kind ``"trackeval"`` (see ``sequence_predictions``).
    """
    import trackeval

    log = log or (lambda _msg: None)
    gt_dir, results_dir = Path(gt_dir), Path(results_dir)
    if benchmark not in BENCHMARKS:
        raise UserError(f"benchmark {benchmark!r}: choose one of {', '.join(BENCHMARKS)}")
    if missing not in MISSING:
        raise UserError(f"missing={missing!r}: choose 'error' or 'empty'")
    if not gt_dir.is_dir():
        raise UserError(f"--gt {gt_dir}: not a directory of sequence folders")
    if not results_dir.is_dir():
        raise UserError(f"--results {results_dir}: not a directory of <sequence>.txt files")
    gt_file = str(gt_file).strip("/")
    if not gt_file or ".." in Path(gt_file).parts or "{" in gt_file or "}" in gt_file:
        raise UserError(f"--gt-file {gt_file!r}: give a relative path inside each sequence "
                        "folder, e.g. gt/gt.txt")
    if seqs is None:
        seqs = discover_sequences(gt_dir)
        if not seqs:
            raise UserError(f"--gt {gt_dir}: no sequence folders with a seqinfo.ini")
    seqs = list(dict.fromkeys(seqs))
    bad = [s for s in seqs if not s or "/" in s or s != s.strip() or s.startswith(".")]
    if bad:
        raise UserError(f"--seqs: invalid sequence name(s) {bad}")
    inputs = _load_inputs(gt_dir, results_dir, seqs, gt_file, benchmark, missing, log)

    with tempfile.TemporaryDirectory(prefix="evaluate_mot_") as tmp:
        root = Path(tmp)
        gt_root, trackers_root = root / "gt", root / "trackers"
        (trackers_root / TRACKER_NAME).mkdir(parents=True)
        for seq, (ini_text, gt_text, res_text) in inputs.items():
            (gt_root / seq / gt_file).parent.mkdir(parents=True, exist_ok=True)
            (gt_root / seq / "seqinfo.ini").write_text(ini_text)
            (gt_root / seq / gt_file).write_text(gt_text)
            (trackers_root / TRACKER_NAME / f"{seq}.txt").write_text(res_text)
        seqmap = root / "seqmap.txt"
        seqmap.write_text("name\n" + "".join(f"{s}\n" for s in seqs))
        eval_cfg, data_cfg, metric_cfgs = trackeval_configs(
            str(gt_root), str(trackers_root), str(seqmap), gt_file=gt_file,
            benchmark=benchmark, output_folder=str(root / "out"))
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                evaluator = trackeval.Evaluator(eval_cfg)
                dataset = trackeval.datasets.MotChallenge2DBox(data_cfg)
                metrics = [trackeval.metrics.HOTA(metric_cfgs["HOTA"]),
                           trackeval.metrics.CLEAR(metric_cfgs["CLEAR"]),
                           trackeval.metrics.Identity(metric_cfgs["Identity"])]
                output, messages = evaluator.evaluate([dataset], metrics)
        except trackeval.utils.TrackEvalException as exc:
            raise UserError(f"TrackEval rejected the input: {exc}") from None
        finally:
            for line in buf.getvalue().splitlines():
                if line.strip():
                    log(line)
        res = output["MotChallenge2DBox"][TRACKER_NAME]
        if res is None:  # pragma: no cover - BREAK_ON_ERROR raises instead
            raise UserError(f"TrackEval failed: {messages['MotChallenge2DBox'][TRACKER_NAME]}")

    per_seq = {seq: summarize(res[seq]["pedestrian"]) for seq in seqs}
    combined = summarize(res["COMBINED_SEQ"]["pedestrian"])
    shown_data_cfg = dict(data_cfg, GT_FOLDER="<tmp>/gt", TRACKERS_FOLDER="<tmp>/trackers",
                          OUTPUT_FOLDER="<tmp>/out", SEQMAP_FILE="<tmp>/seqmap.txt")
    settings = {
        "evaluator": "TrackEval",
        "trackeval_version": trackeval_version(),
        "dataset_class": "MotChallenge2DBox",
        "metrics": ["HOTA", "CLEAR", "Identity", "Count"],
        "protocol": PROTOCOL,
        "benchmark": benchmark,
        "gt_dir": str(gt_dir),
        "results_dir": str(results_dir),
        "gt_file": gt_file,
        "seqs": seqs,
        "missing_results": missing,
        "dataset_config": shown_data_cfg,
        "eval_config": eval_cfg,
        "metric_configs": metric_cfgs,
        "percent_keys": [k for k, (_m, _f, s) in FIELDS.items() if s == 100],
        "layout": "copied to <tmp>/gt/<seq>/{seqinfo.ini,<gt_file>} and "
                  "<tmp>/trackers/track/<seq>.txt; seqmap lists seqs",
    }
    out = {"sequences": per_seq, "combined": combined, "settings": settings}
    if predictions:
        out["predictions"] = sequence_predictions({seq: res[seq]["pedestrian"] for seq in seqs})
    return out


# ---------------------------------------------------------------- per-sequence predictions

COMBINED_METRICS = ("HOTA", "CLEAR", "Identity", "Count")


def sequence_predictions(per_seq: dict) -> Predictions:
    """``{seq: TrackEval result {metric: {field: value}}}`` -> Predictions of kind
    ``"trackeval"``: one array per ``"<metric>.<field>"``, one row per sequence (HOTA's
    per-alpha fields are (S, 19)), enough to combine any subset of sequences exactly as
    TrackEval's COMBINED_SEQ does (``combine``)."""
    seqs = list(per_seq)
    arrays = {}
    for metric in COMBINED_METRICS:
        for fld in per_seq[seqs[0]][metric]:
            arrays[f"{metric}.{fld}"] = np.stack([np.asarray(per_seq[s][metric][fld],
                                                             dtype=np.float64) for s in seqs])
    return Predictions("trackeval", seqs, arrays)


def combine(arrays, rows, metrics: Sequence[str] = COMBINED_METRICS) -> dict:
    """TrackEval's ``combine_sequences`` over the sequences ``rows`` (repeats allowed: each
    repeat counts as one more sequence), summarised like ``summarize`` (``FIELDS``)."""
    res = {}
    for metric in metrics:
        fields = {k.split(".", 1)[1]: v for k, v in arrays.items()
                  if k.startswith(metric + ".")}
        per = {str(j): {f: (v[r] if v.ndim > 1 else v[r].item()) for f, v in fields.items()}
               for j, r in enumerate(rows)}
        res[metric] = _metric_object(metric).combine_sequences(per)
    return {key: (int(res[m][f]) if scale == 1 else float(np.mean(res[m][f])) * scale)
            for key, (m, f, scale) in FIELDS.items() if m in res}


@functools.cache
def _metric_object(metric: str):
    import trackeval

    configs = trackeval_configs("", "", "", gt_file="gt/gt.txt", benchmark="MOT17")[2]
    with contextlib.redirect_stdout(io.StringIO()):
        if metric == "Count":
            return trackeval.metrics.Count()
        return getattr(trackeval.metrics, metric)(configs[metric])


def _trackeval_metric(arrays, rows, name: str) -> float:
    key = name.upper()
    if key not in FIELDS:
        raise UserError(f"TrackEval predictions have no metric {name!r} ({', '.join(FIELDS)})")
    metric = FIELDS[key][0]
    return float(combine(arrays, rows, (metric,))[key])


register_kind("trackeval", Kind(metric=_trackeval_metric))


def format_table(result: dict) -> str:
    """Per-sequence rows and a COMBINED row, MOTChallenge style."""
    cols = [("MOTA", "{:.1f}"), ("IDF1", "{:.1f}"), ("HOTA", "{:.1f}"), ("DetA", "{:.1f}"),
            ("AssA", "{:.1f}"), ("MOTP", "{:.1f}"), ("FP", "{:d}"), ("FN", "{:d}"),
            ("IDSW", "{:d}"), ("Frag", "{:d}"), ("MT", "{:d}"), ("ML", "{:d}"),
            ("GT_Dets", "{:d}"), ("GT_IDs", "{:d}")]
    rows = list(result["sequences"].items()) + [("COMBINED", result["combined"])]
    width = max(len("sequence"), *(len(name) for name, _ in rows))
    head = f"{'sequence':<{width}} " + " ".join(f"{c:>8}" for c, _ in cols)
    lines = [head]
    for name, m in rows:
        lines.append(f"{name:<{width}} " + " ".join(f"{fmt.format(m[c]):>8}" for c, fmt in cols))
    s = result["settings"]
    lines.append(f"TrackEval {s['trackeval_version']} MotChallenge2DBox, benchmark "
                 f"{s['benchmark']}, gt file {s['gt_file']}; percentages for MOTA/IDF1/HOTA/"
                 "DetA/AssA/MOTP")
    return "\n".join(lines)
