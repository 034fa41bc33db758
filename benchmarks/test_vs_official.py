"""Ours against plain re-statements of the official computations (official_restated.py), side
by side in one run: same weights, same input, the same thread count. ``conftest.py`` prints
the ratio official / ours per group at the end (above 1: ours is faster).

* ViS4mer at the official demo size ([1, 2048, 1024], 3 layers): the whole forward with the
  official Cauchy path (KeOps, as official) against ours with the default ``auto`` backend and
  with the torch backend (the default where KeOps does not compile).
* The Cauchy kernel alone at the demo's first layer (H = 1024, N/2 = 32, 1025 nodes).
* SViT's relative-position adds at the full-size stage-2 block (logits [1, 2, 6337, 1633]):
  the official out-of-place sum + slice assignment against ours (in place).

Run: OMP_NUM_THREADS=1 pytest benchmarks/test_vs_official.py --benchmark-only
"""

from __future__ import annotations

import functools

import pytest
import torch
from official_restated import (  # benchmarks/ is on sys.path (pytest prepend import mode)
    official_cauchy_conj,
    official_rel_pos_spatial_add,
    official_rel_pos_temporal_add,
)

from reproducers.common import cauchy as C

HAS_KEOPS = C._keops_importable()
needs_keops = pytest.mark.skipif(not HAS_KEOPS, reason="pykeops not importable: the official "
                                 "Cauchy path is KeOps")
DEMO = {"d_input": 1024, "l_max": 2048, "d_output": 10, "d_model": 1024, "n_layers": 3}


@functools.cache
def _vis4mer_demo():
    from reproducers.vis4mer.model import ViS4mer

    torch.manual_seed(0)
    model = ViS4mer(**DEMO).eval()
    x = torch.randn(1, DEMO["l_max"], DEMO["d_input"], generator=torch.Generator().manual_seed(1))
    return model, x


def _official_kernel_call(v, z, w, backend=None):
    """Our S4 calls cauchy_conj(v (H,2,2,N), z (L,), w (H,1,1,N)); official passes z (1,1,L)."""
    return official_cauchy_conj(v, z[None, None, :], w)


@pytest.mark.benchmark(group="vis4mer-demo-forward")
@pytest.mark.parametrize("side", [pytest.param("official", marks=needs_keops), "ours",
                                  "ours-torch"])
def test_vis4mer_demo_forward(benchmark, side, monkeypatch):
    from reproducers.vis4mer import s4

    model, x = _vis4mer_demo()
    if side == "official":
        monkeypatch.setattr(s4, "cauchy_conj", _official_kernel_call)
    model.set_cauchy_backend("torch" if side == "ours-torch" else "auto")
    with torch.no_grad():
        out = model(x)  # warm-up (keops compiles on first use)
        got = benchmark.pedantic(model, args=(x,), rounds=3, warmup_rounds=0, iterations=1)
    torch.testing.assert_close(got, out)
    benchmark.extra_info.update({
        "side": side, "input": list(x.shape), "config": DEMO,
        "cauchy_backend": "official keops" if side == "official" else C.resolve_backend(
            "torch" if side == "ours-torch" else "auto", "cpu"),
        "threads": torch.get_num_threads()})


def _demo_layer1_kernel_inputs():
    """v, z, w exactly as the demo's first S4 layer hands them to the Cauchy kernel."""
    model, _ = _vis4mer_demo()
    k = model.s4_layers[0].kernel.krylov
    captured = {}

    def capture(v, z, w, backend=None):
        captured.update(v=v, z=z, w=w)
        return C.cauchy_conj(v, z, w, backend="torch")

    from reproducers.vis4mer import s4
    original, s4.cauchy_conj = s4.cauchy_conj, capture
    try:
        with torch.no_grad():
            k()
    finally:
        s4.cauchy_conj = original
    return captured["v"], captured["z"], captured["w"]


@pytest.mark.benchmark(group="cauchy-demo-layer1")
@pytest.mark.parametrize("side", [pytest.param("official", marks=needs_keops), "ours",
                                  "ours-torch"])
def test_cauchy_demo_layer1(benchmark, side):
    v, z, w = _demo_layer1_kernel_inputs()
    if side == "official":
        def run():
            return _official_kernel_call(v, z, w)
    else:
        backend = "torch" if side == "ours-torch" else "auto"

        def run():
            return C.cauchy_conj(v, z, w, backend=backend)
    reference = C.cauchy_conj(v, z, w, backend="torch")
    run()  # warm-up
    got = benchmark.pedantic(run, rounds=5, warmup_rounds=0, iterations=1)
    torch.testing.assert_close(got, reference, rtol=1e-4, atol=1e-5 * reference.abs().max())
    benchmark.extra_info.update({"side": side, "v": list(v.shape), "w": list(w.shape),
                                 "nodes": z.numel(), "threads": torch.get_num_threads()})


# SViT full size (16 x 224), stage 2: q grid 8x28x28, k/v grid 8x14x14, 2 heads of 96 dims,
# cls + 64 object tokens (16 frames x 4) -> logits [1, 2, 6337, 1633].
Q_THW, K_THW, HEADS, HEAD_DIM, OBJECTS = [8, 28, 28], [8, 14, 14], 2, 96, 64


def _svit_relpos_inputs():
    g = torch.Generator().manual_seed(0)
    nq, nk = 1 + 8 * 28 * 28 + OBJECTS, 1 + 8 * 14 * 14 + OBJECTS
    attn = torch.randn(1, HEADS, nq, nk, generator=g)
    q = torch.randn(1, HEADS, nq, HEAD_DIM, generator=g)
    tables = [torch.randn(2 * 28 - 1, HEAD_DIM, generator=g) * 0.02 for _ in range(2)]
    return attn, q, tables[0], tables[1], torch.randn(2 * 8 - 1, HEAD_DIM, generator=g) * 0.02


def _rel_terms(q, rel_h, rel_w, rel_t):
    """The three einsum terms, computed as both sides do (our helpers = official arithmetic)."""
    from reproducers.svit.attention import _rel_index, resize_rel_pos

    (qt, qh, qw), (kt, kh, kw) = Q_THW, K_THW
    rq = q[:, :, 1 : 1 + qt * qh * qw].reshape(1, HEADS, qt, qh, qw, HEAD_DIM)
    rh = resize_rel_pos(rel_h, 2 * max(qh, kh) - 1)[_rel_index(qh, kh)]
    rw = resize_rel_pos(rel_w, 2 * max(qw, kw) - 1)[_rel_index(qw, kw)]
    rt = resize_rel_pos(rel_t, 2 * max(qt, kt) - 1)[_rel_index(qt, kt)]
    return (torch.einsum("bythwc,hkc->bythwk", rq, rh), torch.einsum("bythwc,wkc->bythwk", rq, rw),
            torch.einsum("bythwc,tkc->bythwk", rq, rt))


@pytest.mark.benchmark(group="svit-relpos-stage2")
@pytest.mark.parametrize("side", ["official", "ours"])
def test_svit_relpos_adds(benchmark, side):
    from reproducers.svit.attention import add_rel_pos_spatial, add_rel_pos_temporal

    attn0, q, rel_h, rel_w, rel_t = _svit_relpos_inputs()

    def official(attn):
        h, w, t = _rel_terms(q, rel_h, rel_w, rel_t)
        attn = official_rel_pos_spatial_add(attn, h, w, 1, Q_THW, K_THW)
        return official_rel_pos_temporal_add(attn, t, 1, Q_THW, K_THW)

    def ours(attn):
        attn = add_rel_pos_spatial(attn, q, True, Q_THW, K_THW, rel_h, rel_w)
        return add_rel_pos_temporal(attn, q, True, Q_THW, K_THW, rel_t)

    fn = official if side == "official" else ours
    expected = official(attn0.clone())
    with torch.no_grad():
        got = benchmark.pedantic(fn, setup=lambda: ((attn0.clone(),), {}), rounds=5,
                                 warmup_rounds=1, iterations=1)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)
    benchmark.extra_info.update({"side": side, "logits": list(attn0.shape),
                                 "threads": torch.get_num_threads()})
