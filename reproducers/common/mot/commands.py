"""The MOTChallenge subcommands (``evaluate-mot``, ``mot-convert``), registered with the CLI
through ``harness/commands.py``. TrackEval and the converters are imported inside the
handlers, so listing commands imports neither."""

from __future__ import annotations

from pathlib import Path

from reproducers.harness.commands import Command


def _evaluate_arguments(sp) -> None:
    sp.add_argument("--gt", type=Path, required=True,
                    help="folder of sequences <seq>/{seqinfo.ini, gt/gt.txt}")
    sp.add_argument("--results", type=Path, required=True, help="folder of <seq>.txt results")
    sp.add_argument("--gt-file", default="gt/gt.txt",
                    help="ground truth inside each sequence folder (MOT17 half-val: "
                         "gt/gt_half-val.txt)")
    sp.add_argument("--seqs", nargs="+", default=None, metavar="SEQ",
                    help="sequences to evaluate (default: every folder with a seqinfo.ini)")
    sp.add_argument("--benchmark", default="MOT17", choices=["MOT15", "MOT16", "MOT17", "MOT20"],
                    help="MOT15: no preprocessing, any gt class; MOT20: one more distractor")
    sp.add_argument("--missing", default="error", choices=["error", "empty"],
                    help="a sequence without a result file: error, or count it as empty")
    sp.add_argument("--verbose", action="store_true", help="show TrackEval's own output")


def _evaluate(args, log):
    from .evaluate import evaluate_mot, format_table

    result = evaluate_mot(args.gt, args.results, gt_file=args.gt_file, seqs=args.seqs,
                          benchmark=args.benchmark, missing=args.missing,
                          log=log if args.verbose else None)
    return result, format_table(result)


def _convert_arguments(sp) -> None:
    sp.add_argument("dataset", choices=["mot17", "crowdhuman", "motsynth"])
    sp.add_argument("--input", type=Path, required=True,
                    help="mot17: the MOT17 root (train/, test/); crowdhuman: the folder with "
                         "annotation_{train,val}.odgt and {train,val}/Images; motsynth: the "
                         "folder of per-sequence annotation jsons")
    sp.add_argument("--output", type=Path, required=True, help="folder for the json file(s)")


def _convert(args, log):
    from .convert import convert_dataset

    result = convert_dataset(args.dataset, args.input, args.output, log=log)
    return result, f"{args.dataset}: written to {args.output}"


COMMANDS = [
    Command("evaluate-mot", "MOTChallenge metrics (HOTA, MOTA, IDF1, ...) with TrackEval",
            _evaluate_arguments, _evaluate),
    Command("mot-convert", "MOT17 / CrowdHuman / MOTSynth -> official SVM COCO-video json",
            _convert_arguments, _convert),
]
