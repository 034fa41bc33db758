"""Plain re-statements of official computations, as baselines for the side-by-side benchmarks.

Written from the facts of the official code (read, not copied); no official code is needed to
run them. Each says which official function it re-states and what it keeps of its cost.
"""

from __future__ import annotations

import torch


def official_cauchy_conj(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The official ViS4mer S4 Cauchy path: md-mohaiminul/ViS4mer ``s4.py::cauchy_conj``
    (pykeops; the CUDA extension is not built on CPU), called from
    ``SSKernelNPLR.forward`` with v (H, 2, 2, N), w (H, 1, 1, N), z (1, 1, L).

    Facts kept: one KeOps ``Genred`` built per call, summing over the N modes
    ``2 (z Re v - (Re v Re w + Im v Im w)) / ((z - w)(z - conj w))`` (both conjugate halves in
    one fraction), all operands broadcast to the same number of dims and passed as real views,
    the keops reduction run on the (H, 2, 2) batch with w broadcast. The official call names
    the GPU backend; on a CPU-only machine KeOps' CPU backend is the only one that runs.
    """
    from pykeops.torch import Genred

    numerator = "z * ComplexReal(v) - Real2Complex(Sum(v * w))"
    denominator = "ComplexMult(z - w, z - Conj(w))"
    reduce = Genred(f"ComplexDivide({numerator}, {denominator})",
                    ["v = Vj(2)", "z = Vi(2)", "w = Vj(2)"], reduction_op="Sum", axis=1)
    ndim = max(v.dim(), w.dim(), z.dim())
    v, z, w = (t.reshape((1,) * (ndim - t.dim()) + tuple(t.shape)) for t in (v, z, w))
    out = 2 * reduce(torch.view_as_real(v), torch.view_as_real(z), torch.view_as_real(w),
                     backend="GPU" if v.is_cuda else "CPU")
    return torch.view_as_complex(out.contiguous())
