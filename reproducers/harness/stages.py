"""The stages of a reproduction: profile, train, evaluate (check and report live in their
own modules). Each stage writes one atomic run record and is skipped when a successful
record with the same inputs hash exists (``force`` re-runs it).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .chain import resolve as resolve_init
from .declarations import Reproduction, RunContext
from .errors import UserError
from .overrides import apply as apply_overrides
from .provenance import REPO_ROOT, code_hash, config_hash, file_hash, provenance
from .records import DEFAULT_RECORDS_DIR, read_record, record_path, write_record
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
    """(recipe, model config, data config) of this run, with --set overrides applied."""
    recipe = rep.smoke_recipe if opts.smoke else rep.recipe
    model = dict(rep.model.smoke if opts.smoke else rep.model.full)
    data = dict(rep.smoke_data if opts.smoke else rep.data_config)
    return apply_overrides(recipe, model, data, opts.overrides)


def run_dir(rep: Reproduction, opts: RunOptions) -> Path:
    return Path(opts.output_dir) / (f"{rep.name}-smoke" if opts.smoke else rep.name)


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
        root = run_dir(rep, opts) / "data"
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
    )


def _up_to_date(rep: Reproduction, stage: str, opts: RunOptions, inputs_hash: str) -> dict | None:
    if opts.force:
        return None
    rec = read_record(opts.records_dir, rep.name, stage, opts.smoke)
    if rec and rec.get("status") == "ok" and rec.get("inputs_hash") == inputs_hash:
        ckpt = rec.get("result", {}).get("checkpoint")
        if ckpt and not Path(ckpt).exists():
            opts.log(f"[{rep.name}] {stage}: record is current but {ckpt} is gone; running again")
            return None
        return rec
    return None


def _run_stage(rep, stage, opts, inputs, config, fingerprint, seed, body) -> dict:
    """Skip if up to date, else run ``body()`` and write its record (also on failure)."""
    inputs_hash = config_hash(inputs)
    rec = _up_to_date(rep, stage, opts, inputs_hash)
    path = record_path(opts.records_dir, rep.name, stage, opts.smoke)
    if opts.dist is not None:  # every rank runs the stage; rank 0 alone writes the record
        from reproducers.common.distributed import barrier

        out = _run_stage_local(rep, stage, opts, inputs_hash, config, fingerprint, seed, body,
                               rec, path)
        barrier()  # the next stage may read this record (e.g. evaluate reads train's)
        return out
    return _run_stage_local(rep, stage, opts, inputs_hash, config, fingerprint, seed, body,
                            rec, path)


def _run_stage_local(rep, stage, opts, inputs_hash, config, fingerprint, seed, body, rec,
                     path) -> dict:
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
    except UserError:
        raise
    except BaseException as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      wall_time_s=round(time.time() - start, 3))
        if opts.is_main:
            write_record(opts.records_dir, record)
        raise
    record.update(status="ok", result=result, wall_time_s=round(time.time() - start, 3))
    if opts.is_main:
        write_record(opts.records_dir, record)
    opts.log(f"[{rep.name}] {stage}: done in {record['wall_time_s']:.1f} s -> {path}")
    return record


def _code(rep: Reproduction) -> str:
    return code_hash(paper_of(rep), "common", "harness")


def profile(rep: Reproduction, opts: RunOptions) -> dict:
    from .profiling import profile_model

    cfg = configs(rep, opts)[1]
    config = {"model": cfg, "views": rep.protocol.views, "device": opts.device}
    inputs = {"config": config, "code": _code(rep), "iters": opts.profile_iters}
    return _run_stage(
        rep, "profile", opts, inputs, config, None, None,
        lambda: profile_model(rep, cfg, opts.device, iters=opts.profile_iters, log=opts.log),
    )


def _datasets(rep: Reproduction, ctx: RunContext, splits: dict[str, bool]) -> tuple[dict, dict]:
    built, prints = {}, {}
    for split, train in splits.items():
        ds = rep.dataset.build(ctx.data_root, split, ctx.data_config, train=train)
        built[split] = ds
        prints[split] = rep.dataset.fingerprint(ds)
    return built, prints


def train(rep: Reproduction, opts: RunOptions) -> dict:
    root = resolve_data_root(rep, opts)
    init = resolve_init(rep, opts, root, _run_dependency)  # harness/chain.py
    ctx = _context(rep, opts, root)
    loads: list[dict] = []
    if init is not None:
        ctx.reproduction = init.apply(rep, loads)
    ds, prints = _datasets(rep, ctx, {rep.dataset.train_split: True,
                                      rep.protocol.eval_split: False})
    ctx.extras["datasets"] = ds
    config = {"model": dict(ctx.model_config), "recipe": _recipe_dict(ctx.recipe),
              "data": dict(ctx.data_config), "data_root": str(root)}
    if init is not None:
        config["init"] = init.source
    inputs = {"config": config, "code": _code(rep), "data": prints, "seed": ctx.seed,
              "device": opts.device}
    return _run_stage(rep, "train", opts, inputs, config, prints, ctx.seed,
                      lambda: _with_bad_samples(_with_init(rep.task.train(ctx), init, loads), ds))


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

    root = resolve_data_root(rep, opts)
    ctx = _context(rep, opts, root)
    ckpt = opts.checkpoint
    if ckpt is None:
        tr = read_record(opts.records_dir, rep.name, "train", opts.smoke)
        if tr and tr.get("status") == "ok":
            ckpt = Path(tr["result"]["checkpoint"])
    if ckpt is None:
        raise UserError(f"no checkpoint to evaluate for {rep.name}: run the train stage first "
                        f"or pass --checkpoint PATH")
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise UserError(f"--checkpoint {ckpt} does not exist; give the path of a .pt state dict")
    ds, prints = _datasets(rep, ctx, {rep.protocol.eval_split: False})
    ctx.checkpoint = ckpt
    config = {"model": dict(ctx.model_config), "data": dict(ctx.data_config),
              "protocol": _protocol_dict(rep), "checkpoint": str(ckpt), "data_root": str(root)}
    inputs = {"config": config, "code": _code(rep), "data": prints,
              "checkpoint_sha": file_hash(ckpt)}

    def body():
        model = rep.model.factory(**ctx.model_config)
        weights = load_for_evaluation(model, ckpt, run_dir(rep, opts) / "weights",
                                      rep.model.adapt_state_dict, opts.log)
        out = rep.task.evaluate(ctx, model, ds[rep.protocol.eval_split])
        out["weights"] = weights
        return _with_bad_samples(out, ds)

    return _run_stage(rep, "evaluate", opts, inputs, config, prints, ctx.seed, body)


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


def _protocol_dict(rep: Reproduction) -> dict:
    from dataclasses import asdict

    return {**asdict(rep.protocol), "views": rep.protocol.views}


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
