"""Small synthetic MOT17-format sequences: moving, crossing, occluding pedestrians.

``write_synthetic_mot(root, ...)`` writes ``root/<split>/<SEQ>/{seqinfo.ini, img1/%06d.jpg,
gt/gt.txt}`` exactly as MOT17 lays them out, so the real converter (``convert.convert_mot17``),
loaders and ``evaluate_mot`` run on them unchanged. Per sequence:

- a static, low-saturation textured background (smooth noise plus a few darker blocks);
- pedestrians: saturated, striped "person" sprites (head, torso, two legs) of constant size,
  moving at near-constant velocity (a 1-pixel sinusoidal bob). Two of them always walk
  towards each other on nearly the same line and cross at mid-sequence, so one occludes the
  other; the rest enter from an edge (some mid-sequence) or start inside, and walk out of
  the frame. Nearer (lower foot point) objects are drawn on top;
- static persons (MOT class 7, conf 0): drawn like pedestrians but standing still, so a
  detector finds them and the MOTChallenge preprocessing must remove those predictions.

``gt.txt`` rows (sorted by id, then frame, like MOT17): ``frame, id, x, y, w, h, conf, class,
visibility``. Pedestrians are class 1 with conf 1, except rows whose visibility is below
``ignore_below`` (almost hidden or out of the image), which get conf 0: a synthetic rule
that exercises the "consider" flag (MOT17 marks such boxes by hand). Boxes are in 0-based
pixel coordinates (x = leftmost column, as mmdet reads the official json), not clipped to
the image (MOT17 boxes may leave it too); a row is written when the box overlaps the image.
``visibility`` = the share of the box area that is inside the image and not covered by a
nearer object's box (box-level occlusion).

Deterministic for a seed (pixels: numpy; files: PIL JPEG quality 90).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ...harness.atomic import write_text_atomic
from .motchallenge import SeqInfo

PALETTE = ((220, 40, 40), (40, 190, 60), (50, 90, 235), (235, 205, 30), (200, 60, 210),
           (30, 200, 210), (245, 130, 30), (240, 240, 240), (140, 230, 60), (250, 100, 150))
SKIN = ((236, 188, 150), (198, 134, 96), (141, 85, 54), (255, 219, 172))


@dataclass
class _Actor:
    track_id: int
    cls: int
    w: int
    h: int
    x0: float  # left edge at frame `start`
    bottom: float  # foot y at frame `start`
    vx: float
    vy: float
    start: int  # first frame index (0-based) the actor exists
    phase: float
    sprite: np.ndarray  # [h, w, 3] uint8
    alpha: np.ndarray  # [h, w] bool

    def box(self, t: int) -> tuple[int, int] | None:
        """Top-left (x, y) at frame index t, or None before the actor appears."""
        if t < self.start:
            return None
        dt = t - self.start
        bob = math.sin(self.phase + 0.6 * dt) if self.cls == 1 else 0.0
        x = self.x0 + self.vx * dt
        y = self.bottom + self.vy * dt + bob - self.h
        return int(round(x)), int(round(y))


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    base = rng.uniform(90, 150) + rng.uniform(-12, 12, size=3)
    coarse = rng.normal(0, 14, size=(height // 16 + 2, width // 16 + 2)).astype(np.float32)
    noise = np.asarray(Image.fromarray(coarse).resize(
        (width, height), Image.Resampling.BILINEAR), dtype=np.float64)
    img = base[None, None, :] + noise[..., None] + rng.normal(0, 4, size=(height, width, 1))
    for _ in range(int(rng.integers(2, 5))):  # buildings / benches: darker grey blocks
        bw, bh = int(rng.integers(width // 10, width // 4)), int(rng.integers(height // 8, height // 3))
        bx, by = int(rng.integers(0, width - bw)), int(rng.integers(0, height // 2))
        img[by:by + bh, bx:bx + bw] -= rng.uniform(20, 45)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sprite(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """A person: head ellipse, striped torso, two legs; alpha marks the figure."""
    torso = np.array(PALETTE[int(rng.integers(len(PALETTE)))], float)
    legs = np.array(PALETTE[int(rng.integers(len(PALETTE)))], float) * 0.45
    skin = np.array(SKIN[int(rng.integers(len(SKIN)))], float)
    img = np.zeros((h, w, 3))
    alpha = np.zeros((h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w]
    head_h = max(3, int(0.2 * h))
    cy, cx, ry, rx = head_h / 2, (w - 1) / 2, head_h / 2, max(1.5, 0.32 * w)
    head = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    img[head], alpha[head] = skin, True
    t0, t1 = head_h, int(0.6 * h)
    stripe = ((yy[t0:t1] - t0) // max(2, h // 14)) % 2 == 0
    img[t0:t1] = np.where(stripe[..., None], torso, torso * 0.7)
    alpha[t0:t1] = True
    gap = max(1, w // 6)
    left, right = slice(0, (w - gap) // 2), slice((w + gap) // 2, w)
    for cols in (left, right):
        img[t1:, cols], alpha[t1:, cols] = legs, True
    alpha[h - 1, :] |= alpha[h - 2, :]  # feet reach the box bottom
    return np.clip(img, 0, 255).astype(np.uint8), alpha


def _actors(rng: np.random.Generator, *, frames: int, width: int, height: int,
            num_pedestrians: int, num_static: int) -> list[_Actor]:
    scale = width / 320.0
    actors: list[_Actor] = []

    def make(cls, bottom, x0, vx, vy, start):
        h = int(round(rng.uniform(0.28, 0.42) * height * (0.6 + 0.5 * bottom / height)))
        h = max(12, min(h, height - 2))
        w = max(5, int(round(h * rng.uniform(0.36, 0.44))))
        sprite, alpha = _sprite(rng, w, h)
        a = _Actor(len(actors) + 1, cls, w, h, x0, bottom, vx, vy, start,
                   float(rng.uniform(0, 2 * math.pi)), sprite, alpha)
        actors.append(a)
        return a

    # two walkers that cross at mid-sequence, one slightly nearer (lower foot) than the other
    meet = (frames - 1) / 2
    bottom = rng.uniform(0.7, 0.85) * height
    speed = rng.uniform(2.0, 3.5) * scale
    centre = rng.uniform(0.4, 0.6) * width
    for sign, db in ((1, 0.0), (-1, rng.uniform(4, 10))):
        a = make(1, bottom + db, 0.0, sign * speed, 0.0, 0)
        a.x0 = centre - a.w / 2 - sign * speed * meet
    for k in range(max(0, num_pedestrians - 2)):
        sign = 1 if k % 2 == 0 else -1
        vx = sign * rng.uniform(1.5, 5.0) * scale
        vy = rng.uniform(-0.3, 0.3)
        bottom = rng.uniform(0.5, 0.98) * height
        if k % 3 == 2:  # already inside at frame 0
            a = make(1, bottom, 0.0, vx, vy, 0)
            a.x0 = rng.uniform(0.1, 0.9) * width - a.w / 2
        else:  # enters from the edge it walks away from, maybe mid-sequence
            start = int(rng.integers(0, max(1, frames // 2)))
            a = make(1, bottom, 0.0, vx, vy, start)
            a.x0 = -a.w + 1 if sign > 0 else width - 1
    for _ in range(num_static):
        bottom = rng.uniform(0.45, 0.7) * height
        a = make(7, bottom, 0.0, 0.0, 0.0, 0)
        a.x0 = rng.uniform(0.05, 0.95) * width - a.w / 2
    return actors


def render_sequence(*, frames: int, width: int, height: int, seed: int,
                    num_pedestrians: int = 6, num_static: int = 1,
                    ignore_below: float = 0.1):
    """Frames ``[T, H, W, 3]`` uint8 and gt rows ``[N, 9]`` (``GT_COLUMNS``, frames 1-based)."""
    rng = np.random.default_rng(seed)
    bg = _background(rng, width, height)
    actors = _actors(rng, frames=frames, width=width, height=height,
                     num_pedestrians=num_pedestrians, num_static=num_static)
    video = np.empty((frames, height, width, 3), np.uint8)
    rows = []
    for t in range(frames):
        img = bg.copy()
        label = np.full((height, width), -1, np.int32)
        present = []
        for a in actors:
            pos = a.box(t)
            if pos is None:
                continue
            x, y = pos
            if x + a.w <= 0 or x >= width or y + a.h <= 0 or y >= height:
                continue
            present.append((y + a.h, a.track_id, a, x, y))
        present.sort(key=lambda p: (p[0], p[1]))  # far (higher foot) first, near on top
        for _b, _i, a, x, y in present:
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + a.w, width), min(y + a.h, height)
            sx, sy = x0 - x, y0 - y
            sp = a.sprite[sy:sy + y1 - y0, sx:sx + x1 - x0]
            al = a.alpha[sy:sy + y1 - y0, sx:sx + x1 - x0]
            region = img[y0:y1, x0:x1]
            region[al] = sp[al]
            label[y0:y1, x0:x1] = a.track_id
        counts = np.bincount(label.ravel() + 1, minlength=len(actors) + 2)
        for _b, _i, a, x, y in present:
            vis = round(float(counts[a.track_id + 1]) / (a.w * a.h), 5)
            conf = 0 if a.cls != 1 or vis < ignore_below else 1
            rows.append((t + 1, a.track_id, x, y, a.w, a.h, conf, a.cls, vis))
        video[t] = img
    gt = np.array(rows, dtype=np.float64).reshape(-1, 9)
    order = np.lexsort((gt[:, 0], gt[:, 1]))
    return video, gt[order]


def format_gt(rows: np.ndarray) -> str:
    return "".join(f"{int(f)},{int(i)},{int(x)},{int(y)},{int(w)},{int(h)},{int(c)},{int(k)},"
                   f"{v:g}\n" for f, i, x, y, w, h, c, k, v in rows)


def write_synthetic_mot(root: Path, *, num_seqs: int = 2, frames: int = 40, width: int = 320,
                        height: int = 192, seed: int = 0, num_pedestrians: int = 6,
                        num_static: int = 1, ignore_below: float = 0.1, frame_rate: int = 30,
                        split: str = "train", prefix: str = "SYN") -> list[Path]:
    """Write ``num_seqs`` sequences ``root/<split>/<prefix>-NN``; returns their folders.

    Sequence i uses seed ``[seed, i]``. Defaults (2 x 40 frames of 320x192) take about a
    second and make a detector trainable on a CPU."""
    if num_seqs < 1 or frames < 2 or num_pedestrians < 2:
        raise ValueError("write_synthetic_mot: need num_seqs >= 1, frames >= 2, "
                         "num_pedestrians >= 2")
    out = []
    for i in range(num_seqs):
        name = f"{prefix}-{i + 1:02d}"
        seq_dir = Path(root) / split / name
        video, gt = render_sequence(frames=frames, width=width, height=height,
                                    seed=np.random.SeedSequence([seed, i]).generate_state(1)[0],
                                    num_pedestrians=num_pedestrians, num_static=num_static,
                                    ignore_below=ignore_below)
        (seq_dir / "img1").mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(video, start=1):
            Image.fromarray(frame).save(seq_dir / "img1" / f"{t:06d}.jpg", quality=90)
        info = SeqInfo(name=name, seq_length=frames, im_dir="img1", frame_rate=frame_rate,
                       im_width=width, im_height=height, im_ext=".jpg")
        write_text_atomic(seq_dir / "seqinfo.ini", info.to_ini())
        write_text_atomic(seq_dir / "gt" / "gt.txt", format_gt(gt))
        out.append(seq_dir)
    return out
