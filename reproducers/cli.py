"""Command line: ``python -m reproducers {list,profile,run,check,report,prepare,...}``.

Further subcommands are registered by the modules that own them (``COMMANDS`` in a
``commands.py``, see ``harness/commands.py``), e.g. ``evaluate-mot`` and ``mot-convert``
from ``common/mot/commands.py``.

Bad input (unknown name, missing data root, malformed split file, ...) is a ``UserError``:
one line on stderr naming the file or flag and what to do, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

from .harness.errors import UserError
from .harness.overrides import parse as parse_overrides
from .harness.records import DEFAULT_RECORDS_DIR, report_beside
from .harness.stages import RUN_STAGES, RunOptions

REPORT_HELP = ("where the report is written (default: results.md beside --records-dir, i.e. "
               "<records-dir>/../results.md; reports/results.md for the default records)")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)


def _log_for(args):
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    return lambda msg: print(msg, file=stream, flush=True)


def cmd_list(args) -> int:
    from .harness.chain import describe as describe_init
    from .harness.registry import discover

    reps = discover()
    data = [{
        "name": r.name,
        "paper": r.paper.key,
        "extra": r.paper.extra,
        "title": r.paper.title,
        "dataset": r.dataset.name,
        "data_layout": r.dataset.format,
        "data_help": r.dataset.data_root_help,
        "expected_samples": dict(r.dataset.expected_samples),
        "metrics": list(r.metrics),
        "init": describe_init(r.init),
        "protocol": {"input": r.protocol.input, "views": r.protocol.views,
                     "aggregation": r.protocol.aggregation, "eval_split": r.protocol.eval_split},
        "expected": [{"metric": e.metric, "value": e.value, "direction": e.direction,
                      "tolerance": e.tolerance, "kind": e.kind, "source": e.source}
                     for e in r.expected],
    } for r in reps.values()]
    text = "\n".join(
        f"{d['name']:<30} {d['paper']:<8} {d['dataset']:<22} "
        + ", ".join(f"{e['metric']} {e['value']:g} ({e['kind']})" for e in d["expected"])
        for d in data)
    _emit(args, data, text)
    return 0


def _positive(args, *names) -> None:
    """One-line refusal of a count flag below 1 (--nproc 0, --iters -3, ...)."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} {value}: must be at least 1")


def _device(args) -> str:
    from .harness.devices import check_device

    return check_device(args.device) if args.device else default_device()


def _options(args, check_device: bool = True) -> RunOptions:
    """Run options from the parsed flags; ``check_device=False`` where the device is checked
    elsewhere (a SLURM submission: on the compute nodes)."""
    return RunOptions(
        smoke=getattr(args, "smoke", False),
        data_root=getattr(args, "data_root", None),
        checkpoint=getattr(args, "checkpoint", None),
        device=_device(args) if check_device else (args.device or default_device()),
        output_dir=args.output_dir,
        records_dir=args.records_dir,
        force=getattr(args, "force", False),
        seed=getattr(args, "seed", None),
        progress=not getattr(args, "no_progress", False),
        log=_log_for(args),
        overrides=parse_overrides(getattr(args, "set", None)),
        resume=getattr(args, "resume", None),
        init_file=getattr(args, "init", None),
        with_deps=getattr(args, "with_deps", False),
    )


def cmd_profile(args) -> int:
    from .harness import stages
    from .harness.registry import get

    rep = get(args.name)
    _positive(args, "iters")
    opts = _options(args)
    stages.configs(rep, opts)  # unknown/bad --set values: refused before the stage runs
    opts.profile_iters = args.iters
    rec = stages.profile(rep, opts)
    r = rec["result"]
    text = (f"{rep.name}: {r['params']:,} params; {r['gmacs_per_view']:.2f} GFLOPs (GMACs) per "
            f"view x {r['views']} views = {r['gmacs_x_views']:.2f}; "
            f"{r['throughput']['clips_per_s']:.3f} clips/s on {r['throughput']['device_name']}")
    if not r["flops"]["agrees"]:
        text += "\n  " + "\n  ".join(r["flops"]["notes"])
    _emit(args, {"reproduction": rep.name, **r}, text)
    return 0


def cmd_run(args) -> int:
    from .harness import launch, run
    from .harness.registry import get
    from .harness.stages import configs

    rep = get(args.name)
    _positive(args, "nproc", "nnodes", "gpus_per_node", "slurm_time")
    args.report = args.report or report_beside(args.records_dir)
    # unknown/bad --set values are refused before any stage (or launch) runs
    configs(rep, RunOptions(smoke=args.smoke, overrides=parse_overrides(args.set)))
    chosen = run.chosen_stages(args.stages, args.eval_only, args.checkpoint)
    multi = args.nproc > 1 or args.nnodes > 1
    if args.launcher == "slurm" and not launch.inside_launcher():  # --device: compute nodes
        request = run.RunRequest.of(rep.name, _options(args, check_device=False), chosen,
                                    args.report, args.json, args.seeds)
        code = launch.submit_slurm(
            run.slurm_task, request, nodes=args.nnodes, gpus_per_node=args.gpus_per_node,
            partition=args.partition, time_min=args.slurm_time, folder=args.slurm_folder,
            account=args.slurm_account, log=_log_for(args), wait=args.slurm_wait)
        return code
    opts = _options(args)  # checks --device
    if multi and not launch.inside_launcher():
        return launch.run_torchrun(args.argv, args.nproc, args.nnodes, args.rdzv_endpoint,
                                   args.node_rank, _log_for(args))
    return run.run(rep, opts, chosen, report=args.report, json_out=args.json,
                   seeds=args.seeds)


def _check(reps, records_dir, args) -> list[dict]:
    from .harness.run import check_rows

    return check_rows(reps, records_dir, _log_for(args))


def cmd_check(args) -> int:
    from .harness.registry import select

    rows = _check(select(args.names), args.records_dir, args)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    return 1 if any(r["status"] == "FAIL" for r in rows) else 0


def _report(records_dir: Path, out: Path, log) -> Path:
    from .harness.run import write_report

    return write_report(records_dir, out, log)


def cmd_report(args) -> int:
    path = _report(args.records_dir, args.out or report_beside(args.records_dir), _log_for(args))
    _emit(args, {"report": str(path)}, "")
    return 0


def cmd_selftest(args) -> int:
    from .harness.atomic import write_json_atomic
    from .harness.selftest import (
        format_summary,
        run_selftest,
        stdout_to_stderr,
        write_selftest_record,
    )

    log = _log_for(args)
    partial = None if args.out is None else (lambda s: write_json_atomic(args.out, s))
    # a `timeout` around the command sends SIGTERM: unwind, so worker processes are ended
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with stdout_to_stderr() if args.json else contextlib.nullcontext():
        summary = run_selftest(args.device or default_device(), smoke=args.size, log=log,
                               budget_s=args.budget_s, only=args.only, on_item=partial)
    log(f"selftest record written to {write_selftest_record(args.records_dir, summary)}")
    if args.out is not None:
        write_json_atomic(args.out, summary)
        log(f"selftest JSON written to {args.out}")
    _emit(args, summary, format_summary(summary))
    return 0 if summary["status"] == "ok" else 1


def cmd_prepare(args) -> int:
    from .harness.registry import get

    rep = get(args.name)
    if rep.dataset.prepare is None:
        raise UserError(f"{rep.name}: {rep.dataset.name} needs no prepare step")
    if not Path(args.videos).is_dir():
        raise UserError(f"--videos {args.videos} is not a directory of the dataset's videos")
    if args.weights is not None and not Path(args.weights).is_file():
        raise UserError(f"--weights {args.weights} does not exist")
    result = rep.dataset.prepare(
        videos_dir=Path(args.videos), data_root=Path(args.data_root),
        config=dict(rep.data_config), weights=args.weights,
        device=_device(args), log=_log_for(args))
    _emit(args, {"reproduction": rep.name, "result": result}, f"prepared: {result}")
    return 0


def cmd_data_check(args) -> int:
    from .harness.registry import get
    from .harness.stages import configs

    rep = get(args.name)
    if rep.dataset.check is None:
        raise UserError(f"{rep.name}: {rep.dataset.name} declares no data check")
    root = Path(args.data_root)
    if not root.is_dir():
        raise UserError(f"--data-root {root} does not exist or is not a directory")
    if args.limit < 0:
        raise UserError(f"--limit {args.limit}: must be 0 or more")
    data_cfg = configs(rep, RunOptions(smoke=args.smoke))[2]
    splits = args.split or list(dict.fromkeys([rep.dataset.train_split, rep.protocol.eval_split]))
    result = {split: rep.dataset.check(root, split, data_cfg) for split in splits}
    lines = []
    for split, r in result.items():
        lines.append(f"{rep.name} [{split}]: {r['usable']}/{r['total']} usable "
                     f"({100 * r['usable_share']:.1f}%), {len(r['missing'])} missing, "
                     f"{len(r['unreadable'])} unreadable")
        lines += [f"  missing     {p}" for p in r["missing"][: args.limit]]
        lines += [f"  unreadable  {p}: {why}" for p, why in r["unreadable"][: args.limit]]
    _emit(args, {"reproduction": rep.name, "splits": result}, "\n".join(lines))
    bad = any(r["missing"] or r["unreadable"] for r in result.values())
    return 1 if bad else 0


def cmd_convert(args) -> int:
    from .harness.convert import convert

    result = convert(args.src, args.dst, args.key, log=_log_for(args))
    _emit(args, result, "")
    return 0


def _registered(command):
    def run(args) -> int:
        data, text = command.handler(args, _log_for(args))
        _emit(args, data, text)
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reproducers", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, device=True):
        sp.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        sp.add_argument("--records-dir", type=Path, default=DEFAULT_RECORDS_DIR)
        sp.add_argument("--output-dir", type=Path, default=Path("runs"),
                        help="checkpoints, logs and synthetic data (default: runs/)")
        if device:
            sp.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")

    def threads(sp):
        sp.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads (torch intra-op and interop); default: the cores this "
                             "process may use, capped by OMP_NUM_THREADS / SLURM_CPUS_PER_TASK")

    sp = sub.add_parser("list", help="list the reproductions and their expected tables")
    common(sp, device=False)
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("profile", help="params, GFLOPs per view x views, throughput")
    sp.add_argument("name")
    sp.add_argument("--smoke", action="store_true", help="profile the reduced smoke model")
    sp.add_argument("--iters", type=int, default=None, help="timed forward passes")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="model.NAME=VALUE")
    sp.add_argument("--force", action="store_true")
    common(sp)
    threads(sp)
    sp.set_defaults(func=cmd_profile)

    sp = sub.add_parser("run", help="run a reproduction's stages (profile, train, evaluate, check, report)")
    sp.add_argument("name")
    sp.add_argument("--smoke", action="store_true", help="reduced model on synthetic data (CPU, minutes)")
    sp.add_argument("--data-root", type=Path, default=None)
    sp.add_argument("--checkpoint", type=Path, default=None, help="weights-only .pt to evaluate")
    sp.add_argument("--eval-only", action="store_true", help="evaluate --checkpoint without training")
    sp.add_argument("--init", type=Path, default=None, metavar="FILE",
                    help="initial weights for training (instead of the declared init)")
    sp.add_argument("--with-deps", action="store_true",
                    help="first run the reproductions whose checkpoint this one starts from")
    sp.add_argument("--stages", nargs="+", default=None, metavar="STAGE",
                    help=f"subset of: {' '.join(RUN_STAGES)}")
    sp.add_argument("--force", action="store_true", help="re-run stages whose inputs did not change")
    sp.add_argument("--seed", type=int, default=None)
    sp.add_argument("--seeds", type=int, default=1, metavar="N",
                    help="repeat train + evaluate over N seeds (--seed, --seed+1, ...); the "
                         "record holds every seed's result and mean ± std, rows check the mean")
    sp.add_argument("--no-progress", action="store_true")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a typed recipe field/option (epochs=10, schedule=plateau, "
                         "select=last) or model.NAME / data.NAME; recorded in the run record")
    sp.add_argument("--report", type=Path, default=None, help=REPORT_HELP)
    sp.add_argument("--resume", default=None, metavar="auto|PATH",
                    help="continue an interrupted training exactly (auto: runs/<name>/checkpoint_last.pt)")
    g = sp.add_argument_group("distributed launch (torchrun; SLURM through submitit)")
    g.add_argument("--nproc", type=int, default=1, help="processes (GPUs) per node, via torchrun")
    g.add_argument("--nnodes", type=int, default=1, help="nodes; needs --rdzv-endpoint")
    g.add_argument("--node-rank", type=int, default=None)
    g.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT")
    g.add_argument("--launcher", choices=["torchrun", "slurm"], default="torchrun")
    g.add_argument("--partition", default=None, help="SLURM partition")
    g.add_argument("--gpus-per-node", type=int, default=8, help="SLURM: GPUs (= tasks) per node")
    g.add_argument("--slurm-time", type=int, default=72 * 60, help="SLURM time limit, minutes")
    g.add_argument("--slurm-folder", type=Path, default=Path("runs/slurm"))
    g.add_argument("--slurm-account", default=None)
    g.add_argument("--slurm-wait", action="store_true", help="block until the job ends")
    common(sp)
    threads(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("selftest", help="check every device path (Cauchy kernel, one train "
                                         "step and eval batch per model, compile, distributed)")
    sp.add_argument("--out", type=Path, default=None, help="also write the JSON summary here")
    size = sp.add_mutually_exclusive_group()
    size.add_argument("--smoke", dest="size", action="store_const", const=True, default=None,
                      help="reduced models and inputs (default on the CPU)")
    size.add_argument("--full", dest="size", action="store_const", const=False,
                      help="paper-size models and inputs (default on CUDA)")
    sp.add_argument("--budget-s", type=float, default=None,
                    help="items not started after this many seconds are skipped "
                         "(default: 480 on CUDA, 300 on the CPU)")
    sp.add_argument("--only", nargs="+", default=None, metavar="ITEM",
                    help="run only these items (names or prefixes: cauchy, train:, "
                         "eval:PAPER, compile, distributed, ...)")
    common(sp)
    threads(sp)
    sp.set_defaults(func=cmd_selftest)

    sp = sub.add_parser("check", help="compare run records with the expected tables")
    sp.add_argument("names", nargs="*")
    common(sp, device=False)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("report", help="render results.md (beside --records-dir) from the run "
                                       "records")
    sp.add_argument("--out", type=Path, default=None, help=REPORT_HELP)
    common(sp, device=False)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("data", help="dataset tools: `data check NAME --data-root DIR`")
    data_sub = sp.add_subparsers(dest="data_command", required=True)
    dc = data_sub.add_parser("check", help="list missing and unreadable samples, no training")
    dc.add_argument("name")
    dc.add_argument("--data-root", type=Path, required=True)
    dc.add_argument("--split", action="append", help="split(s) to check (default: train + eval)")
    dc.add_argument("--smoke", action="store_true", help="use the smoke data config")
    dc.add_argument("--limit", type=int, default=50, help="paths listed per category")
    common(dc, device=False)
    dc.set_defaults(func=cmd_data_check)

    sp = sub.add_parser("convert-checkpoint",
                        help="official pickled checkpoint -> weights-only state dict (explicit)")
    sp.add_argument("src", type=Path)
    sp.add_argument("dst", type=Path)
    sp.add_argument("--key", default=None, help="dotted key of the state dict (default: found)")
    common(sp, device=False)
    sp.set_defaults(func=cmd_convert)

    sp = sub.add_parser("prepare", help="build a dataset's on-disk format (e.g. extract features)")
    sp.add_argument("name")
    sp.add_argument("--videos", type=Path, required=True)
    sp.add_argument("--data-root", type=Path, required=True)
    sp.add_argument("--weights", type=Path, default=None, help="backbone weights file")
    common(sp)
    sp.set_defaults(func=cmd_prepare)

    from .harness.commands import discover_commands

    for command in discover_commands():
        sp = sub.add_parser(command.name, help=command.help)
        command.add_arguments(sp)
        sp.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        sp.set_defaults(func=_registered(command))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # launchers re-run the same command line in every process
    try:
        if hasattr(args, "threads"):
            from .harness.threads import apply_threads

            apply_threads(args.threads)
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; completed stages kept their records", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
