"""The stages of a reproduction: profile, train, evaluate (check and report live in their
own modules). Each stage writes one atomic run record and is skipped when a successful
record with the same inputs hash exists (``force`` re-runs it).

A record is current only if it says what would run now: its inputs hash covers the full
effective config (every ``--set``), the data fingerprint, the code, the seed and device and,
for ``--resume PATH``, the content hash of the checkpoint it started from; a train record
also stores the content hashes of the files it points at (``checkpoint_sha``,
``last_checkpoint_sha``) and is stale once a later (killed, failed, changed) run rewrote
them. ``--resume auto`` resumes only a ``checkpoint_last.pt`` written with this run's hash
(``run_hash`` in its setup); another one is reported in one line and training starts fresh.
A stage that fails or is interrupted writes ``<stage>[.smoke].failed.json`` beside the last
good record (records.write_record). Paths in records (and so in the inputs hash) are stored
relative to the run's roots, ``$DATA_ROOT/...``, ``$OUTPUT_DIR/...`` (harness/portable.py),
so moved records, outputs and data (another clone, another --data-root) stay current. A train stage that made no optimizer step is a failure:
its weights would be an older run's. The run folder is locked for one process
(runlock.py).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import predictions
from .atomic import file_in_the_way
from .chain import resolve as resolve_init
from .declarations import Reproduction, RunContext
from .errors import UserError
from .overrides import apply as apply_overrides
from .overrides import apply_protocol
from .portable import PORTABLE_SCHEMA, Roots
from .provenance import REPO_ROOT, code_hash, config_hash, file_hash, provenance
from .records import (
    DEFAULT_RECORDS_DIR,
    check_records_dir,
    read_record,
    record_path,
    write_record,
)
from .runlock import lock_run_dir
from .weights import load_for_evaluation

RUN_STAGES = ("profile", "train", "evaluate", "check", "report")


@dataclass
class RunOptions:
    smoke: bool = False
    data_root: Path | None = None
    checkpoint: Path | None = None
    stages: tuple[str, ...] = RUN_STAGES
    device: str = "cpu"
    output_dir: Path = REPO_ROOT / "runs"
    records_dir: Path = DEFAULT_RECORDS_DIR
    force: bool = False
    seed: int | None = None
    progress: bool = True
    log: object = print
    profile_iters: int | None = None
    overrides: dict = field(default_factory=dict)  # --set KEY=VALUE (see overrides.py)
    resume: str | None = None  # "auto" or a checkpoint path (trainer's exact resume)
    dist: object = None  # common.distributed.DistEnv under torchrun / SLURM, else None
    extras: dict = field(default_factory=dict)
    init_file: Path | None = None  # --init FILE: initial weights instead of the declared init
    with_deps: bool = False  # --with-deps: run the reproductions this one starts from first

    @property
    def is_main(self) -> bool:
        return self.dist is None or self.dist.is_main


def paper_of(rep: Reproduction) -> str:
    return rep.paper.key


def configs(rep: Reproduction, opts: RunOptions):
    """(recipe, model config, data config) of this run, with --set overrides applied (the
    ``protocol.*`` ones are checked too: see ``protocol_of``)."""
    recipe = rep.smoke_recipe if opts.smoke else rep.recipe
    model = dict(rep.model.smoke if opts.smoke else rep.model.full)
    data = dict(rep.smoke_data if opts.smoke else rep.data_config)
    recipe, model, data = apply_overrides(recipe, model, data, opts.overrides,
                                          rep.dataset.config_defaults)
    if rep.dataset.for_recipe is not None:
        data = rep.dataset.for_recipe(data, recipe.options)
    protocol_of(rep, opts)
    return recipe, model, data


def protocol_of(rep: Reproduction, opts: RunOptions):
    """The run's evaluation protocol: the (smoke) protocol with ``--set protocol.*`` applied.
    Evaluation reads its views from it and the profile stage multiplies FLOPs by them."""
    return apply_protocol(rep.protocol_for(opts.smoke), opts.overrides)


def run_dir(rep: Reproduction, opts: RunOptions) -> Path:
    out = Path(opts.output_dir)
    if file_in_the_way(out) is not None:
        raise UserError(f"--output-dir {out}: {file_in_the_way(out)} is a file, not a folder; "
                        f"give the folder for checkpoints, logs and synthetic data (default "
                        f"runs/)")
    return out / (f"{rep.name}-smoke" if opts.smoke else rep.name)


def locked_run_dir(rep: Reproduction, opts: RunOptions) -> Path:
    """The run folder, locked for this process (rank 0 of a distributed run)."""
    path = run_dir(rep, opts)
    return lock_run_dir(path) if opts.is_main else path


def resolve_data_root(rep: Reproduction, opts: RunOptions) -> Path:
    """The data root of this run.

    Smoke runs without --data-root write synthetic data (for the run's data config and seed)
    under the run folder, rewritten when that config changes; with --data-root they read it
    as given (e.g. a small real subset in the official format)."""
    if opts.smoke and opts.data_root is None:
        if not opts.is_main:  # rank 0 writes the synthetic data (see cli.cmd_run)
            return run_dir(rep, opts) / "data"
        _, _, data_cfg = configs(rep, opts)
        seed = rep.smoke_recipe.seed
        root = locked_run_dir(rep, opts) / "data"
        marker, want = root / ".synthetic-complete", config_hash({"data": data_cfg, "seed": seed})
        if not marker.exists() or marker.read_text().strip() != want:
            if root.exists():
                shutil.rmtree(root)
            opts.log(f"[{rep.name}] writing synthetic {rep.dataset.name} data to {root}")
            rep.dataset.synthesize(root, data_cfg, seed=seed)
            marker.write_text(want + "\n")
        return root
    if opts.data_root is None:
        raise UserError(
            f"--data-root is required for a real run of {rep.name}: it needs {rep.dataset.name} "
            f"laid out as {rep.dataset.format} ({rep.dataset.data_root_help}); "
            f"or add --smoke for a synthetic CPU run"
        )
    root = Path(opts.data_root)
    if not root.is_dir():
        raise UserError(f"--data-root {root} does not exist or is not a directory; "
                        f"point it at {rep.dataset.name} laid out as {rep.dataset.format}")
    return root


def _context(rep: Reproduction, opts: RunOptions, root: Path) -> RunContext:
    recipe, model_cfg, data_cfg = configs(rep, opts)
    return RunContext(
        reproduction=rep,
        smoke=opts.smoke,
        data_root=root,
        output_dir=run_dir(rep, opts),
        device=opts.device,
        seed=recipe.seed if opts.seed is None else opts.seed,
        recipe=recipe,
        model_config=model_cfg,
        data_config=data_cfg,
        checkpoint=opts.checkpoint,
        progress=opts.progress and opts.is_main,
        log=opts.log,
        extras={"dist": opts.dist, "resume": opts.resume},
        protocol=protocol_of(rep, opts),
    )


def _up_to_date(rep: Reproduction, stage: str, opts: RunOptions, inputs_hash: str,
                roots: Roots) -> dict | None:
    if opts.force:
        return None
    rec = read_record(opts.records_dir, rep.name, stage, opts.smoke)
    path = record_path(opts.records_dir, rep.name, stage, opts.smoke)
    if rec and rec.get("status") == "ok" and rec.get("inputs_hash") == inputs_hash:
        why = stale_files(rec, roots=roots) if stage == "train" else None
        if why is None and stage != "train":
            ckpt = rec["result"].get("checkpoint")
            why = f"{ckpt} is gone" if ckpt and not roots.resolve(ckpt).exists() else None
        if why:
            opts.log(f"[{rep.name}] {stage}: record {path} is stale ({why}); running again")
            return None
        return rec
    if rec and rec.get("status") == "ok" and rec.get("schema", 1) < PORTABLE_SCHEMA:
        opts.log(f"[{rep.name}] {stage}: record {path} predates portable paths (schema "
                 f"{rec.get('schema', 1)}: absolute paths in its inputs); running again")
    return None


def stale_files(train_record: dict, keys=("checkpoint", "last_checkpoint"),
                roots: Roots | None = None) -> str | None:
    """Why the files a train record points at are not the ones it wrote (None: they are).
    ``roots``: where the record's ``$ROOT/...`` paths are (harness/portable.py)."""
    res = train_record["result"]
    roots = roots or Roots()
    for key in keys:
        path = res.get(key)
        if path is None:
            continue
        sha = res.get(f"{key}_sha")
        if sha is None:
            return f"it stores no content hash of {path} (an older record)"
        if not roots.resolve(path).is_file():
            return f"{path} is gone"
        if file_hash(roots.resolve(path)) != sha:
            return f"{path} was rewritten by a later run"
    return None


def _run_stage(rep, stage, opts, inputs, config, fingerprint, seed, body,
               roots: Roots | None = None) -> dict:
    """Skip if up to date, else run ``body()`` and write its record (on failure beside the
    last good one). ``inputs`` and ``config`` hold their paths in portable form (``roots``)."""
    check_records_dir(opts.records_dir)
    roots = roots or Roots.of(opts)
    inputs_hash = config_hash(inputs)
    rec = _up_to_date(rep, stage, opts, inputs_hash, roots)
    path = record_path(opts.records_dir, rep.name, stage, opts.smoke)
    if opts.dist is not None:  # every rank runs the stage; rank 0 alone writes the record
        from reproducers.common.distributed import barrier

        out = _run_stage_local(rep, stage, opts, inputs_hash, config, fingerprint, seed, body,
                               rec, path, roots)
        barrier()  # the next stage may read this record (e.g. evaluate reads train's)
        return out
    return _run_stage_local(rep, stage, opts, inputs_hash, config, fingerprint, seed, body,
                            rec, path, roots)


def _run_stage_local(rep, stage, opts, inputs_hash, config, fingerprint, seed, body, rec,
                     path, roots) -> dict:
    if rec is not None:
        opts.log(f"[{rep.name}] {stage}: inputs unchanged since {path}, not run again "
                 f"(--force to re-run)")
        return rec
    opts.log(f"[{rep.name}] {stage}{' (smoke)' if opts.smoke else ''} ...")
    start = time.time()
    record = {
        "reproduction": rep.name,
        "paper": paper_of(rep),
        "stage": stage,
        "smoke": opts.smoke,
        "inputs_hash": inputs_hash,
        "config": config,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "provenance": provenance(opts.device, seed, config, fingerprint),
        "world_size": 1 if opts.dist is None else opts.dist.world_size,
    }
    try:
        result = body()
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        record.update(status=status, error=error, wall_time_s=round(time.time() - start, 3))
        if opts.is_main:
            failed = write_record(opts.records_dir, record)
            if not isinstance(exc, UserError | KeyboardInterrupt):
                opts.log(f"[{rep.name}] {stage}: {status}; the last good record (if any) is "
                         f"kept, this failure is in {failed}")
        raise
    record.update(status="ok", result=roots.portable_tree(result),
                  wall_time_s=round(time.time() - start, 3))
    if opts.is_main:
        write_record(opts.records_dir, record)
    opts.log(f"[{rep.name}] {stage}: done in {record['wall_time_s']:.1f} s -> {path}")
    return record


def _code(rep: Reproduction) -> str:
    return code_hash(paper_of(rep), "common", "harness")


def profile(rep: Reproduction, opts: RunOptions) -> dict:
    from .profiling import profile_model

    cfg = configs(rep, opts)[1]
    run_protocol = protocol_of(rep, opts)  # the object evaluation reads its views from
    config = {"model": cfg, "views": run_protocol.views, "device": opts.device}
    inputs = {"config": config, "code": _code(rep), "iters": opts.profile_iters}
    return _run_stage(
        rep, "profile", opts, inputs, config, None, None,
        lambda: profile_model(rep, cfg, opts.device, iters=opts.profile_iters, log=opts.log,
                              protocol=run_protocol),
    )


def _datasets(rep: Reproduction, ctx: RunContext, splits: dict[str, bool]) -> tuple[dict, dict]:
    built, prints = {}, {}
    for split, train in splits.items():
        ds = rep.dataset.build(ctx.data_root, split, ctx.data_config, train=train,
                               protocol=ctx.protocol)
        built[split] = ds
        prints[split] = rep.dataset.fingerprint(ds)
    return built, prints


def train(rep: Reproduction, opts: RunOptions) -> dict:
    from reproducers.common.checkpointing import Resume

    check_records_dir(opts.records_dir)
    root = resolve_data_root(rep, opts)
    out = locked_run_dir(rep, opts)
    init = resolve_init(rep, opts, root, _run_dependency)  # harness/chain.py
    ctx = _context(rep, opts, root)
    loads: list[dict] = []
    if init is not None:
        ctx.reproduction = init.apply(rep, loads)
    ds, prints = _datasets(rep, ctx, {rep.dataset.train_split: True,
                                      rep.protocol.eval_split: False})
    ctx.extras["datasets"] = ds
    roots = Roots.of(opts, root)
    config = {"model": dict(ctx.model_config), "recipe": _recipe_dict(ctx.recipe),
              "data": dict(ctx.data_config), "protocol": _protocol_dict(ctx.protocol),
              "data_root": roots.portable(root)}
    if init is not None:
        config["init"] = roots.portable_tree(init.source)
    inputs = {"config": config, "code": _code(rep), "data": prints, "seed": ctx.seed,
              "device": opts.device}
    run_hash = config_hash(inputs)
    resume_file = _resume_source(opts, out)
    if opts.resume not in (None, "auto"):  # continuing a given checkpoint: part of the inputs
        inputs["resume_sha"] = file_hash(resume_file)
    start_sha = file_hash(resume_file) if resume_file is not None else None
    ctx.extras["resume"] = Resume(opts.resume, run_hash)

    def body():
        result = _with_bad_samples(_with_init(rep.task.train(ctx), init, loads), ds)
        return _train_facts(result, config, run_hash, resume_file, start_sha)

    return _run_stage(rep, "train", opts, inputs, config, prints, ctx.seed, body, roots)


def _resume_source(opts: RunOptions, out: Path) -> Path | None:
    if opts.resume is None:
        return None
    if opts.resume == "auto":
        path = out / "checkpoint_last.pt"
        return path if path.is_file() else None
    path = Path(opts.resume)
    if not path.is_file():
        raise UserError(f"--resume {path}: no such checkpoint file; give checkpoint_last.pt of "
                        f"an interrupted run, or --resume auto")
    return path


def _train_facts(result: dict, config: dict, run_hash: str, resume_file: Path | None,
                 start_sha: str | None) -> dict:
    """What the train record must say besides the task's result: the content hashes of the
    files it points at, the run hash, where it resumed from; a run that made no optimizer
    step is refused (its weights would be an older run's)."""
    steps = result.get("steps", result.get("frame_steps"))  # optimizer steps (per frame)
    if steps is not None and steps <= 0:
        epochs = config["recipe"].get("epochs")
        raise UserError(f"train made 0 optimizer steps (epochs={epochs}): no weights of this "
                        f"run exist; set epochs >= 1 (the last good train record is kept)")
    for key in ("checkpoint", "last_checkpoint"):
        path = result.get(key)
        if path is not None and Path(path).is_file():
            result[f"{key}_sha"] = file_hash(Path(path))
    resumed = result.get("resumed_from")
    result["run_hash"] = run_hash
    result["started_from"] = ({"file": resume_file, "sha": start_sha, **resumed}
                              if resumed and resume_file is not None else None)
    if resumed and steps is not None:
        result["steps_this_run"] = steps - resumed.get("global_step", 0)
    return result


def _run_dependency(dep: Reproduction, opts: RunOptions) -> None:
    """``--with-deps``: the reproduction a run starts from, trained and evaluated first."""
    train(dep, opts)
    evaluate(dep, opts)


def _with_init(result: dict, init, loads: list[dict]) -> dict:
    if init is None:
        return result
    if not loads:
        raise RuntimeError("the declared init was never applied: the task did not build its "
                           "model with ctx.reproduction.model.factory")
    return {**result, "init": {**init.source, **loads[0], "builds": len(loads)}}


def evaluate(rep: Reproduction, opts: RunOptions) -> dict:

    check_records_dir(opts.records_dir)
    root = resolve_data_root(rep, opts)
    locked_run_dir(rep, opts)
    ctx = _context(rep, opts, root)
    roots = Roots.of(opts, root)
    ckpt = opts.checkpoint
    if ckpt is None:
        tr = read_record(opts.records_dir, rep.name, "train", opts.smoke)
        if tr and tr.get("status") == "ok" and tr["result"].get("checkpoint"):
            ckpt = roots.resolve(tr["result"]["checkpoint"])
            why = stale_files(tr, keys=("checkpoint",), roots=roots)
            if why:
                path = record_path(opts.records_dir, rep.name, "train", opts.smoke)
                raise UserError(f"{path} is stale: {why}; re-run the train stage before "
                                f"evaluating (or pass --checkpoint PATH)")
    if ckpt is None:
        raise UserError(f"no checkpoint to evaluate for {rep.name}: run the train stage first "
                        f"or pass --checkpoint PATH")
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise UserError(f"--checkpoint {ckpt} does not exist; give the path of a .pt state dict")
    ds, prints = _datasets(rep, ctx, {rep.protocol.eval_split: False})
    ctx.checkpoint = ckpt
    # the recipe too: its options may steer evaluation (an eval mode, a batch size, a
    # proposals source), and the seed (a random evaluation draws from it, Task)
    config = {"model": dict(ctx.model_config), "data": dict(ctx.data_config),
              "recipe": _recipe_dict(ctx.recipe),
              "protocol": _protocol_dict(ctx.protocol), "checkpoint": roots.portable(ckpt),
              "data_root": roots.portable(root)}
    inputs = {"config": config, "code": _code(rep), "data": prints, "seed": ctx.seed,
              "checkpoint_sha": file_hash(ckpt)}

    def body():
        model = rep.model.factory(**ctx.model_config)
        weights = load_for_evaluation(model, ckpt, run_dir(rep, opts) / "weights",
                                      rep.model.adapt_state_dict, opts.log)
        out = _views_follow_protocol(rep.task.evaluate(ctx, model, ds[rep.protocol.eval_split]),
                                     ctx.protocol)
        out = predictions.store_in_result(  # per-sample outputs beside the record
            out, predictions.predictions_path(opts.records_dir, rep.name, opts.smoke),
            opts.is_main)
        out["weights"] = weights
        return _with_bad_samples(out, ds)

    return _run_stage(rep, "evaluate", opts, inputs, config, prints, ctx.seed, body, roots)


def _with_bad_samples(result: dict, datasets: dict) -> dict:
    """Add the unreadable samples each dataset met (datasets exposing ``bad_summary()``, e.g.
    common.video.dataset.VideoClipDataset) to the stage result, so the record counts them."""
    bad = {split: d.bad_summary() for split, d in datasets.items() if hasattr(d, "bad_summary")}
    result = _stringify(result)
    if bad:
        result["bad_samples"] = _stringify(bad)
    return result


def _recipe_dict(recipe) -> dict:
    from dataclasses import asdict

    return _stringify(asdict(recipe))


def _protocol_dict(protocol) -> dict:
    from dataclasses import asdict

    return {**asdict(protocol), "views": protocol.views}


def _views_follow_protocol(result: dict, protocol) -> dict:
    """An evaluation that reports how many views it scored per sample (``views``) must have
    scored the protocol's: the profile stage's FLOPs x views counts the same number."""
    if "views" in result and result["views"] != protocol.views:
        raise RuntimeError(f"the evaluation scored {result['views']} views per sample but the "
                           f"protocol declares {protocol.temporal_clips} clip(s) x "
                           f"{protocol.spatial_crops} crop(s) = {protocol.views}")
    return result


def _stringify(obj):
    """Make a result JSON-safe (Paths to str, tuples to lists, mappings to dicts)."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {str(k): _stringify(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_stringify(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    return obj
