"""``run --seeds N``: repeat a reproduction over N seeds and record every seed's result and
their mean ± std; the reproduction's evaluate record then holds the mean, so expected rows
are checked against it, and the report shows the spread.

Seeds are ``s0 .. s0+N-1`` (``s0``: ``--seed``, else the recipe's). Each seed trains and
evaluates in its own folders (``<output>/seeds/seed-<s>``, records under
``<records>/<reproduction>/seeds/seed-<s>/``, reused when their inputs are unchanged). A
reproduction whose evaluation itself is random (``Task.random_evaluation``) trains once and
repeats only the evaluation, with the seed. std is the sample standard deviation (ddof 1).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from . import predictions, stages
from .atomic import write_atomic
from .errors import UserError
from .portable import Roots
from .provenance import config_hash, provenance
from .records import record_path, write_record


def seed_list(rep, opts, n: int) -> list[int]:
    if n < 1:
        raise UserError(f"--seeds {n}: give a number of seeds >= 1")
    recipe = rep.smoke_recipe if opts.smoke else rep.recipe
    first = recipe.seed if opts.seed is None else opts.seed
    return [first + i for i in range(n)]


def seed_records_dir(opts, rep, seed: int) -> Path:
    return Path(opts.records_dir) / rep.name / "seeds" / f"seed-{seed}"


def _seed_opts(rep, opts, seed: int, checkpoint=None):
    return dataclasses.replace(
        opts, seed=seed, records_dir=seed_records_dir(opts, rep, seed),
        output_dir=Path(opts.output_dir) / "seeds" / f"seed-{seed}",
        extras={**opts.extras, "roots": (opts.output_dir, opts.records_dir)},  # portable.py
        checkpoint=checkpoint if checkpoint is not None else opts.checkpoint)


def run_seeds(rep, opts, n: int, train: bool) -> dict:
    """Train (when ``train``) and evaluate each seed; write and return the aggregate
    evaluate record (metrics = mean over seeds)."""
    seeds = seed_list(rep, opts, n)
    per_seed, checkpoint, start = [], None, time.time()
    if opts.smoke and opts.data_root is None:
        # the synthetic data depends on the smoke recipe's seed only: written once, here, and
        # read by every seed (not rewritten into each seed's folder)
        opts = dataclasses.replace(opts, data_root=stages.resolve_data_root(rep, opts))
    if rep.task.random_evaluation and train:
        opts.log(f"[{rep.name}] evaluation is random: one training, {n} evaluation seeds")
        checkpoint = Roots.of(opts).resolve(stages.train(rep, opts)["result"]["checkpoint"])
    for seed in seeds:
        sopts = _seed_opts(rep, opts, seed, checkpoint)
        opts.log(f"[{rep.name}] seed {seed} ({len(per_seed) + 1}/{n})")
        if train and not rep.task.random_evaluation:
            stages.train(rep, sopts)
        per_seed.append((seed, sopts, stages.evaluate(rep, sopts)))
    return _aggregate(rep, opts, per_seed, train and not rep.task.random_evaluation, start)


def _aggregate(rep, opts, per_seed, trained_per_seed: bool, start: float) -> dict:
    results = [(seed, rec["result"]) for seed, _, rec in per_seed]
    names = [m for m in results[0][1]["metrics"] if all(m in r["metrics"] for _, r in results)]
    values = {m: np.array([float(r["metrics"][m]) for _, r in results]) for m in names}
    mean = {m: float(v.mean()) for m, v in values.items()}
    std = {m: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for m, v in values.items()}
    first_seed, first_opts, first_rec = per_seed[0]
    result = {
        "metrics": mean,
        "metrics_std": std,
        "eval_size": first_rec["result"].get("eval_size"),
        "seeds": [{"seed": seed, "metrics": r["metrics"],
                   "record": Roots.of(opts).portable(record_path(  # "$RECORDS_DIR/..."
                       sopts.records_dir, rep.name, "evaluate", opts.smoke))}
                  for (seed, sopts, _), (_, r) in zip(per_seed, results, strict=True)],
        "repeated": "training and evaluation" if trained_per_seed else "evaluation",
        "spread": "mean ± sample std (ddof 1) over seeds",
    }
    src = predictions.predictions_path(first_opts.records_dir, rep.name, opts.smoke)
    if src.is_file() and first_rec["result"].get("predictions"):  # claims compare seed s0
        dst = predictions.predictions_path(opts.records_dir, rep.name, opts.smoke)
        if opts.is_main:
            write_atomic(dst, lambda p: shutil.copyfile(src, p))
        result["predictions"] = {**first_rec["result"]["predictions"], "seed": first_seed}
    config = {"seeds": [s for s, _, _ in per_seed],
              "seed_records": [rec["inputs_hash"] for _, _, rec in per_seed]}
    record = {
        "reproduction": rep.name, "paper": rep.paper.key, "stage": "evaluate",
        "smoke": opts.smoke, "inputs_hash": config_hash(config), "config": config,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "provenance": provenance(opts.device, config["seeds"], config,
                                 first_rec.get("provenance", {}).get("dataset_fingerprint")),
        "world_size": first_rec.get("world_size", 1), "status": "ok", "result": result,
        "wall_time_s": round(time.time() - start, 3),  # all seeds (stages reused: less)
    }
    if opts.is_main:
        write_record(opts.records_dir, record)
        opts.log(f"[{rep.name}] {len(per_seed)} seeds: " + ", ".join(
            f"{m} {mean[m]:.4g} ± {std[m]:.3g}" for m in names))
    return record
