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


def official_rel_pos_spatial_add(attn, rel_h, rel_w, s, q_thw, k_thw):
    """eladb3/SViT ``slowfast/models/attention.py::cal_rel_pos_spatial``, its last step: the
    patch x patch block of the logits is viewed as [B, heads, qt, qh, qw, kt, kh, kw], the two
    broadcast terms are added out of place (two temporaries), and the sum is written back
    into the block by slice assignment. ``rel_h``, ``rel_w``: [B, heads, qt, qh, qw, kh|kw]."""
    qe, ke = s + q_thw[0] * q_thw[1] * q_thw[2], s + k_thw[0] * k_thw[1] * k_thw[2]
    b, heads = attn.shape[:2]
    attn[:, :, s:qe, s:ke] = (
        attn[:, :, s:qe, s:ke].view(b, heads, *q_thw, *k_thw)
        + rel_h[:, :, :, :, :, None, :, None]
        + rel_w[:, :, :, :, :, None, None, :]
    ).view(b, heads, qe - s, ke - s)
    return attn


def official_rel_pos_temporal_add(attn, rel_t, s, q_thw, k_thw):
    """The same for ``cal_rel_pos_temporal``: one broadcast term [B, heads, qt, qh, qw, kt]."""
    qe, ke = s + q_thw[0] * q_thw[1] * q_thw[2], s + k_thw[0] * k_thw[1] * k_thw[2]
    b, heads = attn.shape[:2]
    attn[:, :, s:qe, s:ke] = (
        attn[:, :, s:qe, s:ke].view(b, heads, *q_thw, *k_thw)
        + rel_t[:, :, :, :, :, :, None, None]
    ).view(b, heads, qe - s, ke - s)
    return attn
