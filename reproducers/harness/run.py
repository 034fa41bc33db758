"""The one run path of ``python -m reproducers run``: a reproduction's chosen stages in this
process, on every rank of a torchrun / SLURM job alike. The CLI parses arguments and calls
``run``; the torchrun workers (which re-run the CLI) and the SLURM job (``slurm_task``, the
function submitit pickles) end up in the same function, so no worker imports the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import launch, stages
from .errors import UserError
from .stages import RUN_STAGES, RunOptions


def chosen_stages(names, eval_only: bool, checkpoint) -> list[str]:
    """The stages to run, in ``RUN_STAGES`` order (``--stages`` / ``--eval-only`` checked)."""
    chosen = list(names or RUN_STAGES)
    if eval_only:
        if "train" in chosen:
            chosen.remove("train")
        if checkpoint is None:
            raise UserError("--eval-only needs --checkpoint PATH (a weights-only .pt state dict)")
    unknown = set(chosen) - set(RUN_STAGES)
    if unknown:
        raise UserError(f"--stages: unknown {sorted(unknown)}; choose from {', '.join(RUN_STAGES)}")
    return [s for s in RUN_STAGES if s in chosen]


def log_to(json_out: bool):
    """Progress lines on stdout, or on stderr when stdout carries ``--json`` output."""
    stream = sys.stderr if json_out else sys.stdout
    return lambda msg: print(msg, file=stream, flush=True)


def check_rows(reps, records_dir: Path, log) -> list[dict]:
    """Expected rows of ``reps`` checked against the records (table logged); then the claim
    rows whose two sides are among ``reps`` (``kind: "claim"``, see harness/claims.py)."""
    from .check import check_reproduction, format_table
    from .claims import check_claims, format_claims

    rows = [r for rep in reps for r in check_reproduction(rep, records_dir)]
    log(format_table(rows))
    claims = check_claims(reps, records_dir)
    if claims:
        log(format_claims(claims))
    return [r.to_dict() for r in rows] + [c.to_dict() for c in claims]


def write_report(records_dir: Path, out: Path, log) -> Path:
    from .registry import discover
    from .report import render

    path = render(list(discover().values()), records_dir, out)
    log(f"report written to {path}")
    return path


def run(rep, opts: RunOptions, chosen: list[str], *, report: Path, json_out: bool,
        seeds: int = 1) -> int:
    """Run ``chosen`` stages of ``rep``; under torchrun / SLURM this process is one rank
    (train and evaluate on every rank; profile, check and report on rank 0). ``seeds`` > 1
    repeats train + evaluate over that many seeds (harness/seeds.py)."""
    if seeds < 1:
        raise UserError(f"--seeds {seeds}: give a number of seeds >= 1")
    if launch.inside_launcher():
        return _run_distributed(rep, opts, chosen, report, json_out, seeds)
    return _run_stages(rep, opts, chosen, report, json_out, seeds)


def _run_distributed(rep, opts, chosen, report, json_out, seeds=1) -> int:
    from reproducers.common.distributed import barrier, cleanup, init_distributed

    opts.dist = init_distributed(opts.device)
    if not opts.dist.is_main:
        opts.log = lambda _msg: None
    try:
        if opts.dist.is_main:
            opts.log(f"[{rep.name}] distributed run: world size {opts.dist.world_size} "
                     f"({opts.dist.launcher}, {opts.dist.backend}); recipe declares "
                     f"{rep.recipe.gpus} GPU(s)")
        return _run_stages(rep, opts, chosen, report, json_out, seeds)
    finally:
        barrier()
        cleanup()


def _run_stages(rep, opts, chosen, report, json_out, seeds=1) -> int:
    if {"train", "evaluate"} & set(chosen):
        if opts.is_main:
            stages.resolve_data_root(rep, opts)  # fail fast on a bad --data-root
        if opts.dist is not None:
            from reproducers.common.distributed import barrier

            barrier()  # rank 0 may have written the synthetic data
    out: dict = {"reproduction": rep.name, "smoke": opts.smoke, "stages": {}}
    for stage in chosen:
        if stage not in ("train", "evaluate") and not opts.is_main:
            continue  # profile, check and report run on rank 0 only
        if seeds > 1 and stage in ("train", "evaluate"):
            if stage == "evaluate" or "evaluate" not in chosen:
                from .seeds import run_seeds

                rec = run_seeds(rep, opts, seeds, train="train" in chosen)
                out["stages"]["evaluate"] = {"status": rec["status"], "result": rec["result"]}
        elif stage in ("profile", "train", "evaluate"):
            rec = getattr(stages, stage)(rep, opts)
            out["stages"][stage] = {"status": rec["status"], "result": rec.get("result")}
        elif stage == "check":
            out["check"] = check_rows([rep], opts.records_dir, opts.log)
        elif stage == "report":
            out["report"] = str(write_report(opts.records_dir, report, opts.log))
    if json_out and opts.is_main:
        print(json.dumps(out, indent=2, sort_keys=True))
    fails = [r for r in out.get("check", []) if r["status"] == "FAIL"]
    return 1 if fails else 0


@dataclass(frozen=True)
class RunRequest:
    """A ``run`` as plain data, for a SLURM job (submitit pickles it; no log function)."""

    name: str
    options: RunOptions
    stages: tuple[str, ...]
    report: Path
    json_out: bool
    seeds: int = 1

    @classmethod
    def of(cls, name, opts, chosen, report, json_out, seeds=1) -> RunRequest:
        return cls(name, dataclasses.replace(opts, log=None, dist=None), tuple(chosen),
                   Path(report), json_out, seeds)


def slurm_task(request: RunRequest) -> int:
    """Body of every task of a SLURM job: the same ``run`` as the CLI's."""
    from .registry import get

    opts = dataclasses.replace(request.options, log=log_to(request.json_out))
    code = run(get(request.name), opts, list(request.stages), report=request.report,
               json_out=request.json_out, seeds=request.seeds)
    if code:
        raise SystemExit(code)
    return code
