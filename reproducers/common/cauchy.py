"""Conjugate-symmetric Cauchy kernel of S4, with torch / keops / CUDA backends.

    r[..., k] = sum_n  v_n / (z_k - w_n)  +  conj(v_n) / (z_k - conj(w_n))

v and w hold one member of each conjugate pair (N = half spectrum); the other half is added
analytically. This is exactly what the official S4 v1 code reduces and returns (no extra
factor): official: s4.py::cauchy_conj (pykeops, written as 2(z Re v - Re(v conj w)) /
((z - w)(z - conj w))) and extensions/cauchy/cauchy.py::cauchy_mult(symmetric=True) in
md-mohaiminul/ViS4mer. Gradients flow to v and w only; z gets none (as official).

Backends: "torch" (chunked over L in forward and backward, so memory stays bounded at the LVU
size; each reciprocal matrix built once per row of w, shared by the rows of v under it),
"keops" (pykeops Genred, CPU or GPU), "cuda" (our own extension in extensions/cauchy,
JIT-built). "auto" picks cuda > keops > torch on CUDA, keops > torch on CPU (keops only when
it compiles and runs here; see ``resolve_backend`` and ``auto_backend_choices``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import shutil
import sys
import warnings
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

_log = logging.getLogger(__name__)

__all__ = [
    "CAUCHY_FLOP_FORMULAS",
    "CAUCHY_FLOP_HANDLES",
    "DEFAULT_CHUNK_BYTES",
    "auto_backend_choices",
    "available_backends",
    "build_cuda_extension",
    "cauchy_conj",
    "cauchy_conj_reference",
    "cauchy_flop_count",
    "resolve_backend",
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


def _fwd_chunk(vt, vct, w, wc, zc):
    """vt, vct (M, N, K) = v, conj v with the K rows sharing one w as columns; w, wc (M, 1, N);
    zc (1, Lc, 1) -> (M, K, Lc).

    The reciprocal matrix 1/(z - w) depends on (row of w, node, mode) only, so it is formed
    once per row of w and reduced against all K columns of v in one batched matmul (in S4
    the K = 4 entries of the 2x2 Woodbury block share w). The matmul is 3x faster on CPU than
    elementwise division + sum, same result to ~1e-7 relative in complex64.
    """
    r = (zc - w).reciprocal_() @ vt
    r += (zc - wc).reciprocal_() @ vct
    return r.transpose(1, 2)


def _bwd_chunk(wc, zc, g):
    """This chunk's contribution to dv and to dw / conj(v), per column: wc (M, 1, N) = conj w,
    g (M, K, Lc) -> two (M, K, N).

    PyTorch passes g = dLoss/d(conj r) and wants conj(g) dr/d(conj x) + g conj(dr/dx):
    dv = sum_k conj(g_k)/(z_k - conj w) + g_k/(conj z_k - conj w), dw = conj(v) * the same
    sum with squared denominators (summed over the K columns by the caller).
    """
    gc = g.conj()
    inv1 = (zc - wc).reciprocal_()  # 1 / (z - conj w), (M, Lc, N)
    dv = gc @ inv1
    dw = gc @ inv1.square_()
    del inv1
    inv2 = (zc.conj() - wc).reciprocal_()  # 1 / (conj z - conj w)
    dv += g @ inv2
    dw += g @ inv2.square_()
    return dv, dw


class CauchyConjTorch(torch.autograd.Function):
    """Chunked plain-PyTorch Cauchy sum; backward recomputes chunk by chunk (bounded memory).

    v (M, K, N), z (L,), w (M, N) -> (M, K, L): the K rows of v under one row of w share its
    reciprocal matrices.
    """

    @staticmethod
    def forward(ctx, v, z, w, chunk_len: int):
        ctx.save_for_backward(v, z, w)
        ctx.chunk_len = chunk_len
        vt = v.transpose(1, 2)
        vct = vt.conj().resolve_conj()
        w3 = w.unsqueeze(1)
        wc3 = w3.conj().resolve_conj()
        out = v.new_empty(v.shape[0], v.shape[1], z.shape[0])
        for s in range(0, z.shape[0], chunk_len):
            zc = z[None, s : s + chunk_len, None]
            out[:, :, s : s + chunk_len] = _fwd_chunk(vt, vct, w3, wc3, zc)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        v, z, w = ctx.saved_tensors
        wc3 = w.conj().resolve_conj().unsqueeze(1)
        dv = torch.zeros_like(v)
        dwk = torch.zeros_like(v)
        for s in range(0, z.shape[0], ctx.chunk_len):
            e = s + ctx.chunk_len
            a, b = _bwd_chunk(wc3, z[None, s:e, None], grad[:, :, s:e])
            dv += a
            dwk += b
        dw = (dwk * v.conj()).sum(1)
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
        with _keops_prints_to_stderr():
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


@contextlib.contextmanager
def _keops_prints_to_stderr():
    """KeOps prints its status and compile messages (and, on a machine without CUDA, a "CUDA
    libraries not found" warning) on stdout and stderr: keep stdout for results (``--json``)
    and stderr for the one-line errors; what it printed is shown only when it fails."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            yield
    except BaseException:
        sys.stderr.write(buf.getvalue())
        raise


def _cauchy_keops(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """v, w (M, N); z (L,) -> (M, L). Autograd goes through keops on the real views."""
    vr, wr = torch.view_as_real(v), torch.view_as_real(w)  # (M, N, 2): M is a batch dim
    zr = torch.view_as_real(z).unsqueeze(0)  # (1, L, 2): broadcast over the batch dim
    backend = "GPU" if v.is_cuda else "CPU"
    with _keops_prints_to_stderr():  # the first call of each variant compiles
        out = _keops_reduction()(vr, zr, wr, backend=backend)  # (M, L, 2)
    return torch.view_as_complex(out.contiguous())


class CauchyConjKeops(torch.autograd.Function):
    """The keops reduction as one op (one node for autograd and for both FLOP counters):
    forward runs keops' own autograd on detached inputs when a gradient is needed, backward
    differentiates that inner graph (keops' gradient reductions)."""

    @staticmethod
    def forward(ctx, v, z, w):
        need_v, _, need_w = ctx.needs_input_grad
        if not (need_v or need_w):
            with _no_tracing():  # a jit trace records this Function as one op, not keops' insides
                return _cauchy_keops(v, z, w)
        with torch.enable_grad(), _no_tracing():
            vi, wi = v.detach().requires_grad_(need_v), w.detach().requires_grad_(need_w)
            out = _cauchy_keops(vi, z, wi)
        ctx.inner = (vi, wi, out)
        return out.detach()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        vi, wi, out = ctx.inner
        del ctx.inner
        wanted = [t for t in (vi, wi) if t.requires_grad]
        with _keops_prints_to_stderr():  # keops compiles its gradient formulas on first use
            grads = iter(torch.autograd.grad(out, wanted, grad))
        dv = next(grads) if vi.requires_grad else None
        dw = next(grads) if wi.requires_grad else None
        return dv, None, dw


@functools.cache
def _keops_compiles(dtype: torch.dtype, device_type: str) -> bool:
    """Whether keops runs here (imports, compiles, agrees with torch on a tiny problem); the
    reason for a "no" is warned once. This is what lets ``auto`` prefer keops on CPU."""
    if not _keops_importable():
        return False
    with _untraced():
        return _probe_keops(dtype, device_type)


@contextlib.contextmanager
def _no_tracing():
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


@contextlib.contextmanager
def _untraced():
    """Run outside any jit trace and dispatch mode (FLOP counters): a probe is not the model."""
    from torch.utils._python_dispatch import _disable_current_modes

    with _no_tracing(), _disable_current_modes(), torch.no_grad():
        yield


def _probe_keops(dtype: torch.dtype, device_type: str) -> bool:
    try:
        g = torch.Generator().manual_seed(0)
        v = torch.randn(2, 3, dtype=dtype, generator=g).to(device_type)
        w = torch.complex(-torch.rand(2, 3, generator=g), torch.randn(2, 3, generator=g))
        w = w.to(dtype).to(device_type)
        z = torch.complex(torch.zeros(4), torch.linspace(0.5, 2, 4)).to(dtype).to(device_type)
        got = _cauchy_keops(v, z, w)
        want = cauchy_conj_reference(v, z, w)
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise RuntimeError("keops disagrees with the torch reference on a test problem")
    except Exception as err:  # compiler missing or failing: many exception types
        warnings.warn(f"cauchy: keops unusable on {device_type} ({type(err).__name__}: {err}); "
                      "the auto backend uses torch", stacklevel=2)
        return False
    return True


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
    """The backend that needs no probing: an explicit one, or on CUDA cuda > keops > torch.
    ``resolve_backend`` adds the CPU keops preference (which needs a compile probe)."""
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


_AUTO_CHOICES: dict[str, str] = {}


def resolve_backend(backend: str, device: torch.device | str,
                    dtype: torch.dtype = torch.complex64) -> str:
    """The backend ``cauchy_conj(..., backend)`` runs for tensors on ``device``.

    ``auto``: cuda > keops > torch on CUDA; on CPU keops when pykeops imports and compiles
    here and the model is not being compiled by ``torch.compile`` (forward 1.25x faster than the torch path at the ViS4mer demo size, one thread),
    else torch. Each ``auto`` choice is logged once and kept in ``auto_backend_choices()``.
    """
    device = torch.device(device)
    which = _resolve(backend, device)
    if backend == "auto":
        # keops kernels are opaque to torch.compile: a compiled model takes the torch path
        if which == "torch" and device.type == "cpu" and not torch.compiler.is_compiling() \
                and _keops_compiles(dtype, "cpu"):
            which = "keops"
        key = f"{device.type}/{str(dtype).removeprefix('torch.')}"
        if _AUTO_CHOICES.get(key) != which:
            _AUTO_CHOICES[key] = which
            _log.info("cauchy backend auto -> %s for %s", which, key)
    return which


def auto_backend_choices() -> dict[str, str]:
    """What ``auto`` resolved to so far, per "device/dtype" (e.g. {"cpu/complex64": "keops"})."""
    return dict(_AUTO_CHOICES)


def cauchy_conj(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor, backend: str = "auto",
                chunk_bytes: int | None = None) -> torch.Tensor:
    """Conjugate-symmetric Cauchy sum.

    v, w: complex (..., N), broadcastable to each other; z: complex, any shape with L elements.
    Returns complex (batch..., L). ``chunk_bytes`` bounds the torch backend's working memory.
    """
    if not (v.is_complex() and w.is_complex() and z.is_complex()):
        raise TypeError("cauchy_conj expects complex v, z, w")
    dtype = torch.promote_types(torch.promote_types(v.dtype, w.dtype), z.dtype)
    v3, w2, order, grouped = _group_by_w(v.to(dtype), w.to(dtype))
    z1 = z.to(dtype).reshape(-1).detach().contiguous()
    which = resolve_backend(backend, v3.device, dtype)
    rows, k, n = v3.shape
    if which == "torch":
        chunk = torch_chunk_len(rows * k, n, z1.shape[0], v3.element_size(), chunk_bytes)
        r = CauchyConjTorch.apply(v3, z1, w2, chunk)
    else:  # flat (rows * k, N) twins: these kernels take one w row per v row
        v2 = v3.reshape(-1, n)
        w2 = w2.unsqueeze(1).expand(rows, k, n).reshape(-1, n)
        if which == "keops":
            if not _keops_importable():
                raise RuntimeError("pykeops is not importable")
            r = CauchyConjKeops.apply(v2, z1, w2)
        else:
            if not v2.is_cuda or _cuda_ext() is None:
                raise RuntimeError("cuda backend needs CUDA tensors and a built extension")
            r = CauchyConjCUDA.apply(v2, z1, w2)
    r = r.reshape(*grouped, z1.shape[0])
    return r.permute(*_inverse(order), len(order)) if order != sorted(order) else r


def _group_by_w(v: torch.Tensor, w: torch.Tensor):
    """Broadcast v, w (..., N) and group the batch: v -> (M, K, N), w -> (M, N), where the K
    batch entries under one row of w are the dims along which w is broadcast (the 2x2 (a, b)
    block of S4: w (H, 1, 1, N), v (H, 2, 2, N) -> M = H, K = 4).

    Also returns the batch-dim order used (w's own dims first) and the grouped batch shape.
    """
    shape = torch.broadcast_shapes(v.shape, w.shape)
    batch, n = shape[:-1], shape[-1]
    w = w.reshape((1,) * (len(shape) - w.dim()) + tuple(w.shape))
    shared = [i for i, s in enumerate(batch) if w.shape[i] == 1 and s > 1]
    order = [i for i in range(len(batch)) if i not in shared] + shared
    grouped = [batch[i] for i in order]
    rows = math.prod(batch[i] for i in order[: len(order) - len(shared)])
    v3 = v.expand(shape).permute(*order, len(batch)).reshape(rows, -1, n).contiguous()
    w2 = w.expand(*[1 if i in shared else s for i, s in enumerate(batch)], n)
    w2 = w2.permute(*order, len(batch)).reshape(rows, n).contiguous()
    return v3, w2, order, grouped


def _inverse(order: list[int]) -> list[int]:
    inv = [0] * len(order)
    for pos, i in enumerate(order):
        inv[i] = pos
    return inv


# ----------------------------------------------------------------------------- FLOP count
def cauchy_flop_count(rows: int, n: int, length: int) -> int:
    """MACs convention: each of the 2*N*L complex terms per row costs ~4 real MACs."""
    return 4 * 2 * rows * n * length


def _cauchy_flop_handle(inputs, outputs) -> int:
    """fvcore handle: inputs are jit Values (v (M, K, N) or (M, N), z (L,), w, ...)."""
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
    """Same count from the real call arguments (v (M, K, N) or (M, N), z (L,), ...)."""
    v, z = args[0], args[1]
    return cauchy_flop_count(v.numel() // max(1, v.shape[-1]), v.shape[-1], z.numel())


_FUNCTIONS = (CauchyConjTorch, CauchyConjKeops, CauchyConjCUDA)
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
