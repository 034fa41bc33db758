"""The per-layer memory of S-ViT's streaming attention (official ``Attention.history_k/v``).

Each entry is one frame's windowed keys and values, ``[B*windows, heads, ws*ws, head_dim]``,
exactly those of the in-frame attention (detached). Rules of
yuzhms/Streaming-Video-Model ``mmdet_ext/backbones/SViT.py::Attention._forward_in_frame``:

* the write happens before the cross-frame branch, so the memory holds the current frame;
* when the memory already holds ``length`` entries before a write, training mode clears it,
  eval mode pops the oldest entry and averages it 50/50 into the next-oldest one (a running
  merge: slot 0 summarises everything older); at most ``length`` entries are kept.

``mode`` says what happens when activation checkpointing recomputes a block in backward:

* ``"released"``: the recomputation writes the frame a second time, as the official code does
  (``enable_checkpoint=True``). With ``length=2`` the memory is then full at the next frame and
  cleared, so in training a frame never attends to the previous one. The released
  svm_mot17-half-val model was trained this way.
* ``"intended"``: a write for a frame that is already the newest entry is ignored, so training
  sees the previous frame and the current one, with or without checkpointing.
"""

from __future__ import annotations

import torch

MODES = ("released", "intended")


class StreamMemory:
    def __init__(self, length: int, mode: str = "released"):
        if mode not in MODES:
            raise ValueError(f"memory mode {mode!r}: use one of {MODES}")
        if length < 1:
            raise ValueError(f"memory length {length} must be >= 1")
        self.length, self.mode = length, mode
        self.frames: list[int] = []
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.last_attended = 0

    def clear(self) -> None:
        self.frames, self.keys, self.values = [], [], []

    def __len__(self) -> int:
        return len(self.keys)

    def write(self, k: torch.Tensor, v: torch.Tensor, frame: int, training: bool) -> None:
        if self.mode == "intended" and self.frames and self.frames[-1] == frame:
            return  # the backward recomputation of a frame already written
        if self.keys and self.keys[0].shape != k.shape:
            raise RuntimeError(
                f"frame size changed inside a clip (memory {tuple(self.keys[0].shape)}, frame "
                f"{tuple(k.shape)}): clear the memory between clips/videos")
        if len(self.keys) >= self.length:
            if training:
                self.clear()
            else:
                self.frames.pop(0)
                k_old, v_old = self.keys.pop(0), self.values.pop(0)
                if self.keys:
                    self.keys[0] = (self.keys[0] + k_old) / 2
                    self.values[0] = (self.values[0] + v_old) / 2
        self.frames.append(frame)
        self.keys.append(k)
        self.values.append(v)

    def stacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``[B*windows, heads, T, ws*ws, head_dim]``, oldest first."""
        self.last_attended = len(self.keys)
        return torch.stack(self.keys, dim=2), torch.stack(self.values, dim=2)

    def state(self) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor]]:
        return list(self.frames), list(self.keys), list(self.values)

    def load_state(self, state) -> None:
        frames, keys, values = state
        self.frames, self.keys, self.values = list(frames), list(keys), list(values)
