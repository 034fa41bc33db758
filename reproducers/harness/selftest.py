"""Device self-test: every device path of the project in one call, each item timed.

``python -m reproducers selftest --device cuda|cpu [--json] [--out FILE]`` (``nox -s gpu``)
runs the items below in order. A failing item is recorded with its one-line error and the
next one runs; the command exits 1 when any item failed. On CUDA the models are full size
(the whole run is meant to fit in 8 minutes on one GPU); on the CPU every item runs at smoke
size (reduced models, small inputs; under 2 minutes on 2 cores), which a test runs so that the
command cannot rot.

- ``cauchy``: the S4 Cauchy kernel at the LVU size (256 x 2 x 2 rows, 32 modes, 1478
  nodes): our JIT-built CUDA extension against its pure-torch twin (relative difference of
  the forward and of both gradients), and forward + backward time of each backend (torch,
  keops, cuda) on the device;
- ``train:<paper>/<model>`` for one reproduction per distinct model of every declared paper:
  one training step at the recipe's per-GPU batch with the recipe's precision (AMP where it
  trains with AMP: fp16 + GradScaler), forward, backward, optimizer step, as the paper's
  ``SelfTestHooks`` declare it (generic: the mean of the outputs of ``example_input``);
  peak memory (``torch.cuda.max_memory_allocated``) and clips/s;
- ``eval:<paper>/<model>``: one evaluation batch with the protocol's views, no grad;
- the checks papers declare (``SelfTestHooks.checks``, e.g. streaming over many frames);
- ``compile``: the probe model's forward eager and with ``torch.compile`` (time, compile
  time, max abs difference);
- ``distributed``: two processes on the one device started by torchrun, the run path's
  process group (NCCL on CUDA, gloo on the CPU), two DDP steps of ``fit`` and
  ``distributed_evaluate`` (``selftest_dist.py``); on CUDA, if NCCL fails, the same over
  gloo with CUDA tensors is recorded beside the error.

The JSON lists every item: name, status (ok / failed / skipped), seconds, figures, error.
It is also written as ``<records>/selftest/<cpu|cuda>.json`` with provenance, which the
report shows. Nothing here names a paper: papers are discovered, and a paper that cannot be
imported is itself a failed item.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .declarations import Reproduction, SelfTestHooks
from .knobs import option

LVU_SIZE = {"heads": 256, "terms": 4, "modes": 32, "nodes": 1478}
SMOKE_CAUCHY = {"heads": 8, "terms": 4, "modes": 16, "nodes": 128}
SMOKE_BATCH = 2
DEFAULT_BUDGET_S = {"cuda": 480.0, "cpu": 300.0}
GIB = 2**30


class ItemFailed(Exception):
    """An item that failed but measured something worth keeping (``figures``)."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


@dataclass
class Item:
    name: str
    status: str = "ok"  # ok | failed | skipped
    seconds: float = 0.0
    figures: dict = field(default_factory=dict)
    error: str | None = None


def one_line(exc: BaseException) -> str:
    """``Type: first meaningful line`` of an exception (NCCL and CUDA put it further down)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    key = next((ln for ln in lines if "Last error" in ln or "error:" in ln.lower()), None)
    text = lines[0] if lines else ""
    if key and key != text:
        idx = lines.index(key)
        key = lines[idx + 1] if key.endswith(":") and idx + 1 < len(lines) else key
        text = f"{text} ... {key}"
    return f"{type(exc).__name__}: {text}"[:400]


# ------------------------------------------------------------------ timing helpers


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    import torch

    if torch.device(device).type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / GIB, 3)


def _release(device) -> None:
    import gc

    import torch

    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def _timed(fn: Callable[[], object], device, repeats: int = 1) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls (synchronised) and the last result."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _autocast(device, amp: str | None):
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp or "")
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


# ------------------------------------------------------------------ discovery


def reproductions() -> tuple[list[Reproduction], dict[str, str]]:
    """Every declared reproduction, and {paper package: one-line import error}: a paper that
    fails to import (a missing optional dependency) becomes a failed item, not a crash."""
    from .registry import paper_packages

    reps, failed = [], {}
    for pkg in paper_packages():
        try:
            module = importlib.import_module(f"reproducers.{pkg}")
        except Exception as exc:  # noqa: BLE001 - any import failure is reported
            failed[pkg] = one_line(exc)
            continue
        reps.extend(getattr(module, "REPRODUCTIONS", []))
    return reps, failed


def distinct_models(reps: list[Reproduction]) -> list[Reproduction]:
    """The first reproduction of each (paper, model name): one full-size check per model."""
    seen, out = set(), []
    for rep in reps:
        key = (rep.paper.key, rep.model.name)
        if key not in seen:
            seen.add(key)
            out.append(rep)
    return out


def _hooks(rep: Reproduction) -> SelfTestHooks:
    return getattr(rep, "selftest", None) or SelfTestHooks()


def _label(rep: Reproduction) -> str:
    return f"{rep.paper.key}/{rep.model.name}"


def _setup(rep: Reproduction, smoke: bool):
    cfg = dict(rep.model.smoke if smoke else rep.model.full)
    recipe = rep.smoke_recipe if smoke else rep.recipe
    hooks = _hooks(rep)
    if smoke:
        batch = SMOKE_BATCH
    else:
        batch = hooks.batch_per_gpu or max(1, math.ceil(recipe.batch_size / max(1, recipe.gpus)))
    return cfg, recipe, hooks, batch


def amp_for(recipe, device) -> str | None:
    """The recipe's mixed precision ("fp16" / "bf16") on CUDA; fp32 on the CPU."""
    import torch

    return option(recipe.options, "amp") if torch.device(device).type == "cuda" else None


def _inputs(rep: Reproduction, cfg: dict, batch: int, device) -> tuple:
    x = rep.model.example_input(cfg, batch)
    args = x if isinstance(x, tuple) else (x,)
    return tuple(a.to(device) if hasattr(a, "to") else a for a in args)


# ------------------------------------------------------------------ items


def cauchy_item(device: str, smoke: bool, log) -> dict:
    import torch

    from reproducers.common import cauchy

    size = SMOKE_CAUCHY if smoke else LVU_SIZE
    h, terms, n, nodes = size["heads"], size["terms"], size["modes"], size["nodes"]
    g = torch.Generator().manual_seed(0)
    v = torch.randn(h, 2, 2, n, dtype=torch.complex64, generator=g)
    w = torch.complex(-0.5 * torch.rand(h, 1, 1, n, generator=g),
                      torch.randn(h, 1, 1, n, generator=g)) * 0.01
    theta = torch.linspace(0, 3.14, nodes)
    z = torch.complex(torch.zeros(nodes), 2 * torch.tan(theta / 2))
    grad = torch.randn(h, 2, 2, nodes, dtype=torch.complex64, generator=g)
    v, w, z, grad = (t.to(device) for t in (v, w, z, grad))
    cuda = torch.device(device).type == "cuda"
    out: dict = {"size": {**size, "rows": h * terms}, "dtype": "complex64", "backends": {}}

    def fwd_bwd(backend):
        vv, ww = v.clone().requires_grad_(True), w.clone().requires_grad_(True)
        r = cauchy.cauchy_conj(vv, z, ww, backend=backend)
        dv, dw = torch.autograd.grad((r * grad.conj()).real.sum(), (vv, ww))
        return r.detach(), dv, dw

    backends = ["torch"]
    if cuda:
        t0 = time.perf_counter()
        try:
            cauchy.build_cuda_extension()
            out["cuda_build_s"] = round(time.perf_counter() - t0, 1)
            backends.append("cuda")
        except Exception as exc:  # noqa: BLE001
            out["cuda_build_error"] = one_line(exc)
    if "keops" in _keops_backends(cauchy):
        if smoke:
            out["keops"] = "skipped at smoke size (compiles with g++ for minutes on a CPU)"
        else:
            backends.append("keops")
    ref = fwd_bwd("torch")
    repeats = 3 if smoke else 10
    for b in backends:
        log(f"  cauchy: {b} backend ...")
        first, res = _timed(lambda b=b: fwd_bwd(b), device)  # keops/cuda: first use compiles
        sec, res = _timed(lambda b=b: fwd_bwd(b), device, repeats)
        entry = {"fwd_bwd_ms": round(1e3 * sec, 3), "first_call_s": round(first, 3)}
        if b != "torch":
            pairs = list(zip(("forward", "grad_v", "grad_w"), res, ref, strict=True))
            entry["max_abs_diff_vs_torch"] = {
                name: float((a - r).abs().max()) for name, a, r in pairs}
            entry["max_rel_diff_vs_torch"] = {  # relative to the largest magnitude
                name: float((a - r).abs().max() / r.abs().max().clamp_min(1e-30))
                for name, a, r in pairs}
        out["backends"][b] = entry
    if not cuda:  # the twin itself against the dense definition
        dense = cauchy.cauchy_conj_reference(v, z, w)
        out["torch_vs_dense_max_abs_diff"] = float((ref[0] - dense).abs().max())
        out["max_abs_dense"] = float(dense.abs().max())
    if cuda and "cuda" not in out["backends"]:
        raise ItemFailed(f"cuda backend unavailable: {out.get('cuda_build_error')}", out)
    if cuda:
        rel = out["backends"]["cuda"]["max_rel_diff_vs_torch"]
        if not max(rel.values()) < 1e-4:  # complex64: both sum 2N terms in float32
            raise ItemFailed(f"cuda kernel disagrees with the torch twin: relative {rel}", out)
    return out


def _keops_backends(cauchy) -> list[str]:
    return ["keops"] if cauchy._keops_importable() else []


def train_item(rep: Reproduction, device: str, smoke: bool, log) -> dict:
    import torch

    cfg, recipe, hooks, batch = _setup(rep, smoke)
    cuda = torch.device(device).type == "cuda"
    amp = amp_for(recipe, device)
    torch.manual_seed(0)
    model = rep.model.factory(**cfg).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    if hooks.optimizer is not None:
        opt = hooks.optimizer(model, recipe)
    else:
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                lr=recipe.lr, weight_decay=recipe.weight_decay)
    if hooks.train_steps is not None:
        steps = hooks.train_steps(model, cfg, recipe, batch, device)
    else:
        from .selftest_dist import mean_outputs

        args = _inputs(rep, cfg, batch, device)
        steps = [[lambda m: mean_outputs(m(*args))]]
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=amp == "fp16",
                                  init_scale=hooks.grad_scaler_init or 65536.0)
    clip = option(recipe.options, "grad_clip")
    skipped = [0]  # optimizer steps the GradScaler skipped (inf/NaN gradients)

    def sequence():
        losses = []
        skipped[0] = 0
        for step in steps:
            for loss_fn in step:
                with _autocast(device, amp):
                    loss = loss_fn(model)
                scaler.scale(loss).backward()
                losses.append(loss.detach().float())
            if clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            scale = scaler.get_scale() if scaler.is_enabled() else None
            scaler.step(opt)
            scaler.update()
            if scale is not None and scaler.get_scale() < scale:
                skipped[0] += 1
            opt.zero_grad(set_to_none=True)
        if hooks.reset is not None:
            hooks.reset(model)
        return [float(x) for x in losses]

    warm = 0
    if cuda:  # first step: cuDNN autotuning, allocator growth, optimizer state
        warm_s, _ = _timed(sequence, device)
        warm = 1
    _reset_peak(device)
    sec, losses = _timed(sequence, device)
    if not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"non-finite training loss {losses}")
    out = {"reproduction": rep.name, "config": "smoke" if smoke else "full",
           "params": params, "amp": amp or "none (fp32)", "grad_scaler": amp == "fp16",
           "batch": batch, "optimizer_steps": len(steps),
           "backward_passes": sum(len(s) for s in steps), "step_s": round(sec, 4),
           "clips_per_s": round(batch / sec, 3), "peak_memory_gib": _peak_gib(device),
           "losses": [round(x, 5) for x in losses], "warmup_sequences": warm}
    if warm:
        out["first_step_s"] = round(warm_s, 3)
    if clip:
        out["grad_clip"] = clip
    if scaler.is_enabled():
        out["grad_scale"] = scaler.get_scale()
        out["steps_skipped_by_scaler"] = skipped[0]
    return out


def eval_item(rep: Reproduction, device: str, smoke: bool, log) -> dict:
    import torch

    cfg, recipe, hooks, batch = _setup(rep, smoke)
    cuda = torch.device(device).type == "cuda"
    amp = amp_for(rep.recipe, device)
    views = rep.protocol.views
    torch.manual_seed(0)
    model = rep.model.factory(**cfg).to(device).eval()
    if hooks.eval_batch is not None:
        fn, clips = hooks.eval_batch(model, cfg, batch, views, device)
    else:
        args = _inputs(rep, cfg, batch * views, device)
        fn, clips = (lambda: model(*args)), batch

    @torch.no_grad()
    def run():
        with _autocast(device, amp):
            return fn()

    if cuda:
        run()
    _reset_peak(device)
    sec, _ = _timed(run, device, repeats=3 if cuda else 1)
    out = {"reproduction": rep.name, "config": "smoke" if smoke else "full",
           "amp": amp or "none (fp32)", "clips": clips, "views_per_clip": views,
           "protocol": f"{rep.protocol.temporal_clips} clip(s) x {rep.protocol.spatial_crops} "
                       f"crop(s)", "batch_s": round(sec, 4),
           "clips_per_s": round(clips / sec, 3), "peak_memory_gib": _peak_gib(device)}
    return out


def compile_item(rep: Reproduction, device: str, smoke: bool, log) -> dict:
    import torch

    cfg = dict(rep.model.smoke if smoke else rep.model.full)
    cuda = torch.device(device).type == "cuda"
    # inductor: Triton kernels on CUDA, C++ on the CPU (about 30 s cold on 2 cores);
    # REPRODUCERS_COMPILE_BACKEND=aot_eager checks graph capture without code generation
    backend = os.environ.get("REPRODUCERS_COMPILE_BACKEND", "inductor")
    torch.manual_seed(0)
    model = rep.model.factory(**cfg).to(device).eval()
    args = _inputs(rep, cfg, 1, device)
    repeats = 5 if cuda else 2

    @torch.no_grad()
    def eager():
        return model(*args)

    compiled_model = torch.compile(model, backend=backend)

    @torch.no_grad()
    def compiled():
        return compiled_model(*args)

    eager()
    eager_s, ref = _timed(eager, device, repeats)
    compile_s, _ = _timed(compiled, device)
    comp_s, out = _timed(compiled, device, repeats)
    from .selftest_dist import _leaf

    diff = float((_leaf(out).float() - _leaf(ref).float()).abs().max())
    result = {"reproduction": rep.name, "config": "smoke" if smoke else "full",
              "backend": backend, "batch": 1, "eager_ms": round(1e3 * eager_s, 3),
              "compiled_ms": round(1e3 * comp_s, 3), "speedup": round(eager_s / comp_s, 3),
              "first_call_s": round(compile_s, 2), "max_abs_diff": diff}
    scale = max(1.0, float(_leaf(ref).float().abs().max()))
    if not diff <= 1e-2 * scale:
        raise AssertionError(f"compiled output differs from eager by {diff}")
    torch._dynamo.reset()
    return result


def distributed_item(rep: Reproduction, device: str, smoke: bool, log,
                     timeout_s: float = 120.0) -> dict:
    import torch

    first = _torchrun(rep, device, None, timeout_s)
    if first.get("error") is None:
        return first
    if torch.device(device).type != "cuda":
        raise ItemFailed(first["error"], first)
    log("  distributed: NCCL failed; the same over gloo with CUDA tensors ...")
    fallback = _torchrun(rep, device, "gloo", timeout_s)
    raise ItemFailed(first["error"], {"nccl": first, "gloo_on_cuda": fallback})


def _torchrun(rep: Reproduction, device: str, backend: str | None, timeout_s: float) -> dict:
    from .provenance import REPO_ROOT

    with tempfile.TemporaryDirectory(prefix="selftest-dist-") as tmp:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "reproducers.harness.selftest_dist",
               "--package", rep.paper.key, "--reproduction", rep.name, "--device", device,
               "--workdir", tmp]
        if backend:
            cmd += ["--backend", backend]
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
        t0 = time.perf_counter()
        # own process group, so a hung worker (e.g. a collective that never completes) is
        # killed with torchrun and does not keep the device
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO_ROOT, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return {"error": f"torchrun did not finish within {timeout_s:.0f} s: "
                             f"{_last_error(output)}"}
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): take the workers along
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        wall = round(time.perf_counter() - t0, 2)
        result = Path(tmp) / "result.json"
        if proc.returncode != 0 or not result.exists():
            return {"error": f"torchrun exit {proc.returncode}: {_last_error(output)}",
                    "wall_s": wall}
        out = json.loads(result.read_text())
    out["wall_s"] = wall
    if not out["params_equal_on_ranks"]:
        out["error"] = "parameters differ between ranks after the DDP steps"
    elif out["eval_max_abs_diff_vs_one_process"] > 1e-4:
        out["error"] = "distributed_evaluate differs from one process"
    return out


_EXCEPTION_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?[\w.]*(?:Error|Exception|Warning)\b.*:")


def _last_error(text: str) -> str:
    """The workers' own error in torchrun's output (not its ChildFailedError summary)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for marker in ("Duplicate GPU", "Last error"):
        hits = [ln for ln in lines if marker in ln]
        if hits:
            return hits[-1][:400]
    hits = [ln for ln in lines if _EXCEPTION_LINE.match(ln) and "ChildFailedError" not in ln
            and "Warning" not in ln.split(":")[0]]
    if hits:
        return hits[-1][:400]
    return lines[-1][:400] if lines else "(no output)"


# ------------------------------------------------------------------ the run


def plan(device: str, smoke: bool, log) -> list[tuple[str, Callable[[], dict]]]:
    """(item name, fn) in run order (see the module doc)."""
    reps, failed = reproductions()
    items: list[tuple[str, Callable[[], dict]]] = []
    for pkg, err in failed.items():
        items.append((f"import:{pkg}", lambda err=err: (_ for _ in ()).throw(ImportError(err))))
    items.append(("cauchy", lambda: cauchy_item(device, smoke, log)))
    models = distinct_models(reps)
    for rep in models:
        items.append((f"train:{_label(rep)}", lambda r=rep: train_item(r, device, smoke, log)))
        items.append((f"eval:{_label(rep)}", lambda r=rep: eval_item(r, device, smoke, log)))
    for rep in models:
        for name, check in _hooks(rep).checks.items():
            items.append((name, lambda c=check: c(device, smoke, log)))
    probe = next((r for r in models if _hooks(r).probe), models[0] if models else None)
    if probe is not None:
        items.append(("compile", lambda: compile_item(probe, device, smoke, log)))
        items.append(("distributed", lambda: distributed_item(probe, device, smoke, log)))
    return items


def run_selftest(device: str, *, smoke: bool | None = None, log=print,
                 budget_s: float | None = None, only: list[str] | None = None,
                 on_item: Callable[[dict], None] | None = None) -> dict:
    """Run every item (``only``: names or name prefixes to keep) and return the summary.
    ``on_item(summary so far)`` after each item (status "running" until the end), so that a
    run killed from outside still leaves the items it finished."""
    import torch

    from .errors import UserError
    from .provenance import device_info

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is visible to torch "
                        f"{torch.__version__} (CUDA {torch.version.cuda}); use --device cpu")
    if dev.type not in ("cuda", "cpu"):
        raise UserError(f"--device {device}: use cuda, cuda:N or cpu")
    if dev.type == "cuda":
        if dev.index is not None:
            torch.cuda.set_device(dev.index)
        device = f"cuda:{torch.cuda.current_device()}"
    smoke = dev.type == "cpu" if smoke is None else smoke
    budget = DEFAULT_BUDGET_S[dev.type] if budget_s is None else budget_s
    start = time.perf_counter()
    items: list[Item] = []
    info = device_info(device)
    head = {
        "device": device, "device_name": info.get("name"), "smoke": smoke,
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "gpu_memory_gib": round(torch.cuda.get_device_properties(dev).total_memory / GIB, 1)
        if dev.type == "cuda" else None,
        "threads": info.get("threads"), "budget_s": budget,
    }

    def summary(final: bool) -> dict:
        counts = {s: sum(i.status == s for i in items) for s in ("ok", "failed", "skipped")}
        status = "ok" if counts["failed"] == 0 and counts["skipped"] == 0 else "failed"
        return {**head, "wall_time_s": round(time.perf_counter() - start, 2),
                "status": status if final else "running", "counts": counts,
                "items": [asdict(i) for i in items]}

    log(f"selftest on {info.get('name')} ({'smoke' if smoke else 'full'} size, "
        f"budget {budget:.0f} s)")
    for name, fn in plan(device, smoke, log):
        if only and not any(name == o or name.startswith(o) for o in only):
            continue
        elapsed = time.perf_counter() - start
        if elapsed > budget:
            items.append(Item(name, "skipped", error=f"not started: {elapsed:.0f} s spent of "
                                                     f"the {budget:.0f} s budget"))
            log(f"[skipped] {name}: over budget")
            continue
        log(f"[{len(items) + 1}] {name} ...")
        t0 = time.perf_counter()
        try:
            figures = fn()
            item = Item(name, "ok", figures=figures)
        except ItemFailed as exc:
            item = Item(name, "failed", figures=exc.figures, error=str(exc)[:400])
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, the run goes on
            item = Item(name, "failed", error=one_line(exc))
        _release(device)  # the item's models and tensors are gone with its frame
        item.seconds = round(time.perf_counter() - t0, 2)
        items.append(item)
        log(f"    {item.status} in {item.seconds:.1f} s" + (f": {item.error}" if item.error
                                                             else ""))
        if on_item is not None:
            on_item(summary(final=False))
    return summary(final=True)


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to stdout (Python prints and file descriptor 1: pykeops and
    compiler messages) to stderr, so that ``--json`` output stays parseable."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def selftest_record_path(records_dir: Path, device_type: str) -> Path:
    return Path(records_dir) / "selftest" / f"{device_type}.json"


def write_selftest_record(records_dir: Path, summary: dict) -> Path:
    """The summary with provenance, atomically, as ``<records>/selftest/<cpu|cuda>.json``."""
    from .atomic import write_json_atomic
    from .provenance import provenance

    kind = summary["device"].split(":")[0]
    record = {"stage": "selftest", "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                               time.gmtime()),
              "provenance": provenance(summary["device"], None, {"smoke": summary["smoke"]},
                                       None), **summary}
    return write_json_atomic(selftest_record_path(records_dir, kind), record)


def _g(x, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def headline(item: dict) -> str:
    """The figures of one item in a few words (terminal summary and report)."""
    f, name = item.get("figures") or {}, item["name"]
    if item.get("error"):
        return item["error"]
    if name == "cauchy":
        parts = []
        for b, e in f.get("backends", {}).items():
            text = f"{b} {_g(e['fwd_bwd_ms'])} ms"
            if "max_rel_diff_vs_torch" in e:
                text += f" (max rel diff vs torch {_g(max(e['max_rel_diff_vs_torch'].values()))})"
            parts.append(text)
        size = f.get("size", {})
        return (f"fwd+bwd at {size.get('rows')} rows x {size.get('modes')} modes x "
                f"{size.get('nodes')} nodes: " + ", ".join(parts)
                + (f"; cuda build {f['cuda_build_s']} s" if "cuda_build_s" in f else ""))
    if name == "compile":
        return (f"{f.get('backend')}: {_g(f.get('speedup'))}x (eager {_g(f.get('eager_ms'))} ms, "
                f"compiled {_g(f.get('compiled_ms'))} ms, first call {f.get('first_call_s')} s)")
    if name == "distributed":
        return (f"{f.get('world_size')} processes, {f.get('backend')}, "
                f"{f.get('optimizer_steps')} DDP steps, params equal on ranks: "
                f"{f.get('params_equal_on_ranks')}, eval diff vs one process "
                f"{_g(f.get('eval_max_abs_diff_vs_one_process'))}")
    parts = []
    if "clips_per_s" in f:
        parts.append(f"{_g(f['clips_per_s'])} clips/s")
    if "frames_per_s" in f:
        parts.append(f"{_g(f['frames_per_s'])} frames/s over {f.get('frames')} frames, "
                     f"{f.get('memory_entries')}-entry memory")
    if f.get("peak_memory_gib") is not None:
        parts.append(f"peak {_g(f['peak_memory_gib'])} GiB")
    if "amp" in f:
        parts.append(f["amp"] + (" + GradScaler" if f.get("grad_scaler") else ""))
    if "batch" in f:
        parts.append(f"batch {f['batch']}")
    if "clips" in f:
        parts.append(f"{f['clips']} clip(s) x {f.get('views_per_clip')} view(s)")
    if "config" in f:
        parts.append(f"{f['config']} size")
    return ", ".join(parts) or ", ".join(f"{k} {_g(v)}" for k, v in f.items()
                                         if isinstance(v, int | float | str))


def format_summary(summary: dict) -> str:
    """One line per item: status, seconds, the headline figures or the error."""
    lines = [f"selftest {summary['status'].upper()} on {summary['device_name']} "
             f"({summary['device']}, {'smoke' if summary['smoke'] else 'full'} size): "
             f"{summary['counts']['ok']} ok, {summary['counts']['failed']} failed, "
             f"{summary['counts']['skipped']} skipped in {summary['wall_time_s']:.1f} s"]
    for it in summary["items"]:
        lines.append(f"  {it['status']:<7} {it['seconds']:>7.1f} s  {it['name']}: "
                     f"{headline(it)}")
    return "\n".join(lines)
