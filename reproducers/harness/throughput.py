"""Forward (and optional train-step) throughput of a model on one device, with its context.

Timing is wall clock around each iteration, with ``torch.cuda.synchronize`` before and after
on CUDA so that queued kernels are inside the interval. Speed targets belong in
``benchmarks/`` (pytest-benchmark); this function measures and describes, it never asserts.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

_LOW_PRECISION = {torch.bfloat16, torch.float16}
_DTYPE_NAMES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
                "float16": torch.float16, "half": torch.float16, "fp32": torch.float32,
                "float32": torch.float32, "fp64": torch.float64, "float64": torch.float64}


def measure_throughput(model: torch.nn.Module, inputs: Any, *, device: str | torch.device,
                       dtype: torch.dtype | str | None = None, warmup: int = 3, iters: int = 10,
                       train_step: bool = False) -> dict:
    """Time ``model(*inputs)`` (``inputs``: a tensor or a tuple of arguments; batch = first dim
    of the first tensor) on ``device``; the model is moved there in place.

    ``dtype``: bf16/fp16 run under autocast (fp32 weights and inputs, as in mixed-precision
    training); float32/float64 cast the model and floating inputs; None keeps them as they are.

    Returns clips_per_s (batch / mean forward time), ms_per_batch_mean, ms_per_batch_std,
    peak_memory_bytes (CUDA; None on CPU), and the context: device, device_name, dtype,
    autocast, batch_size, torch_version, cpu_threads, warmup, iters. With ``train_step``,
    also train_ms_per_step_mean/std, train_clips_per_s and train_peak_memory_bytes for
    forward + backward of a sum loss + an SGD step. The train step leaves the model as it
    was: its state (parameters and buffers) is snapshotted on the CPU and restored, training
    flags are restored and gradients cleared.
    """
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    dtype = _DTYPE_NAMES[dtype.lower()] if isinstance(dtype, str) else dtype
    use_autocast = dtype in _LOW_PRECISION
    cast = dtype if dtype is not None and not use_autocast else None
    model.to(device=device, dtype=cast)  # dtype=None: device only
    args = tuple(_to(x, device, cast) for x in (inputs if isinstance(inputs, tuple) else
                                                 (inputs,)))
    batch = _batch_size(args)

    def autocast() -> contextlib.AbstractContextManager:
        if use_autocast:
            return torch.autocast(device_type=device.type, dtype=dtype)
        return contextlib.nullcontext()

    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()

        def forward() -> None:
            with torch.no_grad(), autocast():
                model(*args)
        times, peak = _time(forward, device, warmup, iters)
        result = {
            "clips_per_s": batch / statistics.fmean(times),
            "ms_per_batch_mean": 1e3 * statistics.fmean(times),
            "ms_per_batch_std": 1e3 * statistics.pstdev(times),
            "peak_memory_bytes": peak,
            "device": str(device),
            "device_name": _device_name(device),
            "dtype": str(dtype or _param_dtype(model)).replace("torch.", ""),
            "autocast": use_autocast,
            "batch_size": batch,
            "torch_version": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "warmup": warmup,
            "iters": iters,
        }
        if train_step:
            result.update(_train_step(model, args, device, autocast, warmup, iters, batch))
    finally:
        for m, training in flags:
            m.training = training
    return result


def _train_step(model: torch.nn.Module, args: tuple, device: torch.device,
                autocast: Callable[[], Any], warmup: int, iters: int, batch: int) -> dict:
    """Forward + backward of ``sum(outputs)`` + SGD step; no GradScaler (timing only)."""
    saved = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3) if params else None
    model.train()

    def step() -> None:
        with autocast():
            loss = _sum_outputs(model(*args))
        loss.backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    try:
        times, peak = _time(step, device, warmup, iters)
    finally:
        model.load_state_dict(saved)
        for p in model.parameters():
            p.grad = None
    return {"train_clips_per_s": batch / statistics.fmean(times),
            "train_ms_per_step_mean": 1e3 * statistics.fmean(times),
            "train_ms_per_step_std": 1e3 * statistics.pstdev(times),
            "train_peak_memory_bytes": peak}


def _time(fn: Callable[[], None], device: torch.device, warmup: int,
          iters: int) -> tuple[list[float], int | None]:
    cuda = device.type == "cuda"
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(max(1, iters)):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return times, torch.cuda.max_memory_allocated(device) if cuda else None


def _to(x: Any, device: torch.device, dtype: torch.dtype | None) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype) if dtype and x.is_floating_point() \
            else x.to(device)
    return x


def _batch_size(args: tuple) -> int:
    for x in args:
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            return x.shape[0]
    raise ValueError("measure_throughput: no tensor input with a batch dimension")


def _sum_outputs(out: Any) -> torch.Tensor:
    leaves = [t for t in torch.utils._pytree.tree_leaves(out)
              if isinstance(t, torch.Tensor) and t.is_floating_point()]
    return sum(t.float().sum() for t in leaves)


def _param_dtype(model: torch.nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters()), torch.float32)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
