"""S4 (v1) layer exactly as ViS4mer uses it: HiPPO-LegS NPLR kernel + causal FFT convolution.

official: s4.py in md-mohaiminul/ViS4mer (verbatim state-spaces S4 v1 standalone @048b3e6).
Module tree, parameter/buffer names and shapes follow the official one so its state_dict loads
strictly: ``D`` (H,), ``kernel.krylov.{log_dt (H,), w (N/2,2), B (H,2,N/2,2), C (H,2,N/2,2),
nodes, z (L/2+1,2)}``, ``output_linear.{weight (H,H), bias (H,1)}``. Complex tensors are stored
as real views (last axis = re, im), as official.

Precision: by default everything is float32/complex64 and the kernel is cast to float32 (the
official casts, golden quirk 1). ``S4.set_precision(torch.float64)`` converts parameters and
*recomputes* the node buffers in complex128 (rather than upcasting the stored ones).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from reproducers.common.cauchy import cauchy_conj

# Official per-parameter optimizer settings (HippoSSKernel lr dict + register(..., wd=0.0)).
SSM_OPTIM = {"lr": 1e-3, "weight_decay": 0.0}


def hippo_legs(n: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegS (A, B): A[i,k] = -sqrt(2i+1)sqrt(2k+1) (i>k), -(i+1) (i=k), 0 above.

    official: s4.py::transition('legs') (there built as T M T^-1 in numpy float64).
    """
    q = torch.arange(n, dtype=torch.float64)
    r = torch.sqrt(2 * q + 1)
    a = torch.tril(-(r[:, None] * r[None, :]), diagonal=-1) - torch.diag(q + 1)
    return a.to(dtype), r.to(dtype)


def nplr_legs(n: int, dtype: torch.dtype = torch.float32, eig_select: str = "im_pos"):
    """Diagonalise A + P P^T (normal) and keep one eigenpair of each conjugate pair.

    Returns (w, P~, B~, V) with w (n/2,) complex, P~ = V^* P, B~ = V^* B, V (n, n/2), so that
    A = 2 Re(V diag(w) V^*) - P P^T and P = 2 Re(V P~), B = 2 Re(V B~).
    ``eig_select``: "im_pos" keeps Im(w) > 0 (robust); "official" keeps ``[0::2]`` as
    official, which relies on eig returning conjugates in adjacent slots.
    official: s4.py::nplr + rank_correction('legs') (computed in float32 at precision=1).
    """
    a, b = hippo_legs(n, dtype)
    p = torch.sqrt(0.5 + torch.arange(n, dtype=dtype))
    w, v = torch.linalg.eig(a + p[:, None] * p[None, :])
    if eig_select == "official":
        w, v = w[0::2].contiguous(), v[:, 0::2].contiguous()
    elif eig_select == "im_pos":
        keep = w.imag > 0
        if int(keep.sum()) != n // 2:
            raise RuntimeError(f"expected {n // 2} eigenvalues with Im > 0, got {int(keep.sum())}")
        w, v = w[keep].contiguous(), v[:, keep].contiguous()
    else:
        raise ValueError(f"eig_select must be 'im_pos' or 'official', not {eig_select!r}")
    v_inv = v.conj().transpose(-1, -2)
    return w, v_inv @ p.to(v.dtype), v_inv @ b.to(v.dtype), v


def fft_nodes(length: int, cdtype: torch.dtype, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """omega_k = base**k (integer powers of the *rounded* base, golden quirk 6), k = 0..L//2,
    and their bilinear map z_k = 2(1 - omega_k)/(1 + omega_k).

    official: s4.py::SSKernelNPLR._nodes.
    """
    base = torch.tensor(np.exp(-2j * np.pi / length), dtype=cdtype, device=device)
    nodes = base ** torch.arange(0, length // 2 + 1, device=device)
    return nodes, 2 * (1 - nodes) / (1 + nodes)


def _tag(param: nn.Parameter, optim: dict | None) -> nn.Parameter:
    if optim:
        param._optim = dict(optim)
    return param


class NPLRKernel(nn.Module):
    """Length-L convolution kernel of H bilinear-discretised NPLR SSMs (rank 1).

    official: s4.py::SSKernelNPLR (trainable A:1, B:2, C:1, dt:1; lr A/B/dt 1e-3, wd 0).
    """

    def __init__(self, length: int, w, p, b, c, log_dt, cauchy_backend: str = "auto"):
        super().__init__()
        h = c.shape[0]
        self.L = length
        self.cauchy_backend = cauchy_backend
        self.cast_dtype = torch.float32  # official `.to(torch.float)` on the kernel
        b_stack = torch.stack([b, p])  # (2, N/2): [B~; P~]
        c_stack = torch.stack([c, p.expand(h, -1)], dim=1)  # (H, 2, N/2): [C~; Q~ = P~]
        nodes, z = fft_nodes(length, w.dtype)
        self.log_dt = _tag(nn.Parameter(log_dt), SSM_OPTIM)
        self.w = _tag(nn.Parameter(torch.view_as_real(w).clone()), SSM_OPTIM)
        self.B = _tag(nn.Parameter(torch.view_as_real(b_stack).repeat(h, 1, 1, 1)), SSM_OPTIM)
        self.C = nn.Parameter(torch.view_as_real(c_stack).clone())  # general group (official)
        self.register_buffer("nodes", torch.view_as_real(nodes).clone())
        self.register_buffer("z", torch.view_as_real(z).clone())

    @torch.no_grad()
    def set_precision(self, dtype: torch.dtype) -> None:
        """Convert to ``dtype`` and recompute the node buffers at the matching complex dtype."""
        self.to(dtype)
        self.cast_dtype = dtype
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        nodes, z = fft_nodes(self.L, cdtype, device=self.w.device)
        self.nodes = torch.view_as_real(nodes).clone()
        self.z = torch.view_as_real(z).clone()

    def forward(self, L: int | None = None) -> torch.Tensor:
        """Kernel (H, 2*(self.L//2)) at the stored length (official rate == 1.0 path).

        official: s4.py::SSKernelNPLR.forward. For odd self.L the irfft of the L//2+1 nodes
        gives 2*(L//2) = L-1 taps, exactly as official.
        """
        if L is not None and L > self.L:
            raise NotImplementedError(
                f"input length {L} > l_max {self.L}: official S4 doubles the kernel length "
                "(SSKernelNPLR.double_length); not reproduced, build with a larger l_max"
            )
        dt = torch.exp(self.log_dt)  # (H,)
        b = torch.view_as_complex(self.B)  # (H, 2, N/2)
        c = torch.view_as_complex(self.C)  # (H, 2, N/2)
        w = torch.view_as_complex(self.w) * dt.unsqueeze(-1)  # (H, N/2)
        nodes = torch.view_as_complex(self.nodes)
        z = torch.view_as_complex(self.z)
        v = b.unsqueeze(-3) * c.unsqueeze(-2).conj()  # v[h, a, b] = conj(C[a]) B[b]
        r = cauchy_conj(v, z, w[:, None, None, :], backend=self.cauchy_backend)
        r = r * dt[:, None, None, None]  # (H, 2, 2, L//2+1)
        k_f = r[:, 0, 0] - r[:, 0, 1] * r[:, 1, 0] / (1 + r[:, 1, 1])  # Woodbury, rank 1
        k_f = k_f * 2 / (1 + nodes)  # bilinear correction
        return torch.fft.irfft(k_f).to(self.cast_dtype)


class HippoKernel(nn.Module):
    """Draws log_dt ~ logU[dt_min, dt_max], builds the LegS NPLR form and C ~ CN(0, 1).

    official: s4.py::HippoSSKernel (mode 'nplr', measure 'legs', rank 1, precision 1). The
    random draws happen in the official order: log_dt, then C.
    """

    def __init__(self, n: int, h: int, length: int, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 eig_select: str = "im_pos", cauchy_backend: str = "auto"):
        super().__init__()
        log_dt = torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        w, p, b, _ = nplr_legs(n, torch.float32, eig_select)
        c = torch.randn(h, n // 2, dtype=torch.complex64)
        self.krylov = NPLRKernel(length, w, p, b, c, log_dt, cauchy_backend)

    def forward(self, L: int | None = None) -> torch.Tensor:
        return self.krylov(L=L)


class TransposedLinear(nn.Module):
    """Channel-mixing Linear on (B, H, L), bias (H_out, 1); nn.Linear default init.

    official: s4.py::TransposedLinear (via LinearActivation, no activation).
    """

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(d_in)
        self.bias = nn.Parameter(torch.empty(d_out, 1).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.weight, x) + self.bias


class S4(nn.Module):
    """S4 layer on (B, H, L): causal conv with the SSM kernel, + D u, GELU, dropout, Linear.

    official: s4.py::S4 with ViS4mer's arguments (transposed=True, d_state 64, activation
    'gelu', postact None, no input_linear/hyper, stride 1). Dropout is channel-wise
    (Dropout1d == official Dropout2d on (B, C, L)).
    """

    def __init__(self, H: int, l_max: int, d_state: int = 64, dt_min: float = 1e-3,
                 dt_max: float = 1e-1, dropout: float = 0.0, eig_select: str = "im_pos",
                 cauchy_backend: str = "auto"):
        super().__init__()
        self.h, self.n = H, d_state
        self.D = nn.Parameter(torch.randn(H))
        self.kernel = HippoKernel(d_state, H, l_max, dt_min, dt_max, eig_select, cauchy_backend)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout1d(dropout) if dropout > 0.0 else nn.Identity()
        self.output_linear = TransposedLinear(H, H)

    def set_precision(self, dtype: torch.dtype) -> S4:
        self.to(dtype)
        self.kernel.krylov.set_precision(dtype)
        return self

    def forward(self, u: torch.Tensor):
        """u (B, H, L) -> (y (B, H, L), None). official: s4.py::S4.forward."""
        length = u.size(-1)
        k = self.kernel(L=length)[..., :length]
        k_f = torch.fft.rfft(k, n=2 * length)
        u_f = torch.fft.rfft(u, n=2 * length)
        y = torch.fft.irfft(k_f * u_f, n=2 * length)[..., :length]  # zero-padded: causal
        y = y + u * self.D.unsqueeze(-1)
        y = self.dropout(self.activation(y))
        return self.output_linear(y), None
