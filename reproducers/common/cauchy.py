"""Conjugate-symmetric Cauchy kernel of S4, with torch / keops / CUDA backends.

    r[..., k] = sum_n  v_n / (z_k - w_n)  +  conj(v_n) / (z_k - conj(w_n))

v and w hold one member of each conjugate pair (N = half spectrum); the other half is added
analytically. This is exactly what the official S4 v1 code reduces and returns (no extra
factor): official: s4.py::cauchy_conj (pykeops, written as 2(z Re v - Re(v conj w)) /
((z - w)(z - conj w))) and extensions/cauchy/cauchy.py::cauchy_mult(symmetric=True) in
md-mohaiminul/ViS4mer. Gradients flow to v and w only; z gets none (as official).

Backends: "torch" (chunked over L in forward and backward, so memory stays bounded at the LVU
size), "keops" (pykeops Genred, CPU or GPU), "cuda" (our own extension in extensions/cauchy,
JIT-built). "auto" picks cuda > keops (CUDA tensors only) > torch.
"""

from __future__ import annotations

import functools
import os
import shutil
import warnings
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

__all__ = [
    "CAUCHY_FLOP_FORMULAS",
    "CAUCHY_FLOP_HANDLES",
    "DEFAULT_CHUNK_BYTES",
    "available_backends",
    "build_cuda_extension",
    "cauchy_conj",
    "cauchy_conj_reference",
    "cauchy_flop_count",
    "torch_chunk_len",
]

DEFAULT_CHUNK_BYTES = 256 * 2**20
# Complex (M, chunk, N) temporaries alive at once inside one torch chunk (1-2 in practice: each
# reciprocal matrix is reduced by a batched matmul before the next one is formed).
_LIVE_TEMPORARIES = 2
EXT_SOURCE_DIR = Path(__file__).resolve().parents[2] / "extensions" / "cauchy"


# ----------------------------------------------------------------------------- torch backend
def torch_chunk_len(rows: int, n: int, length: int, itemsize: int, chunk_bytes: int | None = None) -> int:
    """Number of nodes z_k per chunk so one chunk's temporaries fit in ``chunk_bytes``."""
    budget = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    per_node = max(1, rows * n * itemsize * _LIVE_TEMPORARIES)
    return int(min(max(1, length), max(1, budget // per_node)))


def _fwd_chunk(v_col, vc_col, w, wc, zc):
    """v_col, vc_col (M, N, 1) = v, conj v; w, wc (M, 1, N); zc (1, Lc, 1) -> (M, Lc).

    The sum over modes is a batched matmul with the reciprocal matrix (3x faster on CPU than
    elementwise division + sum, same result to ~1e-7 relative in complex64).
    """
    r = (zc - w).reciprocal_() @ v_col
    r += (zc - wc).reciprocal_() @ vc_col
    return r.squeeze(-1)


def _bwd_chunk(wc, zc, g):
    """This chunk's contribution to dv and to dw / conj(v); wc (M, 1, N) = conj w, g (M, Lc).

    PyTorch passes g = dLoss/d(conj r) and wants conj(g) dr/d(conj x) + g conj(dr/dx):
    dv = sum_k conj(g_k)/(z_k - conj w) + g_k/(conj z_k - conj w), dw = conj(v) * the same
    sum with squared denominators.
    """
    gc, g = g.conj().unsqueeze(1), g.unsqueeze(1)  # (M, 1, Lc)
    inv1 = (zc - wc).reciprocal_()  # 1 / (z - conj w)
    dv = gc @ inv1
    dw = gc @ inv1.square_()
    del inv1
    inv2 = (zc.conj() - wc).reciprocal_()  # 1 / (conj z - conj w)
    dv += g @ inv2
    dw += g @ inv2.square_()
    return dv.squeeze(1), dw.squeeze(1)


class CauchyConjTorch(torch.autograd.Function):
    """Chunked plain-PyTorch Cauchy sum; backward recomputes chunk by chunk (bounded memory)."""

    @staticmethod
    def forward(ctx, v, z, w, chunk_len: int):
        ctx.save_for_backward(v, z, w)
        ctx.chunk_len = chunk_len
        v_col = v.unsqueeze(-1)
        vc_col = v.conj().resolve_conj().unsqueeze(-1)
        w3 = w.unsqueeze(1)
        wc3 = w3.conj().resolve_conj()
        out = v.new_empty(v.shape[0], z.shape[0])
        for s in range(0, z.shape[0], chunk_len):
            zc = z[None, s : s + chunk_len, None]
            out[:, s : s + chunk_len] = _fwd_chunk(v_col, vc_col, w3, wc3, zc)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        v, z, w = ctx.saved_tensors
        wc3 = w.conj().resolve_conj().unsqueeze(1)
        dv = torch.zeros_like(v)
        dw = torch.zeros_like(w)
        for s in range(0, z.shape[0], ctx.chunk_len):
            e = s + ctx.chunk_len
            a, b = _bwd_chunk(wc3, z[None, s:e, None], grad[:, s:e])
            dv += a
            dw += b
        dw *= v.conj()
        need_v, _, need_w, _ = ctx.needs_input_grad
        return (dv if need_v else None), None, (dw if need_w else None), None


def cauchy_conj_reference(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Unchunked one-line definition (tests only: materialises (..., L, N))."""
    v, w = v.unsqueeze(-2), w.unsqueeze(-2)
    zz = z.reshape(-1, 1)
    return (v / (zz - w) + v.conj() / (zz - w.conj())).sum(-1)


# ----------------------------------------------------------------------------- keops backend
@functools.lru_cache(maxsize=1)
def _keops_importable() -> bool:
    try:
        import pykeops.torch  # noqa: F401
    except Exception:  # ImportError, or a broken compiler setup raising at import
        return False
    return True


@functools.lru_cache(maxsize=1)
def _keops_reduction():
    """One Genred; keops compiles it per dtype/device on first use (g++ on CPU)."""
    from pykeops.torch import Genred

    formula = "ComplexDivide(v, z - w) + ComplexDivide(Conj(v), z - Conj(w))"
    aliases = ["v = Vj(2)", "z = Vi(2)", "w = Vj(2)"]
    return Genred(formula, aliases, reduction_op="Sum", axis=1, use_fast_math=False)


def _cauchy_keops(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """v, w (M, N); z (L,) -> (M, L). Autograd goes through keops on the real views."""
    reduce = _keops_reduction()
    vr, wr = torch.view_as_real(v), torch.view_as_real(w)  # (M, N, 2): M is a batch dim
    zr = torch.view_as_real(z).unsqueeze(0)  # (1, L, 2): broadcast over the batch dim
    backend = "GPU" if v.is_cuda else "CPU"
    out = reduce(vr, zr, wr, backend=backend)  # (M, L, 2)
    return torch.view_as_complex(out.contiguous())


# ------------------------------------------------------------------------------ CUDA backend
def _cuda_home() -> Path | None:
    """A CUDA toolkit root that really has the headers (torch may guess /usr/local)."""
    from torch.utils import cpp_extension

    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), cpp_extension.CUDA_HOME]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parents[1]))
    candidates.append("/usr/local/cuda")
    for c in candidates:
        if c and (Path(c) / "include" / "cuda_runtime.h").is_file():
            return Path(c)
    return None


def _default_build_dir() -> Path:
    root = os.environ.get("REPRODUCERS_CAUCHY_BUILD_DIR")
    if root:
        return Path(root)
    tag = f"torch{torch.__version__}-cuda{torch.version.cuda}".replace("+", "_")
    return Path.home() / ".cache" / "reproducers" / "cauchy_ext" / tag


def build_cuda_extension(build_dir: str | os.PathLike | None = None, verbose: bool = False,
                         extra_cuda_cflags: list[str] | None = None):
    """JIT-compile extensions/cauchy with torch.utils.cpp_extension.load; returns the module.

    Raises RuntimeError when no CUDA toolkit / source folder is found or the build fails.
    """
    from torch.utils import cpp_extension

    home = _cuda_home()
    if torch.version.cuda is None or home is None or shutil.which("nvcc") is None:
        raise RuntimeError("CUDA toolkit (nvcc + headers) or a CUDA build of torch is missing")
    sources = [EXT_SOURCE_DIR / "cauchy.cpp", EXT_SOURCE_DIR / "cauchy_kernel.cu"]
    if not all(s.is_file() for s in sources):
        raise RuntimeError(f"extension sources not found under {EXT_SOURCE_DIR}")
    build = Path(build_dir) if build_dir is not None else _default_build_dir()
    build.mkdir(parents=True, exist_ok=True)
    return cpp_extension.load(
        name="reproducers_cauchy_ext",
        sources=[str(s) for s in sources],
        build_directory=str(build),
        extra_include_paths=[str(home / "include")],
        extra_ldflags=[f"-L{home / 'lib64'}", "-lcudart"],
        extra_cflags=["-O3"],
        extra_cuda_cflags=["-O3", *(extra_cuda_cflags or [])],
        verbose=verbose,
    )


@functools.lru_cache(maxsize=1)
def _cuda_ext():
    """The built extension, or None (warned once) when CUDA or the build is unavailable."""
    if not torch.cuda.is_available():
        return None
    try:
        return build_cuda_extension()
    except Exception as err:  # build errors surface as many exception types
        warnings.warn(f"cauchy CUDA extension unavailable, falling back: {err}", stacklevel=3)
        return None


class CauchyConjCUDA(torch.autograd.Function):
    """Our CUDA extension: symmetric forward (one thread per node) and backward (reduce over L)."""

    @staticmethod
    def forward(ctx, v, z, w):
        ext = _cuda_ext()
        ctx.save_for_backward(v, z, w)
        return ext.cauchy_conj_fwd(v, z, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        v, z, w = ctx.saved_tensors
        dv, dw = _cuda_ext().cauchy_conj_bwd(v, z, w, grad.contiguous())
        need_v, _, need_w = ctx.needs_input_grad
        return (dv if need_v else None), None, (dw if need_w else None)


# ----------------------------------------------------------------------------- dispatch
def available_backends() -> list[str]:
    """Backends usable on this machine ("cuda" needs a GPU and a successful build)."""
    out = ["torch"]
    if _keops_importable():
        out.append("keops")
    if _cuda_ext() is not None:
        out.append("cuda")
    return out


def _resolve(backend: str, device: torch.device) -> str:
    if backend != "auto":
        if backend not in ("torch", "keops", "cuda"):
            raise ValueError(f"unknown cauchy backend {backend!r}")
        return backend
    if device.type == "cuda":
        if _cuda_ext() is not None:
            return "cuda"
        if _keops_importable():
            return "keops"
    return "torch"


def cauchy_conj(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor, backend: str = "auto",
                chunk_bytes: int | None = None) -> torch.Tensor:
    """Conjugate-symmetric Cauchy sum.

    v, w: complex (..., N), broadcastable to each other; z: complex, any shape with L elements.
    Returns complex (batch..., L). ``chunk_bytes`` bounds the torch backend's working memory.
    """
    if not (v.is_complex() and w.is_complex() and z.is_complex()):
        raise TypeError("cauchy_conj expects complex v, z, w")
    dtype = torch.promote_types(torch.promote_types(v.dtype, w.dtype), z.dtype)
    v, w = torch.broadcast_tensors(v.to(dtype), w.to(dtype))
    batch, n = v.shape[:-1], v.shape[-1]
    v2, w2 = v.reshape(-1, n).contiguous(), w.reshape(-1, n).contiguous()
    z1 = z.to(dtype).reshape(-1).detach().contiguous()
    which = _resolve(backend, v.device)
    if which == "torch":
        chunk = torch_chunk_len(v2.shape[0], n, z1.shape[0], v2.element_size(), chunk_bytes)
        r = CauchyConjTorch.apply(v2, z1, w2, chunk)
    elif which == "keops":
        if not _keops_importable():
            raise RuntimeError("pykeops is not importable")
        r = _cauchy_keops(v2, z1, w2)
    else:
        if not v2.is_cuda or _cuda_ext() is None:
            raise RuntimeError("cuda backend needs CUDA tensors and a built extension")
        r = CauchyConjCUDA.apply(v2, z1, w2)
    return r.reshape(*batch, z1.shape[0])


# ----------------------------------------------------------------------------- FLOP count
def cauchy_flop_count(rows: int, n: int, length: int) -> int:
    """MACs convention: each of the 2*N*L complex terms per row costs ~4 real MACs."""
    return 4 * 2 * rows * n * length


def _cauchy_flop_handle(inputs, outputs) -> int:
    """fvcore handle: inputs are jit Values (v (M, N), z (L,), w (M, N), ...)."""
    from fvcore.nn.jit_handles import get_shape

    v_shape, z_shape = get_shape(inputs[0]), get_shape(inputs[1])
    rows = 1
    for s in v_shape[:-1]:
        rows *= s
    length = 1
    for s in z_shape:
        length *= s
    return cauchy_flop_count(rows, v_shape[-1], length)


def _cauchy_flop_formula(args, outputs) -> int:
    """Same count from the real call arguments (v (M, N), z (L,), ...): flop_counter side."""
    v, z = args[0], args[1]
    return cauchy_flop_count(v.numel() // max(1, v.shape[-1]), v.shape[-1], z.numel())


_FUNCTIONS = (CauchyConjTorch, CauchyConjCUDA)
# jit op kind -> fvcore handle(inputs, outputs) -> MACs
CAUCHY_FLOP_HANDLES = {f"prim::PythonOp.{cls.__name__}": _cauchy_flop_handle for cls in _FUNCTIONS}
# jit op kind -> (formula(args, outputs) -> MACs, autograd.Function target), for cross-checks:
# register_flop_handle(name, CAUCHY_FLOP_HANDLES[name], formula=f, target=cls)
CAUCHY_FLOP_FORMULAS = {
    f"prim::PythonOp.{cls.__name__}": (_cauchy_flop_formula, cls) for cls in _FUNCTIONS
}


def _register_flop_handles() -> None:
    from reproducers.harness.flops import register_flop_handle

    for name, handle in CAUCHY_FLOP_HANDLES.items():
        formula, target = CAUCHY_FLOP_FORMULAS[name]
        register_flop_handle(name, handle, formula=formula, target=target)


_register_flop_handles()
