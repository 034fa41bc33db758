"""FLOPs and parameter counts in the field's convention, cross-checked by a second counter.

Convention (DESIGN.md, Conventions: FLOPs): papers in this field report fvcore counts, i.e.
multiply-accumulates (MACs), and call them "GFLOPs". ``count_flops`` reports that figure
(``gmacs``) from the dispatch-based ``torch.utils.flop_counter`` (which counts FLOPs = 2 MACs,
so its total is halved; no TorchScript involved), plus the handles below, and recounts with
fvcore (TorchScript tracing, deprecated in torch 2.13) as a cross-check while that still
runs: a disagreement over ``AGREEMENT_TOLERANCE`` is reported in ``agrees`` and the notes,
and a cross-check that cannot run (tracing broken or unavailable) is reported, never fatal.

What the counters miss and we add, on both counters alike, so that a disagreement between
them is a real difference, not a convention gap:

* scaled dot-product attention, every aten form (the public op is what ``jit.trace`` records
  on CPU and CUDA; the private fused kernels are what the dispatcher runs, and torch's own
  flop_counter lacks the CPU one): ``q @ k^T`` plus ``attn @ v``, i.e.
  ``B*heads*Lq*Lk*d + B*heads*Lq*Lk*dv`` MACs, heads taken from the query (GQA), the full
  score matrix counted even when ``is_causal`` (as flop_counter does); softmax and scaling
  are elementwise, hence free.
* FFTs. A complex transform of logical size N (the product of its transformed lengths) costs
  the FFTW benchmark convention's 5*N*log2(N) real FLOPs, i.e. 2.5*N*log2(N) MACs; a real one
  (rfft/ihfft, irfft/hfft, or fft of a real input, which torch runs as r2c) half of that,
  1.25*N*log2(N) MACs, per transform, times the number of transforms (the batch).
* Complex elementwise products (the pointwise product of spectra in an FFT convolution, or in
  S4 kernels): 4 real MACs per element, 2 when one factor is real. Real elementwise products
  stay free, as in fvcore.
* ``aten::baddbmm`` (fvcore lacks it; flop_counter counts it).
* Ops registered by other modules with ``register_flop_handle`` (e.g. the S4 Cauchy kernel).

And on the flop_counter side only, fvcore's own formulas for the ops fvcore counts and
flop_counter does not (batch/group/layer/instance norm, upsampling, adaptive average pooling,
grid sampling); upsampling and grid sampling are counted where the model calls them (the
flop counter would decompose them into index ops first). One known residual gap: a 1x1
adaptive average pool dispatches to ``mean``, which flop_counter does not count (numel MACs,
negligible next to any conv or matmul). fvcore rounds ``einsum`` counts to 4 significant
digits (numpy's einsum_path print-out); the dispatch side counts the exact matmuls.

Free ops: fvcore ignores views, reshapes, copies, creation and a few activations by design
(``fvcore.nn.jit_analysis._IGNORED_OPS``); ``FREE_OPS`` below lists what we treat as free on top
of that (elementwise arithmetic and activations, softmax, comparisons, reductions without
multiplies, more data movement); on the dispatch side real pointwise ops (torch's
``pointwise`` tag), views and ``DISPATCH_FREE_OPS`` are free too. Any other op the model
calls that neither the counter nor our handles count is reported in ``uncounted_ops`` (the
fvcore side's in ``crosscheck_uncounted_ops``) and in ``notes``. Complex-valued divisions, exponentials and the
like are reported too (``"aten::exp (complex)"``), as are complex matmuls, which both counters
count as real MACs (a complex MAC is 4 real ones).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

AGREEMENT_TOLERANCE = 0.02

Handle = Callable[[list, list], Any]  # fvcore: (jit input Values, jit output Values) -> MACs
Formula = Callable[[tuple, Any], int]  # (args as passed, outputs) -> MACs, real tensors

_POINTWISE_MATH = {
    f"aten::{op}{suffix}"
    for op in ("div", "reciprocal", "exp", "log", "pow", "sqrt", "rsqrt", "sigmoid", "tanh",
               "sin", "cos", "expm1", "log1p", "softmax", "log_softmax")
    for suffix in ("", "_")
}

#: Op kinds (jit names) treated as costing 0 MACs, on top of fvcore's own ignore list.
FREE_OPS: frozenset[str] = frozenset(_POINTWISE_MATH | {
    f"aten::{op}" for op in (
        # elementwise arithmetic (complex products are counted, see module docstring)
        "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "neg", "abs", "sign", "square",
        "maximum", "minimum", "clamp_min", "clamp_max", "where", "lerp", "fmod", "round",
        "ceil", "erf", "addcmul", "addcdiv", "_softmax", "_safe_softmax",
        # activations
        "gelu", "gelu_", "silu", "silu_", "sigmoid_", "hardswish", "hardswish_",
        "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_",
        "elu", "elu_", "softplus", "mish", "glu", "relu6", "prelu",
        # comparisons and logic
        "ne", "lt", "le", "logical_and", "logical_or", "logical_not", "isnan", "isinf",
        "__or__", "bitwise_and", "bitwise_or",
        # reductions without multiplies
        "sum", "mean", "amax", "amin", "min", "argmax", "argmin", "cumsum", "all", "any",
        "topk", "sort", "argsort",
        # data movement, views, creation, indexing, randomness
        "clone", "repeat", "repeat_interleave", "tile", "expand_as", "broadcast_tensors",
        "broadcast_to", "view_as", "reshape_as", "flip", "pad", "movedim", "swapaxes",
        "unflatten", "tensor_split", "meshgrid", "linspace", "ones_like", "empty_like",
        "new_ones", "rand", "randn", "rand_like", "randn_like", "bernoulli", "bernoulli_",
        "feature_dropout", "dropout_", "alpha_dropout", "masked_fill_", "fill_", "zero_",
        "index_select", "embedding", "one_hot", "complex", "scatter", "scatter_",
        "masked_select", "alias", "lift_fresh", "detach_", "real", "imag", "view_as_real",
        "view_as_complex", "conj", "resolve_conj", "_conj", "scalar_tensor", "as_strided",
        "unfold", "pixel_shuffle", "diagonal", "tril", "triu", "_shape_as_tensor",
    )
})

#: On the dispatch side only: what the model's ops reach the dispatcher as (after C++
#: decompositions) that TorchScript shows under another name or not at all; all data movement.
DISPATCH_FREE_OPS: frozenset[str] = frozenset(f"aten::{op}" for op in (
    "_to_copy", "_unsafe_view", "empty", "empty_strided", "zeros", "zeros_like", "new_empty",
    "new_empty_strided", "new_zeros", "new_ones", "full", "scalar_tensor", "detach", "t",
    "transpose", "expand", "view", "unsqueeze", "squeeze", "select", "slice", "split",
    "split_with_sizes", "unbind", "_unsafe_index", "slice_scatter", "select_scatter",
    "index_put", "index_put_", "_index_put_impl_", "native_dropout", "copy", "stack",
    "_local_scalar_dense", "lift_fresh_copy", "_reshape_alias", "clamp", "item", "sym_size",
    "masked_fill", "_safe_softmax", "isclose",
    "_assert_async", "_assert_tensor_metadata", "nonzero", "as_strided_", "resize_",
    "promote_types", "result_type", "is_nonzero", "equal",
))

_SDPA = ("scaled_dot_product_attention", "_scaled_dot_product_attention_math",
         "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
         "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
         "_scaled_dot_product_fused_attention_overrideable")
_SDPA_COMPOSITE = {"scaled_dot_product_attention", "_scaled_dot_product_attention_math"}

# jit kind -> (family, how its transformed dims are given: 1-D, 2-D, n-D or the raw _fft_* dims)
_FFT = {
    f"aten::fft_{op}{nd}": (family, nd or "1")
    for family, ops in (("c2c", ("fft", "ifft")), ("r2c", ("rfft", "ihfft")),
                        ("c2r", ("irfft", "hfft")))
    for op in ops
    for nd in ("", "2", "n")
}
_FFT.update({"aten::_fft_r2c": ("r2c", "raw"), "aten::_fft_c2r": ("c2r", "raw"),
             "aten::_fft_c2c": ("c2c", "raw")})
_MATMUL_KINDS = ("aten::einsum", "aten::matmul", "aten::mm", "aten::bmm", "aten::linear",
                 "aten::addmm", "aten::baddbmm", "aten::_convolution")


@dataclasses.dataclass(frozen=True)
class _Registration:
    handle: Handle
    formula: Formula | None
    target: Any


_REGISTRY: dict[str, _Registration] = {}


def register_flop_handle(op_name: str, handle: Handle, *, formula: Formula | None = None,
                         target: Any = None) -> None:
    """Count ``op_name`` (an fvcore jit op kind) with ``handle(inputs, outputs) -> MACs``.

    A ``torch.autograd.Function`` subclass ``Foo`` appears as ``"prim::PythonOp.Foo"``; its jit
    inputs are its tensor arguments only (non-tensor arguments are baked into the node). A
    ``torch.library`` custom op appears as ``"ns::op"``.

    For the cross-check, pass ``formula(args, outputs) -> MACs`` (real tensors, ``args`` the
    positional arguments as passed) and ``target``: the autograd.Function subclass (while the
    cross-check runs, its ``apply`` is wrapped so that its inner torch ops are not counted and
    the formula is, as on the fvcore side), or the ``torch.ops.ns.op`` packet. Without them the
    cross-check counts whatever torch ops run inside (none for a foreign kernel such as KeOps).
    Registering a name again replaces the earlier registration.
    """
    if formula is not None:
        is_function = isinstance(target, type) and issubclass(target, torch.autograd.Function)
        if not (is_function or isinstance(target, torch._ops.OpOverloadPacket)):
            raise TypeError(f"register_flop_handle({op_name!r}): a formula needs target= the "
                            "autograd.Function subclass or the torch.ops.<ns>.<op> packet")
    _REGISTRY[op_name] = _Registration(handle, formula, target)


def unregister_flop_handle(op_name: str) -> None:
    _REGISTRY.pop(op_name, None)


@dataclasses.dataclass
class FlopReport:
    gmacs: float  # 1e9 multiply-accumulates: flop_counter FLOPs / 2 + our handles ("GFLOPs")
    by_operator: dict[str, float]  # op -> GMACs
    uncounted_ops: dict[str, int]  # op -> calls, counted by neither flop_counter nor us
    crosscheck_gmacs: float | None  # fvcore (TorchScript trace) + the same handles
    crosscheck_by_operator: dict[str, float]
    disagreement: float | None  # |gmacs - crosscheck| / max of the two
    agrees: bool  # disagreement <= AGREEMENT_TOLERANCE
    notes: list[str]
    counter: str = "torch.utils.flop_counter"
    crosscheck_counter: str = "fvcore"
    crosscheck_uncounted_ops: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def count_params(model: torch.nn.Module) -> dict:
    params = list(model.parameters())  # shared parameters once
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "buffers": sum(b.numel() for b in model.buffers())}


def count_flops(model: torch.nn.Module, inputs: Any, *, crosscheck: bool = True) -> FlopReport:
    """Count MACs of ``model(*inputs)`` (``inputs``: a tensor, or a tuple of arguments).

    Runs in eval mode under ``torch.no_grad`` and restores every module's training flag.
    ``crosscheck=False`` skips the second (fvcore) forward, e.g. for benchmarks.
    """
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    xc: _Count | None = None
    xc_error = None
    with _eval_no_grad(model):
        primary = _dispatch_count(model, args)
        if crosscheck:
            try:
                xc = _fvcore_count(model, args)
            except Exception as e:  # reported, never hidden: the primary count stands
                xc_error = f"{type(e).__name__}: {e}"
    gmacs = primary.total
    if xc is None:
        disagreement = None
    else:
        top = max(gmacs, xc.total)
        disagreement = abs(gmacs - xc.total) / top if top > 0 else 0.0
    agrees = disagreement is not None and disagreement <= AGREEMENT_TOLERANCE
    notes = [f"GMACs = torch.utils.flop_counter FLOPs / 2 + our handles (papers' 'GFLOPs', "
             f"fvcore's convention) = {gmacs:.6g}"]
    for kind, (n, macs) in sorted(primary.added.items()):
        notes.append(f"added to flop_counter's count: {kind} x{n} = {macs / 1e9:.6g} GMACs")
    if primary.uncounted:
        notes.append("counted by neither flop_counter nor our handles (0 MACs): "
                     + ", ".join(f"{k} x{n}" for k, n in sorted(primary.uncounted.items())))
    if primary.complex_matmuls:
        notes.append("complex matmul/conv counted as real MACs (a complex MAC is 4 real): "
                     + ", ".join(f"{k} x{n}" for k, n in sorted(primary.complex_matmuls.items())))
    for name, reg in sorted(_REGISTRY.items()):
        if reg.formula is None and name in (xc.added if xc else {}):
            notes.append(f"{name}: registered without a flop_counter formula; the primary "
                         "count has only the torch ops it runs")
    if not crosscheck:
        notes.append("cross-check skipped")
    elif xc is None:
        notes.append(f"cross-check fvcore (TorchScript tracing) unavailable ({xc_error}); "
                     "agreement unknown")
    else:
        verdict = "agrees" if agrees else "DISAGREES"
        notes.append(f"cross-check fvcore (TorchScript trace, same extra handles): "
                     f"{xc.total:.6g} GMACs, {verdict} ({100 * disagreement:.2f}%, tolerance "
                     f"{100 * AGREEMENT_TOLERANCE:.0f}%)")
        if xc.uncounted:
            notes.append("fvcore side, counted by neither fvcore nor our handles: "
                         + ", ".join(f"{k} x{n}" for k, n in sorted(xc.uncounted.items())))
        if not agrees:
            notes.append("flop_counter by op: " + _fmt(primary.by_op))
            notes.append("fvcore by op: " + _fmt(xc.by_op))
    return FlopReport(gmacs, primary.by_op, dict(primary.uncounted),
                      xc.total if xc else None, xc.by_op if xc else {}, disagreement, agrees,
                      notes, crosscheck_uncounted_ops=dict(xc.uncounted) if xc else {})


@dataclasses.dataclass
class _Count:
    by_op: dict[str, float]  # GMACs
    uncounted: Counter
    added: dict[str, list]  # op counted by our handles -> [calls, MACs]
    complex_matmuls: Counter

    @property
    def total(self) -> float:
        return sum(self.by_op.values())


def _fmt(by_op: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.6g}" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1]))


@contextlib.contextmanager
def _eval_no_grad(model: torch.nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in flags:
            m.training = training


# ---------------------------------------------------------------- shared arithmetic

def _attention_macs(q: list, k: list, v: list) -> int:
    try:
        batch = torch.broadcast_shapes(tuple(q[:-2]), tuple(k[:-2]), tuple(v[:-2]))
    except RuntimeError:  # grouped-query attention: fewer k/v heads; the query's count
        batch = q[:-2]
    return math.prod(batch) * q[-2] * k[-2] * (q[-1] + v[-1])


def _fft_macs(family: str, real_input: bool, in_shape: list, out_shape: list,
              dims: list[int]) -> int:
    """MACs of FFTs over ``dims``; lengths read from the shapes (see module docstring).

    A c2c or c2r transform's output holds its logical lengths. An r2c output holds n//2+1 on
    the last dim: n is the input's length unless the op padded it (``rfft(x, n=2L)``), in
    which case n = 2*(out-1) (an even n; an odd one would differ by under one sample).
    """
    if family == "r2c":
        inn, out = in_shape[dims[-1]], out_shape[dims[-1]]
        last = inn if out in (inn, inn // 2 + 1) else 2 * (out - 1)
        lengths = [out_shape[x] for x in dims[:-1]] + [last]
        batch = math.prod(out_shape) // math.prod(out_shape[x] for x in dims)
    else:
        lengths = [out_shape[x] for x in dims]
        batch = math.prod(out_shape) // max(1, math.prod(lengths))
    n = math.prod(lengths)
    factor = 2.5 if family == "c2c" and not real_input else 1.25
    return round(factor * batch * n * math.log2(n)) if n > 1 else 0


# ---------------------------------------------------------------- fvcore (jit) side

def _const(value: Any) -> Any:
    """A jit Value's constant (lists built by prim::ListConstruct too), or None if traced."""
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        items = [_const(v) for v in node.inputs()]
        return None if any(i is None for i in items) else items
    try:
        return value.toIValue()
    except Exception:
        return None


def _is_complex(value: Any) -> bool:
    t = value.type()
    if isinstance(t, torch._C.TensorType):
        return str(t.scalarType()).startswith("Complex")
    return isinstance(_const(value), complex)


def get_shape(value: Any) -> list:
    from fvcore.nn.jit_handles import get_shape as shape

    return shape(value)


def _fvcore_count(model: torch.nn.Module, args: tuple) -> _Count:
    from fvcore.nn import FlopCountAnalysis

    added: dict[str, list] = {}
    uncounted: Counter[str] = Counter()
    complex_matmuls: Counter[str] = Counter()
    analysis = FlopCountAnalysis(model, args)
    analysis.set_op_handle(**_jit_handles(added, uncounted, complex_matmuls))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = {op: n / 1e9 for op, n in analysis.by_operator().items() if n}
    for kind, n in analysis.unsupported_ops().items():
        if kind not in FREE_OPS:
            uncounted[kind] += n
    return _Count(by_op, uncounted, added, complex_matmuls)


def _jit_sdpa(inputs: list, outputs: list) -> int:
    return _attention_macs(*(get_shape(v) for v in inputs[:3]))


def _jit_fft(family: str, how: str) -> Handle:
    def handle(inputs: list, outputs: list) -> int:
        in_shape, out_shape = get_shape(inputs[0]), get_shape(outputs[0])
        ndim = len(out_shape)
        if how == "raw":  # _fft_*(self, dim: int[], ...)
            dims = _const(inputs[1])
        elif how == "1":  # fft_*(self, n, dim: int = -1, norm)
            dims = [_const(inputs[2]) if _const(inputs[2]) is not None else -1]
        else:  # fft_*2 / fft_*n(self, s, dim, norm)
            dims = _const(inputs[2])
            if dims is None:
                if how == "2":
                    dims = [-2, -1]
                elif isinstance(inputs[1].type(), torch._C.NoneType):
                    dims = list(range(ndim))
                else:  # s given, dims default to the last len(s)
                    s = inputs[1].node()
                    count = len(list(s.inputs())) if s.kind() == "prim::ListConstruct" \
                        else len(_const(inputs[1]))
                    dims = list(range(ndim - count, ndim))
        dims = [d % ndim for d in dims]
        return _fft_macs(family, not _is_complex(inputs[0]), in_shape, out_shape, dims)
    return handle


def _jit_mul(inputs: list, outputs: list) -> int:
    if not _is_complex(outputs[0]):
        return 0  # real elementwise: free
    both = all(_is_complex(v) for v in inputs[:2])
    return (4 if both else 2) * math.prod(get_shape(outputs[0]))


def _jit_baddbmm(inputs: list, outputs: list) -> int:
    b, n, m = get_shape(inputs[1])
    return b * n * m * get_shape(inputs[2])[-1]


def _jit_handles(added: dict[str, list], uncounted: Counter, complex_matmuls: Counter) -> dict:
    """Our additions to fvcore's handle table; ``added[kind]`` tallies [calls, MACs]."""
    def counting(kind: str, handle: Handle) -> Handle:
        def counted(inputs: list, outputs: list) -> Any:
            result = handle(inputs, outputs)
            macs = sum(result.values()) if isinstance(result, Counter) else result
            if macs:
                tally = added.setdefault(kind, [0, 0])
                tally[0] += 1
                tally[1] += macs
            return result
        return counted

    def complex_probe(kind: str, handle: Handle | None) -> Handle:
        """Real: as ``handle`` (or free); complex: recorded for the notes."""
        def probe(inputs: list, outputs: list) -> Any:
            if any(_is_complex(v) for v in [*inputs, *outputs]):
                if handle is None:
                    uncounted[f"{kind} (complex)"] += 1
                else:
                    complex_matmuls[kind] += 1
            return 0 if handle is None else handle(inputs, outputs)
        return probe

    from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS

    handles: dict[str, Handle] = {kind: complex_probe(kind, None) for kind in _POINTWISE_MATH}
    fvcore_handles = {**_DEFAULT_SUPPORTED_OPS,
                      "aten::baddbmm": counting("aten::baddbmm", _jit_baddbmm)}
    for kind in _MATMUL_KINDS:
        handles[kind] = complex_probe(kind, fvcore_handles[kind])
    handles["aten::mul"] = counting("aten::mul", _jit_mul)
    handles["aten::mul_"] = counting("aten::mul_", _jit_mul)
    for name in _SDPA:
        handles[f"aten::{name}"] = counting(f"aten::{name}", _jit_sdpa)
    for kind, (family, how) in _FFT.items():
        handles[kind] = counting(kind, _jit_fft(family, how))
    for name, reg in _REGISTRY.items():
        handles[name] = counting(name, reg.handle)
    return handles


# ---------------------------------------------------------------- flop_counter side

def _raw(macs: Callable[..., int], calls: Counter | None = None,
         name: str = "") -> Callable[..., int]:
    """A flop_counter formula on real tensors returning FLOPs (2 per MAC); ``calls[name]``
    counts its uses."""
    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        if calls is not None:
            calls[name] += 1
        return 2 * int(macs(*args, out=out_val, **kwargs))
    formula._get_raw = True  # FlopCounterMode: pass tensors, not shapes
    return formula


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _norm_macs(x: torch.Tensor, weight: Any, training: bool) -> int:
    """fvcore's norm conventions: 5 (4 without affine) per element; BN eval 2 (1)."""
    if training:
        return x.numel() * (5 if weight is not None else 4)
    return x.numel() * (2 if weight is not None else 1)


def _bn_macs(x: torch.Tensor, weight: Any, *args: Any, out: Any = None, **kw: Any) -> int:
    # native_batch_norm / cudnn_batch_norm / _native_batch_norm_legit:
    #   (input, weight, bias, running_mean, running_var, training, momentum, eps)
    # _native_batch_norm_legit.no_stats: (input, weight, bias, training, momentum, eps)
    training = args[3] if len(args) >= 6 else args[1] if len(args) >= 4 else kw.get("training")
    return _norm_macs(x, weight, bool(training))


def _fft_formula(family: str) -> Callable[..., int]:
    def macs(x: torch.Tensor, dim: list[int], *args: Any, out: Any = None, **kw: Any) -> int:
        dims = [d % x.dim() for d in dim]
        return _fft_macs(family, not x.is_complex(), list(x.shape), list(out.shape), dims)
    return macs


def _mul_macs(a: Any, b: Any, *args: Any, out: Any = None, **kw: Any) -> int:
    if not (isinstance(out, torch.Tensor) and out.is_complex()):
        return 0

    def cplx(v: Any) -> bool:
        return v.is_complex() if isinstance(v, torch.Tensor) else isinstance(v, complex)
    return (4 if cplx(a) and cplx(b) else 2) * out.numel()


# Counted where the model calls them: the flop counter would decompose them into index ops.
_AT_CALL: dict[str, Callable[..., int]] = {
    "aten::upsample_nearest2d": lambda *a, out=None, **kw: _first(out).numel(),
    "aten::upsample_bilinear2d": lambda *a, out=None, **kw: 4 * _first(out).numel(),
    "aten::grid_sampler_2d": lambda *a, out=None, **kw: 4 * _first(out).numel(),
}
_MATMUL_PACKETS = ("mm", "bmm", "addmm", "baddbmm", "convolution", "_convolution")


def _counter_mapping(calls: Counter) -> dict:
    aten = torch.ops.aten
    macs: dict[str, Callable[..., int]] = {
        # ours, as on the fvcore side
        **{name: (lambda q, k, v, *a, out=None, **kw: _attention_macs(
            list(q.shape), list(k.shape), list(v.shape)))
           for name in _SDPA if name not in _SDPA_COMPOSITE},  # composites decompose first
        "_fft_r2c": _fft_formula("r2c"), "_fft_c2r": _fft_formula("c2r"),
        "_fft_c2c": _fft_formula("c2c"), "mul": _mul_macs, "mul_": _mul_macs,
        # fvcore's own conventions for what flop_counter does not count
        "native_batch_norm": _bn_macs, "_native_batch_norm_legit": _bn_macs,
        "cudnn_batch_norm": _bn_macs,
        "_native_batch_norm_legit_no_training":
            lambda x, w, *a, out=None, **kw: _norm_macs(x, w, False),
        "native_group_norm": lambda x, w, *a, out=None, **kw: _norm_macs(x, w, True),
        "native_layer_norm": lambda x, shape, w, *a, out=None, **kw: _norm_macs(x, w, True),
        "_adaptive_avg_pool2d": lambda x, *a, out=None, **kw: x.numel(),
    }
    mapping = {}
    for name, fn in macs.items():
        packet = getattr(aten, name, None)
        if packet is not None and packet not in flop_registry:  # only what torch misses
            mapping[packet] = _raw(fn, calls, name)
    for reg in _REGISTRY.values():
        if reg.formula is not None and isinstance(reg.target, torch._ops.OpOverloadPacket):
            mapping[reg.target] = _raw(
                lambda *args, out=None, _f=reg.formula, **kw: _f(args, out), calls,
                _short(str(reg.target)))
    return mapping


def _short(op: str) -> str:
    """by_operator key: "aten.mm" -> "mm" (other namespaces keep theirs)."""
    return op.removeprefix("aten.")


@functools.cache
def _fvcore_ignored() -> frozenset[str]:
    try:
        from fvcore.nn.jit_analysis import _IGNORED_OPS
    except Exception:  # fvcore gone or changed: the free lists below still apply
        return frozenset()
    return frozenset(_IGNORED_OPS)


def _has_complex(tree: Any) -> bool:
    from torch.utils._pytree import tree_leaves

    return any(isinstance(t, torch.Tensor) and t.is_complex() for t in tree_leaves(tree))


class _CallWatch(TorchDispatchMode):
    """On top of FlopCounterMode: sees each op as the model calls it (before the counter's
    decompositions), counts ``_AT_CALL`` ops, and sorts every other op into counted (the
    counter's total moved), free, or uncounted."""

    def __init__(self, counter: FlopCounterMode, tally: Counter, calls: Counter,
                 uncounted: Counter, complex_matmuls: Counter):
        super().__init__()
        self.counter, self.tally, self.calls = counter, tally, calls
        self.uncounted, self.complex_matmuls = uncounted, complex_matmuls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        before = self.counter.get_total_flops()
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        name = str(packet).replace(".", "::", 1)
        at_call = _AT_CALL.get(name)
        if at_call is not None and packet not in flop_registry:
            self.tally[_short(str(packet))] += at_call(*args, out=out, **kwargs)
            self.calls[_short(str(packet))] += 1
            return out
        is_complex = _has_complex((args, kwargs, out))
        if self.counter.get_total_flops() > before:
            if is_complex and _short(str(packet)) in _MATMUL_PACKETS:
                self.complex_matmuls[name] += 1
        elif name in _POINTWISE_MATH or (is_complex and torch.Tag.pointwise in func.tags
                                         and name not in FREE_OPS):
            if is_complex:
                self.uncounted[f"{name} (complex)"] += 1
        elif not (name in FREE_OPS or name in DISPATCH_FREE_OPS or name in _fvcore_ignored()
                  or func.is_view or torch.Tag.pointwise in func.tags):
            self.uncounted[name] += 1
        return out


@contextlib.contextmanager
def _functions_by_formula(tally: Counter, calls: Counter) -> Iterator[None]:
    """Count registered autograd.Functions by their formula, their inner ops not at all."""
    from torch.utils._python_dispatch import _disable_current_modes

    patched = []
    for name, reg in _REGISTRY.items():
        cls = reg.target
        if reg.formula is None or not isinstance(cls, type):
            continue

        def apply(_cls: type, *args: Any, _bound: Any = cls.apply, _reg: Any = reg,
                  _name: str = name) -> Any:
            with _disable_current_modes():
                out = _bound(*args)
            key = _name.removeprefix("prim::")  # fvcore's by_operator name, "PythonOp.Foo"
            tally[key] += _reg.formula(args, out)
            calls[key] += 1
            return out
        patched.append((cls, cls.__dict__.get("apply")))
        cls.apply = classmethod(apply)
    try:
        yield
    finally:
        for cls, original in reversed(patched):  # a class registered twice unwinds in order
            if original is None:
                del cls.apply
            else:
                cls.apply = original


def _dispatch_count(model: torch.nn.Module, args: tuple) -> _Count:
    tally: Counter[str] = Counter()  # by_operator key -> MACs counted by us, not the counter
    calls: Counter[str] = Counter()  # by_operator key -> calls, for what we add
    uncounted: Counter[str] = Counter()
    complex_matmuls: Counter[str] = Counter()
    counter = FlopCounterMode(display=False, custom_mapping=_counter_mapping(calls))
    watch = _CallWatch(counter, tally, calls, uncounted, complex_matmuls)
    with _functions_by_formula(tally, calls), counter, watch:
        model(*args)
    counts = counter.get_flop_counts().get("Global", {})  # absent when nothing was counted
    by_op = {_short(str(op)): n / 2e9 for op, n in counts.items() if n}
    added = {}
    for key, n in calls.items():
        macs = tally[key] if key in tally else 1e9 * by_op.get(key, 0.0)
        if macs:
            added[key] = [n, macs]
    for key, n in tally.items():
        if n:
            by_op[key] = by_op.get(key, 0.0) + n / 1e9
    return _Count(by_op, uncounted, added, complex_matmuls)
