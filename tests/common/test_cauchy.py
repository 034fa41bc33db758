"""Cauchy kernel backends: agreement, gradients, bounded memory, CUDA build."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest
import torch

from reproducers.common import cauchy as C

HAS_CUDA = torch.cuda.is_available()
HAS_KEOPS = C._keops_importable()


def _problem(rows=(3, 2, 2), n=32, length=97, dtype=torch.complex64, device="cpu", seed=0):
    """S4-like inputs: v (rows, N), w (rows[0], 1, 1, N) with Re w < 0, z on the imaginary axis."""
    g = torch.Generator().manual_seed(seed)
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    v = torch.randn(*rows, n, dtype=dtype, generator=g)
    w = torch.complex(-0.5 * torch.rand(rows[0], 1, 1, n, dtype=real, generator=g),
                      10 * torch.randn(rows[0], 1, 1, n, dtype=real, generator=g))
    theta = torch.linspace(0, 3.1, length, dtype=real)
    z = torch.complex(torch.zeros_like(theta), 2 * torch.tan(theta / 2)).to(dtype)
    return v.to(device), z.to(device), (w * 0.05).to(device)


def _reference(v, z, w):
    vb, wb = torch.broadcast_tensors(v, w)
    return C.cauchy_conj_reference(vb.to(torch.complex128), z.to(torch.complex128),
                                   wb.to(torch.complex128))


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_definition_on_a_hand_example():
    v = torch.tensor([[1 + 2j]], dtype=torch.complex128)
    w = torch.tensor([[-0.5 + 1j]], dtype=torch.complex128)
    z = torch.tensor([0.3j, 2.0j], dtype=torch.complex128)
    want = [complex(v[0, 0] / (zk - w[0, 0]) + v[0, 0].conj() / (zk - w[0, 0].conj())) for zk in z]
    got = C.cauchy_conj(v, z, w, backend="torch")
    assert got.shape == (1, 2)
    torch.testing.assert_close(got[0], torch.tensor(want, dtype=torch.complex128), rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.complex64, 1e-5), (torch.complex128, 1e-12)])
def test_torch_chunked_matches_unchunked(dtype, tol):
    v, z, w = _problem(dtype=dtype)
    ref = _reference(v, z, w)
    for chunk_bytes in (1, 10_000, None):
        got = C.cauchy_conj(v, z, w, backend="torch", chunk_bytes=chunk_bytes)
        assert got.shape == (3, 2, 2, 97) and got.dtype == dtype
        assert _rel(got.to(torch.complex128), ref) < tol


def test_chunking_really_splits_and_bounds_work(monkeypatch):
    rows, n, length = 4096, 32, 5911  # LVU layer 1: H=1024 x 2x2 Woodbury terms
    chunk = C.torch_chunk_len(rows, n, length, 8)
    assert 1 < chunk < length
    assert chunk * rows * n * 8 * C._LIVE_TEMPORARIES <= C.DEFAULT_CHUNK_BYTES
    # a small budget on a small problem: several chunks, each within budget, same result
    v, z, w = _problem(length=301)
    seen = []
    orig = C._fwd_chunk
    monkeypatch.setattr(C, "_fwd_chunk", lambda *a: seen.append(a[-1].shape[1]) or orig(*a))
    budget = 12 * 32 * 8 * C._LIVE_TEMPORARIES * 10  # 10 nodes per chunk
    got = C.cauchy_conj(v, z, w, backend="torch", chunk_bytes=budget)
    assert seen == [10] * 30 + [1]
    assert _rel(got.to(torch.complex128), _reference(v, z, w)) < 1e-5


_MEM_SCRIPT = """
import json, resource, torch
from reproducers.common.cauchy import cauchy_conj
torch.manual_seed(0)
rows, n, length = 512, 32, 5911
v = torch.randn(rows, n, dtype=torch.complex64, requires_grad=True)
w = torch.complex(-0.5 * torch.rand(rows, n), torch.randn(rows, n)).requires_grad_()
z = torch.complex(torch.zeros(length), torch.linspace(0, 50, length))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = cauchy_conj(v, z, w, backend="torch", chunk_bytes=64 * 2**20)
r.abs().sum().backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024}))
"""


def test_torch_backend_memory_is_bounded_forward_and_backward():
    """512 x 5911 x 32 complex64 terms: ~3.1 GB if materialised with 4 temporaries; the
    chunked autograd Function (64 MB budget) must stay far below that in fwd + bwd."""
    out = subprocess.run([sys.executable, "-c", _MEM_SCRIPT], capture_output=True, text=True,
                         check=True, timeout=300)
    rss = json.loads(out.stdout.strip().splitlines()[-1])
    assert rss["peak_mb"] - rss["base_mb"] < 600, rss


def test_torch_gradcheck_complex128():
    v, z, w = _problem(rows=(2, 1, 3), n=5, length=7, dtype=torch.complex128)
    v.requires_grad_(True)
    w.requires_grad_(True)
    fn = lambda a, b: C.cauchy_conj(a, z, b, backend="torch", chunk_bytes=1)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (v, w), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_torch_backward_matches_autograd_of_reference():
    v, z, w = _problem(rows=(4, 2, 2), n=16, length=33, dtype=torch.complex128)
    v.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(4, 2, 2, 33, dtype=torch.complex128)
    ours = torch.autograd.grad((C.cauchy_conj(v, z, w, "torch", chunk_bytes=500) * g.conj())
                               .real.sum(), (v, w))
    vb, wb = torch.broadcast_tensors(v, w)
    ref = torch.autograd.grad((C.cauchy_conj_reference(vb, z, wb) * g.conj()).real.sum(), (v, w))
    for a, b in zip(ours, ref, strict=True):
        assert a.shape == b.shape
        assert _rel(a, b) < 1e-12


@pytest.mark.skipif(not HAS_KEOPS, reason="pykeops not importable")
@pytest.mark.parametrize("dtype,tol", [(torch.complex64, 1e-5), (torch.complex128, 1e-12)])
def test_keops_matches_torch_forward_and_backward(dtype, tol):
    v, z, w = _problem(rows=(2, 2, 2), n=32, length=65, dtype=dtype)
    v.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(2, 2, 2, 65, dtype=dtype)
    outs = {}
    for backend in ("torch", "keops"):
        r = C.cauchy_conj(v, z, w, backend=backend)
        outs[backend] = (r, *torch.autograd.grad((r * g.conj()).real.sum(), (v, w)))
    for a, b in zip(outs["keops"], outs["torch"], strict=True):
        assert _rel(a.detach(), b.detach()) < tol


def test_dispatch_rules():
    assert "torch" in C.available_backends()
    assert C._resolve("auto", torch.device("cpu")) == "torch"
    v, z, w = _problem(length=5)
    with pytest.raises(ValueError):
        C.cauchy_conj(v, z, w, backend="nope")
    with pytest.raises(TypeError):
        C.cauchy_conj(v.real, z, w.real)
    if not HAS_CUDA:
        with pytest.raises(RuntimeError):
            C.cauchy_conj(v, z, w, backend="cuda")


def test_flop_handle_counts_macs():
    from fvcore.nn import FlopCountAnalysis

    class Wrap(torch.nn.Module):
        def forward(self, vr, wr, zr):
            return torch.view_as_real(C.cauchy_conj(torch.view_as_complex(vr), torch.view_as_complex(zr),
                                                    torch.view_as_complex(wr), backend="torch"))

    rows, n, length = 6, 8, 11
    vr, wr, zr = torch.randn(rows, n, 2), torch.randn(rows, n, 2), torch.randn(length, 2)
    fca = FlopCountAnalysis(Wrap(), (vr, wr, zr))
    for name, handle in C.CAUCHY_FLOP_HANDLES.items():
        fca.set_op_handle(name, handle)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert fca.total() == 8 * rows * n * length  # fvcore reports it as "PythonOp.CauchyConjTorch"
    assert fca.by_operator()["PythonOp.CauchyConjTorch"] == 8 * rows * n * length


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("backend", ["cuda", "keops"])
@pytest.mark.parametrize("dtype,tol", [(torch.complex64, 1e-5), (torch.complex128, 1e-12)])
def test_gpu_backends_match_torch(backend, dtype, tol):
    if backend not in C.available_backends():
        pytest.skip(f"{backend} backend not available")
    v, z, w = _problem(rows=(8, 2, 2), n=32, length=1478, dtype=dtype, device="cuda")
    v.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(8, 2, 2, 1478, dtype=dtype, device="cuda")
    outs = {}
    for b in ("torch", backend):
        r = C.cauchy_conj(v, z, w, backend=b)
        outs[b] = (r, *torch.autograd.grad((r * g.conj()).real.sum(), (v, w)))
    for a, b in zip(outs[backend], outs["torch"], strict=True):
        assert _rel(a.detach(), b.detach()) < tol
    assert C._resolve("auto", v.device) == "cuda" or backend == "keops"


def _compile_skip_reason() -> str | None:
    if shutil.which("nvcc") is None:
        return "nvcc not found"
    if torch.version.cuda is None:
        return "torch is a CPU-only build (no CUDA headers)"
    if C._cuda_home() is None:
        return "CUDA toolkit headers (cuda_runtime.h) not found"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_compile_skip_reason() is not None, reason=str(_compile_skip_reason()))
def test_cuda_extension_compiles(tmp_path):
    """Compile (and import) only; running it needs a GPU. One arch keeps the build short."""
    start = time.perf_counter()
    ext = C.build_cuda_extension(tmp_path, extra_cuda_cflags=["-gencode=arch=compute_90,code=sm_90"])
    elapsed = time.perf_counter() - start
    assert callable(ext.cauchy_conj_fwd) and callable(ext.cauchy_conj_bwd)
    assert list(tmp_path.glob("*.so"))
    print(f"cauchy CUDA extension compiled in {elapsed:.1f} s")
