"""Render ``reports/results.md`` (jinja2) and its accuracy-vs-GFLOPs plot from run records.

The output depends only on the declarations and the records: the same records give the
same bytes (no clock, no environment), which a golden-report test checks. A corrupt record is
skipped (its rows fail, naming the file), the rest is rendered, and ``render`` then raises a
one-line ``UserError`` naming the skipped files, so the command exits non-zero.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import jinja2

from .atomic import file_in_the_way
from .check import NOT_RUN, check_reproduction, summarize
from .claims import check_claims
from .declarations import Reproduction
from .errors import UserError
from .provenance import REPO_ROOT
from .records import CorruptRecord, check_records_dir, record_path
from .records import read_record as _read_record

TEMPLATE = REPO_ROOT / "reports" / "results.md.j2"
PLOT_NAME = "accuracy_vs_gflops.png"


def build_context(reps: list[Reproduction], records_dir: Path, skipped: list | None = None) -> dict:
    """The template's context; corrupt records are left out and their errors appended to
    ``skipped``."""
    skipped = [] if skipped is None else skipped

    def read_record(*args):
        try:
            return _read_record(*args)
        except CorruptRecord as exc:
            if str(exc) not in skipped:
                skipped.append(str(exc))
            return None

    papers: OrderedDict[str, dict] = OrderedDict()
    footnotes: list[dict] = []
    all_rows = []
    smoke_rows = []

    def footnote(rec: dict | None, path: Path) -> int | None:
        if not rec:
            return None
        prov = rec.get("provenance", {})
        git = prov.get("git", {})
        dev = prov.get("device", {})
        footnotes.append({
            "n": len(footnotes) + 1,
            "record": str(path.relative_to(records_dir.parent)) if path.is_relative_to(
                records_dir.parent) else str(path),
            "stage": rec.get("stage"),
            "started_at": rec.get("started_at"),
            "git": (git.get("sha") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else ""),
            "device": dev.get("name", "?"),
            "torch": prov.get("packages", {}).get("torch"),
            "command": prov.get("command", ""),
            "wall_time_s": rec.get("wall_time_s"),
            "seed": prov.get("seed"),
            "fingerprint": prov.get("dataset_fingerprint"),
        })
        return len(footnotes)

    for rep in sorted(reps, key=lambda r: (r.paper.key, r.name)):
        paper = papers.setdefault(rep.paper.key, {"paper": rep.paper, "reproductions": []})
        rows = check_reproduction(rep, records_dir)
        all_rows.extend(rows)
        paper_rows = [r for r in rows if r.kind != "smoke"]
        smokes = [r for r in rows if r.kind == "smoke"]
        prof_path = record_path(records_dir, rep.name, "profile", False)
        prof = read_record(records_dir, rep.name, "profile", False)
        prof = prof if prof and prof.get("status") == "ok" else None
        eval_path = record_path(records_dir, rep.name, "evaluate", False)
        ev = read_record(records_dir, rep.name, "evaluate", False)
        paper["reproductions"].append({
            "rep": rep,
            "rows": paper_rows,
            "subsets": _subsets(ev),
            "spread": _spread(ev),
            "profile": prof and prof["result"],
            "profile_note": footnote(prof, prof_path),
            "eval_note": footnote(ev, eval_path),
        })
        if smokes:
            sp = record_path(records_dir, rep.name, "evaluate", True)
            srec = read_record(records_dir, rep.name, "evaluate", True)
            sprof = read_record(records_dir, rep.name, "profile", True)
            smoke_rows.append({
                "rep": rep,
                "rows": smokes,
                "subsets": _subsets(srec),
                "spread": _spread(srec),
                "note": footnote(srec, sp),
                "profile": sprof and sprof.get("status") == "ok" and sprof["result"],
                "train_time_s": _train_time(read_record(records_dir, rep.name, "train", True)),
            })
    return {
        "papers": list(papers.values()),
        "claims": check_claims(sorted(reps, key=lambda r: (r.paper.key, r.name)), records_dir),
        "smoke": smoke_rows,
        "summary": summarize(all_rows),
        "footnotes": footnotes,
        "selftests": _selftests(records_dir),
        "plot": PLOT_NAME,
        "NOT_RUN": NOT_RUN,
    }


def _subsets(rec: dict | None) -> list[dict]:
    """Every eval set a record scored (e.g. SViT's full val set and its box-filtered subset),
    the one the expected rows are checked on first."""
    if not rec or rec.get("status") != "ok":
        return []
    res = rec.get("result", {})
    subsets, chosen = res.get("subsets") or {}, res.get("report_subset")
    out = [{"name": name, "eval_size": s.get("eval_size"), "metrics": s.get("metrics", {}),
            "checked": name == chosen} for name, s in subsets.items()]
    return sorted(out, key=lambda s: (not s["checked"], s["name"]))


def _selftests(records_dir: Path) -> list[dict]:
    """The latest `selftest` record of each device kind (CUDA first), with item headlines."""
    import json

    from .selftest import headline, selftest_record_path

    out = []
    for kind in ("cuda", "cpu"):
        path = selftest_record_path(records_dir, kind)
        if not path.exists():
            continue
        rec = json.loads(path.read_text())
        git = rec.get("provenance", {}).get("git", {})
        out.append({**rec, "kind": kind,
                    "git": (git.get("sha") or "unknown")[:10] + (" (dirty)" if git.get("dirty")
                                                                 else ""),
                    "rows": [{**it, "headline": headline(it)} for it in rec.get("items", [])]})
    return out


def _spread(rec: dict | None) -> dict | None:
    """``run --seeds N`` records (harness/seeds.py): {"n", "std": {metric: std}, "values":
    {metric: [per-seed values]}}; None for a single run."""
    res = (rec or {}).get("result") or {}
    if rec is None or rec.get("status") != "ok" or not res.get("seeds"):
        return None
    values = {m: [s["metrics"].get(m) for s in res["seeds"]] for m in res.get("metrics", {})}
    return {"n": len(res["seeds"]), "std": res.get("metrics_std", {}), "values": values}


def _train_time(rec: dict | None) -> float | None:
    return rec.get("wall_time_s") if rec and rec.get("status") == "ok" else None


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _signed(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def render(reps: list[Reproduction], records_dir: Path, out_path: Path,
           template: Path = TEMPLATE) -> Path:
    from .atomic import write_text_atomic

    records_dir = check_records_dir(records_dir)
    out_path = Path(out_path)
    if out_path.is_dir() or file_in_the_way(out_path.parent) is not None:
        raise UserError(f"report file {out_path} (--out/--report): "
                        f"{'is a folder' if out_path.is_dir() else 'a parent is a file'}; "
                        f"give the markdown file to write, e.g. reports/results.md")
    skipped: list[str] = []
    ctx = build_context(reps, records_dir, skipped)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(template).parent)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["signed"] = _signed
    text = env.get_template(Path(template).name).render(**ctx)
    plot_accuracy_vs_gflops(ctx, out_path.parent / PLOT_NAME)
    write_text_atomic(out_path, text)
    if skipped:
        raise UserError(f"report written to {out_path} without {len(skipped)} corrupt "
                        f"record(s): {' | '.join(skipped)}")
    return out_path


def plot_accuracy_vs_gflops(ctx: dict, path: Path) -> Path:
    """Expected (hollow) and measured (filled) acc@1 against GFLOPs x views, per reproduction
    with a full-size profile record. Deterministic PNG: Agg backend, no metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import write_atomic

    points = []
    for paper in ctx["papers"]:
        for item in paper["reproductions"]:
            prof = item["profile"]
            if not prof:
                continue
            for row in item["rows"]:
                if row.metric == "acc@1":
                    points.append((item["rep"].name, prof["gmacs_x_views"], row.expected,
                                   row.measured))
                    break
    plt.rcParams.update({"svg.hashsalt": "0", "font.family": "DejaVu Sans"})
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    if points:
        for i, (name, g, exp, meas) in enumerate(sorted(points, key=lambda p: (p[1], p[2]))):
            ax.scatter([g], [exp], facecolors="none", edgecolors="C0")
            if meas is not None:
                ax.scatter([g], [meas], color="C1")
            # alternate label offsets so neighbours at the same compute stay legible
            ax.annotate(name, (g, exp), fontsize=7, xytext=(4, 3 if i % 2 else -9),
                        textcoords="offset points")
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no full-size profile records yet", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("GMACs x views (fvcore convention, reported as GFLOPs)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy vs compute: hollow = expected, filled = measured")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", metadata={"Software": None}))
    plt.close(fig)
    return path
