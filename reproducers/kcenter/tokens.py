"""The model input of K-centered patch sampling: the dense patch grid and the token plan.

Grid (kcenter_transformer/datasets/{kinetics,ssv2}/*_patch.py @ ef7a40a): normalised frames
cut into 16x16 patches, each flattened (c, p1, p2), with (t, h, w) coordinates appended:
t = linspace(-R_t/2, R_t/2, T), h = w = linspace(-R_s/2, R_s/2, grid), R_t = sqrt(P)/std,
R_s = sqrt(P/2)/std. The loader ships uint8 frames; ``patch_grid`` builds this on the device.

Token plan (``preprocess_inputs`` of kcenter_{vit,timesformer,motionformer}): which whole
frames are kept, which frames the sampler sees with how many segments, and how many picks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange

KINDS = ("vit", "timesformer", "motionformer")


def coordinates(frames: int, grid: int, patch_size: int = 16, std: float = 0.5,
                dtype=torch.float32, device=None) -> torch.Tensor:
    """[frames, grid, grid, 3] (t, h, w) coordinate channels, as the official datasets."""
    spatial = math.sqrt(patch_size / 2) / std
    temporal = math.sqrt(patch_size) / std
    t = torch.linspace(-temporal / 2, temporal / 2, frames, dtype=dtype, device=device)
    s = torch.linspace(-spatial / 2, spatial / 2, grid, dtype=dtype, device=device)
    return torch.stack(torch.meshgrid(t, s, s, indexing="ij"), -1)


def patch_grid(frames: torch.Tensor, patch_size: int = 16, std: float = 0.5) -> torch.Tensor:
    """Normalised frames [B, 3, T, H, W] -> dense grid [B, T, H/P, W/P, 3*P*P + 3]."""
    B, _, T, H, W = frames.shape
    patches = rearrange(frames, "b c t (ph p1) (pw p2) -> b t ph pw (c p1 p2)",
                        p1=patch_size, p2=patch_size)
    coords = coordinates(T, H // patch_size, patch_size, std, frames.dtype, frames.device)
    return torch.cat([patches, coords.expand(B, -1, -1, -1, -1)], -1)


def normalise_uint8(frames: torch.Tensor, mean: float = 0.5, std: float = 0.5) -> torch.Tensor:
    """uint8 frames -> (x / 255 - mean) / std in float32 (the official cv2/PyAV pipelines)."""
    return (frames.float() / 255.0 - mean) / std


@dataclass(frozen=True)
class TokenPlan:
    """Token bookkeeping for one model configuration.

    ``kept_frames``: whole frames, tokens first (frames ascending, positions row-major);
    ``sampler_frames``: frames the sampler sees, in order; ``time_division``/``k``: its
    segments and picks (k = 0: no sampler); ``groups``: temporal groups of the structured
    models (segments; 1 for the ViT)."""

    kind: str
    num_frames: int
    grid: int
    total_tokens: int
    kept_frames: tuple[int, ...]
    sampler_frames: tuple[int, ...]
    time_division: int
    space_division: int
    sort_indices: bool
    k: int
    groups: int

    @property
    def positions(self) -> int:
        return self.grid * self.grid

    @property
    def candidates(self) -> int:
        return len(self.sampler_frames) * self.positions


def plan_tokens(kind: str, num_frames: int, grid: int, total_tokens: int, kept_frames: int,
                time_division: int = 1, space_division: int = 1,
                timesformer_reads_motionformer_key: bool = True,
                motionformer_kept_frames: int = 0) -> TokenPlan:
    """The official token plan of ``kind``.

    ViT: kept frames linspace(0, T-1, n) truncated; the sampler runs once (S = 1) over the
    other frames. TimeSformer/Motionformer: kept segments linspace(0, S-1, n) truncated, each
    contributing its middle frame; the sampler runs on the other segments (S - n of them).
    TimeSformer quirk 1: the released model reads its kept-frame count from the Motionformer
    key (``motionformer_kept_frames``, 0 in every released config), so its own ``kept_frames``
    is ignored unless ``timesformer_reads_motionformer_key`` is False. TimeSformer sorts by
    cell; the ViT and Motionformer keep the selection order.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")
    if kind == "timesformer" and timesformer_reads_motionformer_key:
        kept_frames = motionformer_kept_frames
    positions = grid * grid
    k = total_tokens - kept_frames * positions
    if k < 0:
        raise ValueError(f"{kept_frames} kept frames of {positions} tokens exceed the budget "
                         f"of {total_tokens}")
    if kind == "vit":
        time_division, space_division = 1, 1
        kept = torch.linspace(0, num_frames - 1, steps=kept_frames, dtype=torch.long,
                              device="cpu").tolist()
        rest = [f for f in range(num_frames) if f not in kept]
        return TokenPlan(kind, num_frames, grid, total_tokens, tuple(kept), tuple(rest), 1, 1,
                         False, k, 1)
    if num_frames % time_division:
        raise ValueError(f"time division {time_division} must divide {num_frames} frames")
    per_segment = num_frames // time_division
    kept_segments = torch.linspace(0, time_division - 1, steps=kept_frames, dtype=torch.long,
                                   device="cpu").tolist()
    kept = [per_segment * s + per_segment // 2 for s in kept_segments]
    rest = [f for s in range(time_division) if s not in kept_segments
            for f in range(per_segment * s, per_segment * (s + 1))]
    space_division = space_division if kind == "timesformer" else 1
    return TokenPlan(kind, num_frames, grid, total_tokens, tuple(kept), tuple(rest),
                     time_division - kept_frames, space_division, kind == "timesformer", k,
                     time_division)


@dataclass
class Tokens:
    """Tokens in model order: ``patches`` [B, N, 768], ``t_index`` [B, N] (real frame),
    ``s_index`` [B, N] (spatial position + 1; 0 is the class token), ``indices`` the sampler's
    output indices [B, k] (None without a sampler)."""

    patches: torch.Tensor
    t_index: torch.Tensor
    s_index: torch.Tensor
    indices: torch.Tensor | None = None
    selection_order: torch.Tensor | None = None


def select_tokens(x: torch.Tensor, plan: TokenPlan, sampler, init=None,
                  generator=None) -> Tokens:
    """Kept-frame tokens then the sampler's picks, with their (t, s + 1) indices."""
    B, T, H, W, C = x.shape
    if (T, H) != (plan.num_frames, plan.grid) or H != W:
        raise ValueError(f"patch grid {tuple(x.shape[1:4])} does not match the model's "
                         f"{plan.num_frames}x{plan.grid}x{plan.grid}")
    device = x.device
    positions = torch.arange(plan.positions, device=device)
    parts, t_parts, s_parts = [], [], []
    if plan.kept_frames:
        kept = torch.tensor(plan.kept_frames, device=device)
        parts.append(x[:, kept, ..., :C - 3].reshape(B, -1, C - 3))
        t_parts.append(kept.repeat_interleave(plan.positions).expand(B, -1))
        s_parts.append(positions.repeat(len(plan.kept_frames)).expand(B, -1))
    selection = None
    if plan.k:
        frames = torch.tensor(plan.sampler_frames, device=device)
        source = x if len(plan.sampler_frames) == T else x[:, frames]
        selection = sampler(source, plan.k, init=init, generator=generator)
        parts.append(selection.patches)
        t_parts.append(frames[selection.indices // plan.positions])
        s_parts.append(selection.indices % plan.positions)
    return Tokens(torch.cat(parts, 1), torch.cat(t_parts, 1), torch.cat(s_parts, 1) + 1,
                  None if selection is None else selection.indices,
                  None if selection is None else selection.selection_order)
