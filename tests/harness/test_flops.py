"""MAC counting: the field's reference figure, our handles, and the cross-check."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reproducers.harness.flops import (
    count_flops,
    count_params,
    register_flop_handle,
    unregister_flop_handle,
)


def test_vit_base_matches_reference_and_crosscheck():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_base_patch16_224", pretrained=False)  # left in train mode
    report = count_flops(model, torch.randn(1, 3, 224, 224))
    assert report.gmacs == pytest.approx(17.58, abs=0.01)
    attention = 12 * 12 * 197 * 197 * (64 + 64) / 1e9  # blocks * heads * L * L * (d + dv)
    sdpa = {k: v for k, v in report.by_operator.items() if "scaled_dot_product" in k}
    assert len(sdpa) == 1 and sum(sdpa.values()) == pytest.approx(attention)  # the fused kernel
    assert report.counter == "torch.utils.flop_counter" and report.crosscheck_counter == "fvcore"
    assert report.agrees and report.disagreement <= 0.02
    assert report.crosscheck_gmacs == pytest.approx(17.58, abs=0.01)
    assert report.crosscheck_by_operator["scaled_dot_product_attention"] == pytest.approx(attention)
    assert model.training and all(m.training for m in model.modules())
    json.dumps(report.to_dict())


class _Attention(nn.Module):
    def forward(self, q, k, v):
        full = F.scaled_dot_product_attention(q, k, v)
        masked = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(7, 9).bool())
        grouped = F.scaled_dot_product_attention(q, k[:, :1], v[:, :1], enable_gqa=True)
        return full + masked + grouped


def test_sdpa_counts_both_matmuls_exactly():
    b, h, lq, lk, d, dv = 2, 4, 7, 9, 16, 8
    q, k, v = torch.randn(b, h, lq, d), torch.randn(b, h, lk, d), torch.randn(b, h, lk, dv)
    report = count_flops(_Attention(), (q, k, v))
    expected = 3 * (b * h * lq * lk * d + b * h * lq * lk * dv)
    assert report.gmacs * 1e9 == pytest.approx(expected, abs=0.5)
    assert report.crosscheck_gmacs * 1e9 == pytest.approx(expected, abs=0.5)
    assert not report.uncounted_ops


class _FFTConv(nn.Module):
    """S4-style FFT convolution, padded to 2L so the transform length is traced, not given."""

    def __init__(self, channels: int, length: int):
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(channels, length))

    def forward(self, u):
        n = 2 * u.shape[-1]
        spectrum = torch.fft.rfft(u, n=n) * torch.fft.rfft(self.kernel, n=n)
        return torch.fft.irfft(spectrum, n=n)[..., : u.shape[-1]]


def test_fft_convolution_gets_documented_count():
    b, c, length = 2, 3, 64
    n = 2 * length
    per_real_fft = 1.25 * n * math.log2(n)  # documented: 1.25 N log2 N MACs per real transform
    transforms = b * c + c + b * c  # rfft(u), rfft(kernel), irfft
    complex_mul = 4 * b * c * (n // 2 + 1)  # 4 real MACs per complex product
    report = count_flops(_FFTConv(c, length), torch.randn(b, c, length))
    expected = transforms * per_real_fft + complex_mul
    assert report.gmacs * 1e9 == pytest.approx(expected, abs=0.5)
    assert report.agrees and report.crosscheck_gmacs * 1e9 == pytest.approx(expected, abs=0.5)
    assert {"_fft_r2c", "_fft_c2r", "mul"} <= set(report.by_operator)  # dispatch names
    assert {"fft_rfft", "fft_irfft", "mul"} <= set(report.crosscheck_by_operator)  # jit names


def test_complex_fft_counts_twice_a_real_one():
    x = torch.randn(5, 32, dtype=torch.complex64)
    report = count_flops(_Lambda(lambda x: torch.fft.fft(x)), x)
    assert report.gmacs * 1e9 == pytest.approx(5 * 2.5 * 32 * 5, abs=0.5)


class _Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def test_op_counted_by_neither_is_reported():
    model = nn.Sequential(nn.Linear(8, 8), _Lambda(lambda x: torch.linalg.vector_norm(x, dim=-1)))
    report = count_flops(model, torch.randn(4, 8))
    assert report.uncounted_ops == {"aten::linalg_vector_norm": 1}
    assert any("aten::linalg_vector_norm x1" in line for line in report.notes)
    assert report.gmacs * 1e9 == 4 * 8 * 8  # the linear only
    assert "aten::add" not in report.uncounted_ops  # elementwise: free, not reported


def test_complex_elementwise_other_than_mul_is_reported():
    report = count_flops(_Lambda(lambda z: torch.exp(z).real), torch.randn(3, dtype=torch.cfloat))
    assert report.uncounted_ops == {"aten::exp (complex)": 1}


class _Scaled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, scale):
        return (a @ b) * scale

    @staticmethod
    def backward(ctx, grad):
        return None, None, None


def test_registered_handle_for_custom_function_is_used():
    model = _Lambda(lambda a: _Scaled.apply(a, a.t(), 2.0))
    x = torch.randn(6, 7)
    unregistered = count_flops(model, x)
    # the dispatch counter sees the Function's inner matmul; fvcore's trace sees one opaque op
    assert unregistered.gmacs * 1e9 == pytest.approx(6 * 7 * 6) and not unregistered.uncounted_ops
    assert unregistered.crosscheck_uncounted_ops == {"prim::PythonOp._Scaled": 1}
    assert not unregistered.agrees and unregistered.crosscheck_gmacs == 0
    assert any("DISAGREES" in line for line in unregistered.notes)

    def handle(inputs, outputs):  # jit Values: the tensor arguments only
        (m, k), (_, n) = (i.type().sizes() for i in inputs)
        return 1000 * m * k * n

    register_flop_handle("prim::PythonOp._Scaled", handle,
                         formula=lambda args, out: 1000 * args[0].numel() * args[1].shape[1],
                         target=_Scaled)
    try:
        report = count_flops(model, x)
    finally:
        unregister_flop_handle("prim::PythonOp._Scaled")
    assert report.gmacs * 1e9 == 1000 * 6 * 7 * 6
    assert report.crosscheck_gmacs * 1e9 == pytest.approx(1000 * 6 * 7 * 6)  # inner mm hidden
    assert not report.uncounted_ops
    assert "apply" not in _Scaled.__dict__  # the cross-check's wrapper is removed


def test_count_params_exact():
    shared = nn.Linear(3, 4)
    model = nn.Sequential(shared, nn.BatchNorm1d(4), shared.__class__(4, 2), shared)
    model[2].bias.requires_grad_(False)
    assert count_params(model) == {
        "total": (3 * 4 + 4) + (4 + 4) + (4 * 2 + 2),  # the shared linear once
        "trainable": (3 * 4 + 4) + (4 + 4) + 4 * 2,
        "buffers": 4 + 4 + 1,  # running mean, running var, num_batches_tracked
    }
