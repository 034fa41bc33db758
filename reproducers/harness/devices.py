"""``--device``: a device this machine has, checked before any stage runs."""

from __future__ import annotations

from .errors import UserError


def check_device(spec: str) -> str:
    """``spec`` if torch can use it here (cpu, cuda, cuda:N, mps), else a one-line UserError."""
    import torch

    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {spec}: not a device; use cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return spec
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise UserError(f"--device {spec}: this machine has no CUDA device; use --device cpu")
        if dev.index is not None and dev.index >= n:
            raise UserError(f"--device {spec}: this machine has {n} CUDA device(s) "
                            f"(cuda:0..cuda:{n - 1})")
        return spec
    if dev.type == "mps" and torch.backends.mps.is_available():
        return spec
    raise UserError(f"--device {spec}: not available here; use cpu or cuda")
