"""Write small MOTChallenge sequences and result files by hand."""

from __future__ import annotations

from pathlib import Path


def write_seq(gt_root: Path, name: str, seq_length: int, gt_lines, *,
              gt_file: str = "gt/gt.txt") -> Path:
    """``gt_root/<name>/{seqinfo.ini, <gt_file>}``; gt_lines: strings or tuples."""
    seq = Path(gt_root) / name
    (seq / gt_file).parent.mkdir(parents=True, exist_ok=True)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={seq_length}\n"
        "imWidth=640\nimHeight=480\nimExt=.jpg\n")
    (seq / gt_file).write_text(_lines(gt_lines))
    return seq


def write_res(res_root: Path, name: str, lines) -> Path:
    path = Path(res_root) / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_lines(lines))
    return path


def _lines(lines) -> str:
    return "".join((ln if isinstance(ln, str) else ",".join(str(v) for v in ln)) + "\n"
                   for ln in lines)
