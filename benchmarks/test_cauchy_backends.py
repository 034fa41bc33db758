"""Cauchy kernel backends at a realistic S4 size (ViS4mer LVU layer 3: H=256 x 2x2 Woodbury
terms, N=32 modes, L/2+1=1478 nodes), forward and forward+backward.

Run: pytest benchmarks/test_cauchy_backends.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from reproducers.common.cauchy import available_backends, cauchy_conj

H, TERMS, N, NODES = 256, 4, 32, 1478
BACKENDS = available_backends()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CASES = [(b, d) for d in DEVICES for b in BACKENDS if not (b == "cuda" and d == "cpu")]


def _inputs(device: str, requires_grad: bool):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(H, 2, 2, N, dtype=torch.complex64, generator=g)
    w = torch.complex(-0.5 * torch.rand(H, 1, 1, N, generator=g),
                      torch.randn(H, 1, 1, N, generator=g)) * 0.01
    theta = torch.linspace(0, 3.14, NODES)
    z = torch.complex(torch.zeros(NODES), 2 * torch.tan(theta / 2))
    v, w, z = v.to(device), w.to(device), z.to(device)
    return v.requires_grad_(requires_grad), z, w.requires_grad_(requires_grad)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _info(benchmark, backend: str, device: str, mode: str) -> None:
    benchmark.extra_info.update({
        "backend": backend, "device": device, "mode": mode, "dtype": "complex64",
        "v_shape": [H, 2, 2, N], "w_shape": [H, 1, 1, N], "z_shape": [NODES],
        "rows": H * TERMS, "modes": N, "nodes": NODES,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
    })


@pytest.mark.parametrize("backend,device", CASES)
def test_cauchy_forward(benchmark, backend, device):
    v, z, w = _inputs(device, requires_grad=False)
    cauchy_conj(v, z, w, backend=backend)  # warm-up: keops/cuda compile on first use

    def run():
        out = cauchy_conj(v, z, w, backend=backend)
        _sync(device)
        return out

    _info(benchmark, backend, device, "forward")
    out = benchmark.pedantic(run, rounds=3 if device == "cpu" else 20, iterations=1)
    assert out.shape == (H, 2, 2, NODES) and torch.isfinite(torch.view_as_real(out)).all()


@pytest.mark.parametrize("backend,device", CASES)
def test_cauchy_forward_backward(benchmark, backend, device):
    v, z, w = _inputs(device, requires_grad=True)
    g = torch.randn(H, 2, 2, NODES, dtype=torch.complex64).to(device)

    def run():
        r = cauchy_conj(v, z, w, backend=backend)
        dv, dw = torch.autograd.grad((r * g.conj()).real.sum(), (v, w))
        _sync(device)
        return dv, dw

    run()  # warm-up
    _info(benchmark, backend, device, "forward+backward")
    dv, dw = benchmark.pedantic(run, rounds=3 if device == "cpu" else 20, iterations=1)
    assert dv.shape == v.shape and dw.shape == w.shape
