"""The region-proposal box store: STRG's offline proposals, computed once per dataset.

The paper runs its RPN offline; jd730 runs it online every iteration. A ``prepare`` stage
writes one store per split, which training and evaluation read. One torch file (loads with
``weights_only=True``), all videos of a split concatenated:

    format           "strg-boxes/1"
    boxes_per_frame  K (10 on Something-Something, 50 on Charades: paper p11)
    frame_step       boxes are kept for input frames first, first + step, ... (2: every
                     second frame, the paper's 16 box frames for 32 input frames)
    padding          the rule below, by name
    videos           [video id, ...]                          V
    video_offsets    int64 (V + 1,): video v owns box frames offsets[v]:offsets[v+1]
    frames           int32 (F,): the input frame number (as the dataset numbers them)
    sizes            int32 (V, 2): frame height, width in pixels
    boxes            float16 (F, K, 4): x1, y1, x2, y2 divided by the frame width/height
                     (float16 keeps 1/2048 of the frame: 0.13 px at 256 px)
    scores           float16 (F, K): objectness, 0 for padding
    num_real         int16 (F,): boxes the proposal network returned (before padding)

Padding rule ``full_frame``: a frame with fewer than K boxes is completed with the
whole-frame box (0, 0, 1, 1), score 0, so every frame has K nodes and the graph never breaks
(jd730's RPN wrapper crashes on such frames; its disabled fix padded with -1 boxes). The store
counts padded boxes and frames (``stats``), and runs record them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from reproducers.harness.atomic import write_atomic
from reproducers.harness.errors import UserError

FORMAT = "strg-boxes/1"
PADDING = "full_frame"
_FIELDS = ("videos", "video_offsets", "frames", "sizes", "boxes", "scores", "num_real")


def pad_frame(boxes: torch.Tensor, scores: torch.Tensor, k: int
              ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The K highest-scoring normalised boxes of one frame, completed by the padding rule:
    (boxes (K, 4), scores (K,), number of real boxes kept)."""
    boxes = boxes.reshape(-1, 4).float()
    scores = scores.reshape(-1).float()
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = scores.argsort(descending=True, stable=True)[:k]
    n = len(order)
    out = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(k, 1)
    out_scores = torch.zeros(k)
    out[:n], out_scores[:n] = boxes[order], scores[order]
    return out, out_scores, n


@dataclass
class BoxStore:
    boxes_per_frame: int
    frame_step: int
    videos: list[str]
    video_offsets: torch.Tensor
    frames: torch.Tensor
    sizes: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor
    num_real: torch.Tensor
    padding: str = PADDING

    def __post_init__(self) -> None:
        self._index = {v: i for i, v in enumerate(self.videos)}

    # ------------------------------------------------------------------ reading
    def video(self, video_id: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(frame numbers (F,), boxes in pixels (F, K, 4) float32, num_real (F,))."""
        if video_id not in self._index:
            raise UserError(f"box store: no boxes for video {video_id!r}; re-run the prepare "
                            f"stage for this split")
        v = self._index[video_id]
        lo, hi = int(self.video_offsets[v]), int(self.video_offsets[v + 1])
        h, w = (float(s) for s in self.sizes[v])
        scale = torch.tensor([w, h, w, h])
        return self.frames[lo:hi], self.boxes[lo:hi].float() * scale, self.num_real[lo:hi]

    def clip_boxes(self, video_id: str, frame_numbers: Sequence[int]) -> torch.Tensor:
        """Boxes (len(frame_numbers), K, 4) in pixels for the given input frames: each
        takes the stored box frame nearest to it (ties: the earlier one)."""
        frames, boxes, _ = self.video(video_id)
        if len(frames) == 0:
            raise UserError(f"box store: video {video_id!r} has no box frames")
        want = torch.as_tensor(list(frame_numbers), dtype=torch.int64)
        nearest = (want[:, None] - frames[None, :].long()).abs().argmin(1)
        return boxes[nearest]

    def stats(self) -> dict:
        k = self.boxes_per_frame
        padded = (k - self.num_real.long()).clamp_min(0)
        return {"videos": len(self.videos), "box_frames": int(len(self.frames)),
                "boxes_per_frame": k, "padding": self.padding,
                "padded_boxes": int(padded.sum()),
                "frames_padded": int((padded > 0).sum()),
                "frames_without_boxes": int((self.num_real == 0).sum())}

    # ------------------------------------------------------------------ files
    def save(self, path: Path) -> Path:
        data = {"format": FORMAT, "boxes_per_frame": self.boxes_per_frame,
                "frame_step": self.frame_step, "padding": self.padding,
                **{f: getattr(self, f) for f in _FIELDS}}
        return write_atomic(Path(path), lambda p: torch.save(data, p))

    @classmethod
    def load(cls, path: Path) -> BoxStore:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"box store {path}: no such file; run the prepare stage first")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise UserError(f"box store {path}: unreadable ({e}); re-run the prepare stage") \
                from e
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"box store {path}: not a {FORMAT} file; re-run the prepare stage")
        missing = [f for f in (*_FIELDS, "boxes_per_frame", "frame_step") if f not in data]
        if missing:
            raise UserError(f"box store {path}: missing {missing}; re-run the prepare stage")
        store = cls(data["boxes_per_frame"], data["frame_step"],
                    **{f: data[f] for f in _FIELDS}, padding=data.get("padding", PADDING))
        v, f = len(store.videos), len(store.frames)
        ok = (store.video_offsets.shape == (v + 1,) and int(store.video_offsets[-1]) == f
              and store.boxes.shape == (f, store.boxes_per_frame, 4)
              and store.scores.shape == (f, store.boxes_per_frame)
              and store.num_real.shape == (f,) and store.sizes.shape == (v, 2))
        if not ok:
            raise UserError(f"box store {path}: inconsistent shapes; re-run the prepare stage")
        return store


class BoxStoreWriter:
    """Collects one video at a time (boxes in pixels, any count per frame), pads, packs."""

    def __init__(self, boxes_per_frame: int, frame_step: int):
        self.k, self.step = boxes_per_frame, frame_step
        self.videos: list[str] = []
        self._frames, self._boxes, self._scores, self._real = [], [], [], []
        self._sizes, self._counts = [], []

    def add(self, video_id: str, size: tuple[int, int], frame_numbers: Sequence[int],
            boxes: Sequence[torch.Tensor], scores: Sequence[torch.Tensor]) -> None:
        """``size`` (height, width); ``boxes[i]`` (n_i, 4) pixels of frame ``frame_numbers[i]``."""
        if not len(frame_numbers) == len(boxes) == len(scores):
            raise ValueError("frame_numbers, boxes and scores must have one entry per frame")
        h, w = size
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        for b, s in zip(boxes, scores, strict=True):
            padded, padded_scores, n = pad_frame(torch.as_tensor(b).float() / scale,
                                                 torch.as_tensor(s), self.k)
            self._boxes.append(padded.clamp(0, 1))
            self._scores.append(padded_scores)
            self._real.append(n)
        self._frames.extend(int(f) for f in frame_numbers)
        self._sizes.append((h, w))
        self._counts.append(len(frame_numbers))
        self.videos.append(video_id)

    def finish(self) -> BoxStore:
        offsets = torch.zeros(len(self._counts) + 1, dtype=torch.int64)
        offsets[1:] = torch.tensor(self._counts, dtype=torch.int64).cumsum(0)
        empty = torch.zeros(0, self.k, 4)
        return BoxStore(
            self.k, self.step, list(self.videos), offsets,
            torch.tensor(self._frames, dtype=torch.int32),
            torch.tensor(self._sizes, dtype=torch.int32).reshape(-1, 2),
            (torch.stack(self._boxes) if self._boxes else empty).half(),
            (torch.stack(self._scores) if self._scores else empty[..., 0]).half(),
            torch.tensor(self._real, dtype=torch.int16))
