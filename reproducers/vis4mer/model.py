"""ViS4mer: multi-scale S4 decoder over pre-extracted frame features.

official: models.py::ViS4mer in md-mohaiminul/ViS4mer. Module names match the official ones
(encoder, s4_layers.i, norms.i, dropouts.i, pools.i, linears.i, gelus.i, decoder), and
parameters are created in the official order, so ``torch.manual_seed(s)`` before construction
gives the official initial weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from reproducers.vis4mer.s4 import S4


class ViS4mer(nn.Module):
    """(B, L, d_input) -> (B, d_output).

    Per block (golden quirk 3): LayerNorm -> S4 -> channel dropout -> + un-normalised input
    -> AvgPool1d(2) over time -> Linear(H, H/2) -> exact GELU. Then mean over time, decoder.
    ``encoder`` is always built but only applied when d_input != d_model (quirk 2).
    """

    def __init__(self, d_input: int, l_max: int, d_output: int, d_model: int, n_layers: int,
                 dropout: float = 0.2, prenorm: bool = True, cauchy_backend: str = "auto",
                 eig_select: str = "im_pos"):
        super().__init__()
        self.prenorm = prenorm
        self.d_model = d_model
        self.d_input = d_input
        self.input_dtype = torch.float32  # official `x.to(torch.float32)`
        self.encoder = nn.Linear(d_input, d_model)
        self.s4_layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.dropouts = nn.ModuleList()
        self.pools = nn.ModuleList()
        self.linears = nn.ModuleList()
        self.gelus = nn.ModuleList()
        for _ in range(n_layers):
            self.s4_layers.append(S4(H=d_model, l_max=l_max, dropout=dropout,
                                     eig_select=eig_select, cauchy_backend=cauchy_backend))
            self.norms.append(nn.LayerNorm(d_model))
            self.dropouts.append(nn.Dropout1d(dropout))  # official Dropout2d on (B, C, L)
            self.pools.append(nn.AvgPool1d(2))
            self.linears.append(nn.Linear(d_model, int(d_model / 2)))
            self.gelus.append(nn.GELU())
            d_model = int(d_model / 2)
            l_max = int(l_max / 2)  # 11820 -> 5910 -> 2955 (odd: kernel has L-1 taps)
        self.decoder = nn.Linear(d_model, d_output)

    def set_precision(self, dtype: torch.dtype) -> ViS4mer:
        """Run everything (input cast, kernels, nodes recomputed) in ``dtype``; default float32."""
        self.to(dtype)
        self.input_dtype = dtype
        for layer in self.s4_layers:
            layer.set_precision(dtype)
        return self

    def set_cauchy_backend(self, backend: str) -> None:
        for layer in self.s4_layers:
            layer.kernel.krylov.cauchy_backend = backend

    def forward(self, x: torch.Tensor, apply_encoder: bool | None = None) -> torch.Tensor:
        """``apply_encoder=None`` follows the official rule (only when d_input != d_model)."""
        x = x.to(self.input_dtype)
        if apply_encoder if apply_encoder is not None else self.d_model != self.d_input:
            x = self.encoder(x)
        x = x.transpose(-1, -2)  # (B, H, L)
        blocks = zip(self.s4_layers, self.norms, self.dropouts, self.pools, self.linears,
                     self.gelus, strict=True)
        for layer, norm, dropout, pool, linear, gelu in blocks:
            z = x
            if self.prenorm:
                z = norm(z.transpose(-1, -2)).transpose(-1, -2)
            z, _ = layer(z)
            x = dropout(z) + x
            if not self.prenorm:
                x = norm(x.transpose(-1, -2)).transpose(-1, -2)
            x = pool(x)
            x = gelu(linear(x.transpose(-1, -2))).transpose(-1, -2)
        return self.decoder(x.transpose(-1, -2).mean(dim=1))


def optimizer_param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict]:
    """AdamW param groups as official run_*.py::setup_optimizer builds them.

    Group 0: every parameter without an ``_optim`` tag (lr, weight_decay); then one group per
    distinct ``_optim`` dict (S4 log_dt, w, B: lr 1e-3, wd 0). 3 layers: 28 + 9 tensors.
    """
    params = list(model.parameters())
    groups = [{"params": [p for p in params if not hasattr(p, "_optim")], "lr": lr,
               "weight_decay": weight_decay}]
    seen: list[dict] = []
    for p in params:
        hp = getattr(p, "_optim", None)
        if hp is not None and hp not in seen:
            seen.append(hp)
    for hp in seen:
        groups.append({"params": [p for p in params if getattr(p, "_optim", None) == hp], **hp})
    return groups
