"""Greedy K-center with exact distances only where they can change the running minimum.

The official loop (kami93/kcenter_video @ ef7a40a, ``KCenterSampler.forward``) takes, for each
pick c, ``running = min(running, d(c, .))`` over the full distance matrix and then the first
argmax. An entry j can only change when d(c, j) < running[j]. So:

- the points of each (sample, segment) are rounded to integers: pixels to q = round(x / s)
  with s = max |pixel| / 127, coordinates to round(x / (m s)) repeated m^2 times (m the smallest
  integer keeping them in int8), so the squared distance a^2 between rounded points is s^2
  times an exact integer from one int8 Gram matrix (``torch._int_mm``: AMX/VNNI on recent
  CPUs). With e_i = |x_i - rounded x_i|, the triangle inequality gives d >= a - e_i - e_j;
- the official distances are float matrix products whose rounding can put them below the true
  distance by at most eta^2 = (C + 2) u 2 (|x_c|^2 + |x_j|^2) in squared distance (u the unit
  roundoff), so (c, j) is skipped when a >= sqrt(running[j]^2 + eta_j^2 + H^2) + e_j + E
  (E, H the largest e and eta^2 of the problem): then no rounding of the official formula can
  lower running[j]. The test costs one Gram row and three vector operations per pick;
- the other entries (about 3 % of the picks' rows on the released batches, most of them real
  changes) get the official formula ``|x_c|^2 + |x_j|^2 - 2 x_c . x_j``, clamped at 1e-30,
  square root, as dot products.

The picks are the official loop's in float64. In float32 a decision between two candidates
closer than the formula's rounding (~1e-5 here) can fall the other way, because these dot
products do not sum in the order of the official matrix product (measured: the full-size
Motionformer and ViT batches of benchmarks/test_kcenter_sampler.py differ, the golden file
and the TimeSformer batch do not).
"""

from __future__ import annotations

import math

import torch

QMAX = 127  # int8 range of the rounded channels
MAX_REPEAT = 16  # coordinate step at most 16 pixel steps (256 copies per coordinate)


def _prepare(points: torch.Tensor, coordinates: int, gram_only: bool = False):
    """(gram [P, n, n], s [P], e [P, n], |x|^2 [P, n]), one problem at a time in reused
    buffers (large fresh allocations cost page faults on every call).

    The rounded points are pixels at step s (s = max |pixel| / 127) and coordinates at step
    m s repeated m^2 times (m the smallest integer keeping them in int8), so that
    s^2 |Q_i - Q_j|^2 is their squared distance; gram = Q Q^T exactly (int32 from int8 on
    CPU); e = |x - rounded x| padded for the float error of computing it; |x|^2 as cdist."""
    P, n, C = points.shape
    D = C - coordinates
    device, dtype = points.device, points.dtype
    peak = torch.stack([torch.maximum(points[p, :, :D].amax(), -points[p, :, :D].amin())
                        for p in range(P)]).double()
    coord_peak = points[..., D:].abs().amax(dim=(1, 2)).double()
    scale = torch.maximum(peak, coord_peak / MAX_REPEAT) / QMAX
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    repeat = max(1, math.ceil(float((coord_peak / (scale * QMAX)).max()) - 1e-9))
    eps = torch.finfo(dtype).eps
    cpu = device.type == "cpu"
    q = torch.empty(n, D + coordinates * repeat * repeat, dtype=torch.int8, device=device)
    gram = torch.empty(P, n, n, dtype=torch.int32 if cpu else torch.float64, device=device)
    residual = torch.empty(P, n, dtype=dtype, device=device)
    norms = torch.empty(P, n, dtype=dtype, device=device)
    scaled, rounded = torch.empty(n, C, dtype=dtype, device=device), \
        torch.empty(n, C, dtype=dtype, device=device)
    inverse = torch.ones(C, dtype=dtype, device=device)
    for p, s in enumerate(scale.tolist()):
        if not gram_only:
            torch.sum(torch.mul(points[p], points[p], out=scaled), -1, out=norms[p])
        inverse[:D] = 1 / s
        inverse[D:] = 1 / (s * repeat)
        torch.mul(points[p], inverse, out=scaled)
        torch.round(scaled, out=rounded)
        q[:, :D] = rounded[:, :D]
        q[:, D:] = rounded[:, D:].repeat_interleave(repeat * repeat, -1)
        if not gram_only:
            scaled.sub_(rounded)
            scaled[:, D:] *= repeat
            torch.sum(scaled.mul_(scaled), -1, out=residual[p])
        if cpu:
            torch._int_mm(q, q.T, out=gram[p])
        else:  # integers below 2^53: exact in float64
            gram[p] = q.double() @ q.double().T
    residual = residual.double().sqrt_() * (scale[:, None] * (1 + 1e-6))
    residual += 4 * eps * norms.double().sqrt()
    return gram, scale, residual, norms


def rounded_gram(points: torch.Tensor, coordinates: int = 3) -> torch.Tensor:
    """The exact Gram matrix [P, n, n] of the rounded points (see ``_prepare``)."""
    return _prepare(points, coordinates, gram_only=True)[0]


def bounded_greedy(points: torch.Tensor, k: int, first: torch.Tensor,
                   cells: torch.Tensor | None, running: torch.Tensor,
                   coordinates: int = 3, refresh: int = 8) -> torch.Tensor:
    """Picks [P, k] in greedy order for ``points`` [P, n, C] (the last ``coordinates`` channels
    are the coordinates), as ``greedy_kcenter``; ``running`` [P, n] is the running minimum at
    its official start (default dtype), updated in place. The skip thresholds are refreshed
    from the running minimum every ``refresh`` picks (stale ones skip less, never wrongly)."""
    P, n, C = points.shape
    device, dtype = points.device, points.dtype
    gram, scale, residual, norms = _prepare(points, coordinates)
    squares = gram.diagonal(dim1=1, dim2=2).double()  # |Q_j|^2, exact integers
    gram = gram.view(P * n, n)
    flat = points.reshape(P * n, C)
    norms = norms.view(-1)
    eta2 = ((C + 2) * torch.finfo(dtype).eps * 2) * norms.double().view(P, n)
    margin = residual.amax(-1, keepdim=True), eta2.amax(-1, keepdim=True)
    inverse2 = scale.pow(-2)[:, None]
    minus_squares = (-squares).view(-1)
    run = running.view(-1)
    offsets = torch.arange(P, device=device) * n

    def thresholds() -> torch.Tensor:
        """V_j = |Q_j|^2 - (T_j / s)^2, T_j = sqrt(running_j^2 + eta_j^2 + H^2) + e_j + E:
        (c, j) can lower running[j] only if V_j - 2 Q_c.Q_j < -|Q_c|^2; V = +inf where
        running is -1 (picked or excluded)."""
        r = running.double()
        t = r.pow(2).add_(eta2).add_(margin[1]).sqrt_().add_(residual).add_(margin[0])
        v = squares - t.pow_(2).mul_(inverse2)
        return v.masked_fill_(r < 0, math.inf).view(-1)

    def update(at: torch.Tensor, j: torch.Tensor | None) -> None:
        """running = min(running, d(c, j)) with the official formula, c = the problems' picks
        ``at`` (flat), for the flat candidates j (all when None)."""
        centres = flat.index_select(0, at)
        if j is None:  # whole rows: one matrix-vector product per problem
            dots = torch.bmm(points, centres[:, :, None]).view(-1)
            exact = norms + norms.index_select(0, at).repeat_interleave(n) - 2 * dots
            torch.minimum(run, exact.clamp_min_(1e-30).sqrt_().to(run.dtype), out=run)
            return
        problem = torch.div(j, n, rounding_mode="floor")
        dots = (flat.index_select(0, j) @ centres.T).gather(1, problem[:, None]).view(-1)
        exact = norms.index_select(0, j) + norms.index_select(0, at).index_select(0, problem)
        exact = exact.sub_(dots, alpha=2).clamp_min_(1e-30).sqrt_().to(run.dtype)
        run.scatter_reduce_(0, j, exact, "amin")

    last = first.long()
    picks = [last]
    for step in range(k - 1):
        at = offsets + last
        if step == 0:  # running starts at 5e4: the whole first row is needed
            update(at, None)
        else:
            if step % refresh == 1:
                v = thresholds()
            need = torch.add(v.view(P, n), gram.index_select(0, at), alpha=-2)
            need = need.lt_(minus_squares.index_select(0, at)[:, None]).view(-1)
            j = need.nonzero().view(-1)
            if j.numel():
                update(at, j)
        run.index_fill_(0, at, -1.0)  # the diagonal
        if cells is not None:
            running.masked_fill_(cells[None, :] == cells[last][:, None], -1.0)
        last = running.argmax(-1)
        picks.append(last)
    return torch.stack(picks, -1)
