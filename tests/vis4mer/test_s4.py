"""S4 layer and ViS4mer structure: counts, optimizer groups, causality, HiPPO NPLR, odd lengths."""

from __future__ import annotations

import torch

from reproducers.vis4mer.model import ViS4mer, optimizer_param_groups
from reproducers.vis4mer.s4 import S4, fft_nodes, hippo_legs, nplr_legs


def _numel(params) -> int:
    return sum(p.numel() for p in params)


def test_demo_parameter_count():
    model = ViS4mer(1024, 2048, 10, 1024, 3)
    assert _numel(model.parameters()) == 3_584_074
    assert _numel(model.parameters()) - _numel(model.encoder.parameters()) == 2_534_474
    # fact sheet per-layer formula H^2 + 259 H + 64 (N = 64)
    for h, layer in zip((1024, 512, 256), model.s4_layers, strict=True):
        assert _numel(layer.parameters()) == h * h + 259 * h + 64


def test_param_groups_match_official_setup_optimizer():
    model = ViS4mer(64, 32, 4, 64, 3)
    groups = optimizer_param_groups(model, lr=1e-3, weight_decay=0.01)
    assert [len(g["params"]) for g in groups] == [28, 9]
    assert (groups[0]["lr"], groups[0]["weight_decay"]) == (1e-3, 0.01)
    assert (groups[1]["lr"], groups[1]["weight_decay"]) == (1e-3, 0.0)
    names = {id(p): n for n, p in model.named_parameters()}
    special = sorted(names[id(p)].rsplit(".", 1)[-1] for p in groups[1]["params"])
    assert special == ["B"] * 3 + ["log_dt"] * 3 + ["w"] * 3
    assert len({id(p) for g in groups for p in g["params"]}) == len(list(model.parameters()))
    torch.optim.AdamW(groups)  # official optimizer accepts the groups


def test_optim_tags_survive_dtype_conversion():
    model = ViS4mer(8, 16, 2, 8, 1).set_precision(torch.float64)
    assert [len(g["params"]) for g in optimizer_param_groups(model, 1e-3, 0.01)] == [12, 3]


def test_s4_is_causal():
    """Changing inputs from t = 40 on leaves earlier outputs unchanged (to FFT round-off, hence
    float64); a circular (non-padded) convolution would move them by O(1)."""
    torch.manual_seed(0)
    layer = S4(H=8, l_max=128, cauchy_backend="torch").eval().set_precision(torch.float64)
    u = torch.randn(2, 8, 128, dtype=torch.float64)
    u2 = u.clone()
    u2[..., 40:] = torch.randn(2, 8, 88, dtype=torch.float64) * 5
    with torch.no_grad():
        y, state = layer(u)
        y2, _ = layer(u2)
    assert state is None
    assert (y[..., :40] - y2[..., :40]).abs().max() < 1e-12
    assert (y[..., 40:] - y2[..., 40:]).abs().max() > 1e-2  # the future part does change


def test_hippo_legs_reconstructed_from_nplr_float64():
    n = 64
    a, b = hippo_legs(n)
    assert a[3, 1] == -(7**0.5) * (3**0.5) and a[5, 5] == -6 and a[1, 3] == 0
    p = torch.sqrt(0.5 + torch.arange(n, dtype=torch.float64))
    w, pt, bt, v = nplr_legs(n, torch.float64)
    assert w.shape == (n // 2,) and torch.all(w.imag > 0)
    torch.testing.assert_close(w.real, torch.full_like(w.real, -0.5), atol=1e-12, rtol=0)
    a_rec = 2 * (v @ torch.diag(w) @ v.conj().T).real - torch.outer(p, p)
    assert (a_rec - a).abs().max() / a.abs().max() < 1e-12
    assert (2 * (v @ pt).real - p).abs().max() < 1e-12
    assert (2 * (v @ bt).real - b).abs().max() < 1e-12


def test_official_eig_selection_matches_im_pos():
    w0, p0, b0, _ = nplr_legs(64, torch.float32, "official")
    w1, p1, b1, _ = nplr_legs(64, torch.float32, "im_pos")
    assert torch.equal(w0, w1) and torch.equal(p0, p1) and torch.equal(b0, b1)


def test_odd_length_kernel_and_lvu_schedule():
    """LVU lengths 11820 -> 5910 -> 2955: the last kernel is built from 1478 nodes, so irfft
    returns 2954 taps (official); the layer still maps length 2955 to 2955."""
    model = ViS4mer(4, 11820, 2, 8, 3)
    assert [m.kernel.krylov.L for m in model.s4_layers] == [11820, 5910, 2955]
    assert [m.kernel.krylov.nodes.shape[0] for m in model.s4_layers] == [5911, 2956, 1478]
    torch.manual_seed(0)
    layer = S4(H=3, l_max=15, cauchy_backend="torch").eval()
    with torch.no_grad():
        k = layer.kernel()
        u = torch.randn(1, 3, 15)
        y, _ = layer(u)
        taps = torch.zeros(3, 15)
        taps[:, :14] = k  # tap 14 does not exist: it contributes zero
        conv = torch.zeros(3, 15)
        for t in range(15):
            for s in range(t + 1):
                conv[:, t] += taps[:, s] * u[0, :, t - s]
        ref = layer.output_linear(torch.nn.functional.gelu(conv + u[0] * layer.D[:, None]))
    assert k.shape == (3, 14)
    assert y.shape == (1, 3, 15)
    torch.testing.assert_close(y[0], ref, atol=1e-5, rtol=1e-5)


def test_nodes_recomputed_in_complex128():
    layer = S4(H=2, l_max=64).set_precision(torch.float64)
    nodes, _ = fft_nodes(64, torch.complex128)
    assert layer.kernel.krylov.nodes.dtype == torch.float64
    assert torch.equal(torch.view_as_complex(layer.kernel.krylov.nodes), nodes)
    assert layer.kernel().dtype == torch.float64


def test_kernel_longer_input_is_refused():
    layer = S4(H=2, l_max=16)
    try:
        layer(torch.randn(1, 2, 17))
    except NotImplementedError as err:
        assert "double_length" in str(err)
    else:
        raise AssertionError("an input longer than l_max must be refused")


def test_forward_backward_and_encoder_rule():
    torch.manual_seed(0)
    model = ViS4mer(8, 32, 3, 8, 3, cauchy_backend="torch")
    out = model(torch.randn(2, 32, 8, dtype=torch.float64))  # cast to float32 (official)
    assert out.shape == (2, 3) and out.dtype == torch.float32
    out.square().sum().backward()
    for name, p in model.named_parameters():
        if not name.startswith("encoder"):
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert model.encoder.weight.grad is None  # d_input == d_model: built but skipped
    wide = ViS4mer(6, 32, 3, 8, 1)
    wide(torch.randn(1, 32, 6)).sum().backward()
    assert wide.encoder.weight.grad is not None and wide.encoder.weight.grad.abs().sum() > 0
