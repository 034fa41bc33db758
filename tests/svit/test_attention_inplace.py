"""The relative-position adds work in place on the attention logits (as official) and keep
forward and backward exactly what the out-of-place (clone) form gives."""

from __future__ import annotations

import pytest
import torch

from reproducers.svit import attention as A


def _attention() -> A.MultiScaleAttention:
    """Block-1-like geometry: q pooled 2x spatially, k/v 2x, cls + object tokens, float64."""
    torch.manual_seed(0)
    return A.MultiScaleAttention(16, 32, (2, 8, 8), num_heads=2, kernel_q=(3, 3, 3),
                                 kernel_kv=(3, 3, 3), stride_q=(1, 2, 2),
                                 stride_kv=(1, 2, 2)).double()


def _grads(module, x):
    out, thw = module(x, [2, 8, 8])
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum()
    params = [x, *module.parameters()]
    return out.detach(), thw, torch.autograd.grad(loss, params)


def _out_of_place(fn):
    return lambda attn, *args: fn(attn.clone(), *args)


def test_in_place_forward_and_backward_equal_the_clone_form(monkeypatch):
    module = _attention()
    x = torch.randn(2, 1 + 2 * 8 * 8 + 8, 16, dtype=torch.float64, requires_grad=True)
    ours = _grads(module, x)
    monkeypatch.setattr(A, "add_rel_pos_spatial", _out_of_place(A.add_rel_pos_spatial))
    monkeypatch.setattr(A, "add_rel_pos_temporal", _out_of_place(A.add_rel_pos_temporal))
    reference = _grads(module, x)
    torch.testing.assert_close(ours[0], reference[0], atol=0, rtol=0)
    assert ours[1] == reference[1] == [2, 4, 4]
    assert len(ours[2]) == len(reference[2])
    for a, b in zip(ours[2], reference[2], strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert ours[2][0].abs().sum() > 0 and module.rel_pos_h in list(module.parameters())


@pytest.mark.parametrize("has_cls", [True, False])
def test_adds_land_in_the_given_tensor_on_the_patch_block_only(has_cls):
    s = 1 if has_cls else 0
    q_thw, k_thw, obj = [2, 2, 3], [2, 1, 3], 4
    nq, nk = s + 12 + obj, s + 6 + obj
    attn = torch.zeros(1, 2, nq, nk, dtype=torch.float64)
    q = torch.randn(1, 2, nq, 5, dtype=torch.float64)
    table = torch.randn(2 * 3 - 1, 5, dtype=torch.float64)
    out = A.add_rel_pos_spatial(attn, q, has_cls, q_thw, k_thw, table, table)
    out = A.add_rel_pos_temporal(out, q, has_cls, q_thw, k_thw, table[:3])
    assert out is attn  # in place, no copy of the logits
    patch = attn[:, :, s : s + 12, s : s + 6]
    assert patch.abs().min() > 0
    rest = attn.clone()
    rest[:, :, s : s + 12, s : s + 6] = 0
    assert rest.abs().max() == 0  # cls and object rows / columns untouched


def test_gradcheck_through_the_in_place_adds():
    module = _attention()
    x = torch.randn(1, 1 + 2 * 8 * 8 + 2, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: module(t, [2, 8, 8])[0], (x,), atol=1e-7)
