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

Storage (not the official lists: the same entries, laid out for streaming). Entries live in
preallocated buffers in the two layouts the cross-frame branch reads, so a frame costs one
write of its own keys instead of restacking and permuting the whole memory (at 800x1440 and
32 entries that is about 13 GB of copies per frame in fp32):
``col_k/col_v [windows, ws (column w), heads, length, ws (row h), d]`` for T-H and
``row_k/row_v [windows, ws (row h), heads, length, ws (column w), d]`` for T-W. Occupied
slots are always ``0 .. len-1``; the eval merge writes the averaged entry into the
next-oldest slot and the new frame into the freed one, so slots are not in time order.
Attention does not depend on the order of its keys; ``stacked`` returns the entries oldest
first. ``clear`` drops the buffers (a saved ``state`` keeps its own).
"""

from __future__ import annotations

import math

import torch

MODES = ("released", "intended")


class StreamMemory:
    def __init__(self, length: int, mode: str = "released"):
        if mode not in MODES:
            raise ValueError(f"memory mode {mode!r}: use one of {MODES}")
        if length < 1:
            raise ValueError(f"memory length {length} must be >= 1")
        self.length, self.mode = length, mode
        self.last_attended = 0
        self.clear()

    def clear(self) -> None:
        self.frames: list[int] = []  # frame number per logical entry, oldest first
        self.slots: list[int] = []  # physical slot per logical entry
        self.buffers: dict[str, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.slots)

    def _allocate(self, k: torch.Tensor) -> None:
        nwin, heads, n, d = k.shape
        ws = math.isqrt(n)
        shape = (nwin, ws, heads, self.length, ws, d)
        self.buffers = {name: k.new_empty(shape) for name in ("col_k", "col_v", "row_k", "row_v")}

    def _check(self, k: torch.Tensor) -> None:
        buf = self.buffers["col_k"]
        nwin, ws, heads, _, _, d = buf.shape
        if k.shape != (nwin, heads, ws * ws, d) or k.dtype != buf.dtype:
            raise RuntimeError(
                f"frame size changed inside a clip (memory entries {(nwin, heads, ws * ws, d)} "
                f"{buf.dtype}, frame {tuple(k.shape)} {k.dtype}): clear the memory between "
                "clips/videos")

    def write(self, k: torch.Tensor, v: torch.Tensor, frame: int, training: bool) -> None:
        if self.mode == "intended" and self.frames and self.frames[-1] == frame:
            return  # the backward recomputation of a frame already written
        if self.buffers is not None and self.slots:
            self._check(k)
        if len(self.slots) >= self.length:
            if training:
                self.clear()
            else:
                self.frames.pop(0)
                oldest = self.slots.pop(0)
                if self.slots:
                    nxt = self.slots[0]
                    for buf in self.buffers.values():
                        buf[:, :, :, nxt] = (buf[:, :, :, nxt] + buf[:, :, :, oldest]) / 2
                self.frames.append(frame)
                self.slots.append(oldest)
                self._store(oldest, k, v)
                return
        if self.buffers is None:
            self._allocate(k)
        slot = len(self.slots)
        self.frames.append(frame)
        self.slots.append(slot)
        self._store(slot, k, v)

    def _store(self, slot: int, k: torch.Tensor, v: torch.Tensor) -> None:
        nwin, heads, n, d = k.shape
        ws = math.isqrt(n)
        b = self.buffers
        for name, t in (("k", k), ("v", v)):
            t5 = t.detach().view(nwin, heads, ws, ws, d)  # (window, head, row h, col w, d)
            b[f"col_{name}"][:, :, :, slot] = t5.permute(0, 3, 1, 2, 4)
            b[f"row_{name}"][:, :, :, slot] = t5.permute(0, 2, 1, 3, 4)

    def attend_views(self) -> tuple[torch.Tensor, ...]:
        """(col_k, col_v, row_k, row_v) over the occupied slots, each
        ``[windows, ws, heads, T*ws, d]`` (views; cloned when autograd records, so a later
        in-place write cannot invalidate a saved tensor)."""
        t = len(self.slots)
        self.last_attended = t
        out = []
        for name in ("col_k", "col_v", "row_k", "row_v"):
            buf = self.buffers[name][:, :, :, :t]
            nwin, ws, heads, _, _, d = buf.shape
            if torch.is_grad_enabled():
                buf = buf.clone()
            out.append(buf.reshape(nwin, ws, heads, t * ws, d))
        return tuple(out)

    def stacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``[B*windows, heads, T, ws*ws, head_dim]``, oldest first."""
        self.last_attended = len(self.slots)
        out = []
        for name in ("col_k", "col_v"):
            buf = self.buffers[name][:, :, :, self.slots]  # (win, w, head, T, h, d)
            nwin, ws, heads, t, _, d = buf.shape
            out.append(buf.permute(0, 2, 3, 4, 1, 5).reshape(nwin, heads, t, ws * ws, d))
        return out[0], out[1]

    def state(self) -> tuple:
        return list(self.frames), list(self.slots), self.buffers

    def load_state(self, state) -> None:
        frames, slots, buffers = state
        self.frames, self.slots, self.buffers = list(frames), list(slots), buffers
