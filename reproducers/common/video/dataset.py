"""A generic video-clip Dataset that survives bad videos and says which ones were bad.

``VideoClipDataset`` decodes only the frames a clip needs (``decode.read_frames``), applies
the clip transform, and for evaluation expands every video into ``temporal x spatial`` views
(view ``v`` = clip ``v // spatial``, crop ``v % spatial``: PySlowFast's
``_spatial_temporal_idx``), returning the video and view index for aggregation.

Bad videos (``VideoReadError``: missing, empty, truncated, undecodable):

- **train**: another video is drawn at random and tried instead, up to ``max_retries`` times
  (PySlowFast ``datasets/kinetics.py __getitem__``: "select a random video if the current
  video was not able to access");
- **eval**: the video is *not* replaced, since that would silently change which videos are
  scored. Each of its views comes back as a marker (``ok`` False, ``frames`` None) that
  ``collate_drop_bad`` removes from the batch, listing the dropped video indices under
  ``"bad_video_index"``; the evaluation scores the remaining videos and the record lists the
  bad ones. (PySlowFast retries the same test video and finally raises.)

Every bad video is recorded once in a ``BadSampleLog`` shared by all DataLoader workers (a
shared-memory flag per video, a locked counter and an append-only jsonl file of
``{"path", "reason"}``); ``bad_samples()`` returns that list for the run record. When the
share of bad videos exceeds ``max_bad_fraction`` the dataset raises ``TooManyBadSamples``
(a ``UserError``), which ``loader.make_loader``'s loader re-raises as one clean line.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from reproducers.common.video.decode import VideoReadError, read_frames, video_info
from reproducers.common.video.formats import SplitIndex, VideoSample, id_hash
from reproducers.common.video.samplers import dense_clip, ssv2_uniform_segments
from reproducers.harness.errors import UserError

BAD_READ_ERRORS = (VideoReadError, OSError)


class TooManyBadSamples(UserError):
    """More of the split is unreadable than the recipe allows."""


class BadSampleLog:
    """Bad videos seen by any process: one flag per video, a counter and a jsonl file."""

    def __init__(self, num_videos: int, path: Path | None = None):
        self.num_videos = num_videos
        self._flags = mp.RawArray(ctypes.c_bool, max(num_videos, 1))
        self._count = mp.Value(ctypes.c_long, 0)
        self._owner = os.getpid()
        self._own_file = path is None
        if path is None:
            fd, name = tempfile.mkstemp(prefix="bad_samples_", suffix=".jsonl")
            os.close(fd)
            path = Path(name)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text("")
        self.path = Path(path)

    def is_bad(self, video_index: int) -> bool:
        return bool(self._flags[video_index])

    @property
    def count(self) -> int:
        return int(self._count.value)

    def record(self, video_index: int, path: str, reason: str) -> int:
        """Mark a video bad (once); returns the number of distinct bad videos so far."""
        with self._count.get_lock():
            if not self._flags[video_index]:
                self._flags[video_index] = True
                self._count.value += 1
                with self.path.open("a") as f:
                    f.write(json.dumps({"path": str(path), "reason": reason}) + "\n")
            return int(self._count.value)

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def __del__(self):
        if self._own_file and os.getpid() == self._owner:
            try:
                self.path.unlink()
            except OSError:
                pass


# ---------------------------------------------------------------- index functions


class SegmentIndices:
    """``index_fn`` for TSN/SSv2 segment sampling (``samplers.ssv2_uniform_segments``)."""

    def __init__(self, num_segments: int):
        self.num_segments = num_segments

    def __call__(self, info: dict, *, train: bool, rng, clip_idx: int, num_clips: int):
        return ssv2_uniform_segments(info["num_frames"], self.num_segments, train=train, rng=rng)


class DenseClipIndices:
    """``index_fn`` for Kinetics-style dense clips (``samplers.dense_clip``; uses ``fps``)."""

    def __init__(self, clip_len: int, stride: int, target_fps: float = 30.0,
                 use_offset: bool = False):
        self.clip_len, self.stride = clip_len, stride
        self.target_fps, self.use_offset = target_fps, use_offset

    def __call__(self, info: dict, *, train: bool, rng, clip_idx: int, num_clips: int):
        return dense_clip(info["num_frames"], self.clip_len, self.stride, train=train, rng=rng,
                          clip_idx=clip_idx, num_clips=num_clips, fps=info.get("fps"),
                          target_fps=self.target_fps, use_offset=self.use_offset)


# ---------------------------------------------------------------- the dataset


def protocol_views(protocol, train: bool) -> tuple[int, int]:
    """``views`` of a VideoClipDataset: (1, 1) for training, the evaluation protocol's
    (``temporal_clips``, ``spatial_crops``) otherwise (harness ``Protocol``, handed to a
    paper's dataset builder by the stages)."""
    if train:
        return (1, 1)
    if protocol is None:
        raise ValueError("an evaluation dataset takes its views from the run's protocol: pass "
                         "protocol= (the reproduction's Protocol)")
    return (protocol.temporal_clips, protocol.spatial_crops)


class VideoClipDataset(Dataset):
    """Clips of ``samples`` (see the module docstring).

    ``index_fn(info, *, train, rng, clip_idx, num_clips) -> frame indices`` where ``info`` is
    ``video_info``'s dict (or ``{"num_frames": n}`` when the annotation gives the length);
    indices go through ``sample.frame_map`` when the sample has one. ``transform(frames)``
    (train) or ``transform(frames, spatial_idx=s)`` (eval) turns uint8 [T,H,W,3] into the
    model input. ``views = (temporal clips, spatial crops)`` per video, eval only.
    Items are dicts: ``frames``, ``label``, ``video_index``, ``view_index``, ``ok``.
    """

    def __init__(self, samples: Sequence[VideoSample], *, index_fn: Callable,
                 transform: Callable, train: bool, views: tuple[int, int] = (1, 1),
                 max_bad_fraction: float = 0.0, read_fn: Callable = read_frames,
                 info_fn: Callable = video_info, max_retries: int = 10,
                 expected: int | None = None, missing_ids: Sequence[str] = (),
                 bad_log_path: Path | None = None):
        if train and tuple(views) != (1, 1):
            raise ValueError("training draws one random view per video: views must be (1, 1)")
        if views[0] < 1 or views[1] not in (1, 3):
            raise ValueError(f"views must be (clips >= 1, crops 1 or 3), got {tuple(views)}")
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction}")
        self.samples = list(samples)
        self.index_fn, self.transform, self.train = index_fn, transform, train
        self.views = (int(views[0]), int(views[1]))
        self.max_bad_fraction, self.max_retries = max_bad_fraction, max_retries
        self.read_fn, self.info_fn = read_fn, info_fn
        self.expected, self.missing_ids = expected, list(missing_ids)
        self.bad_log = BadSampleLog(len(self.samples), bad_log_path)
        self._info_cache: dict[int, dict] = {}  # eval: video_info scalars, per process
        self._rng_pid: int | None = None
        self._rng: np.random.Generator | None = None

    @classmethod
    def from_split(cls, split: SplitIndex, **kwargs) -> VideoClipDataset:
        return cls(split.samples, expected=split.expected, missing_ids=split.missing_ids,
                   **kwargs)

    # ------------------------------------------------------------ bookkeeping

    @property
    def ids(self) -> list[str]:
        return [s.video_id for s in self.samples]

    @property
    def num_views(self) -> int:
        return self.views[0] * self.views[1]

    def __len__(self) -> int:
        return len(self.samples) * self.num_views

    def bad_samples(self) -> list[dict]:
        """[{"path", "reason"}] of every distinct bad video seen so far, in any worker."""
        return self.bad_log.entries()

    def bad_summary(self) -> dict:
        """What the run record stores: counts, share, the allowed share and the list."""
        n = self.bad_log.count
        return {"bad": n, "total": len(self.samples),
                "share": n / max(len(self.samples), 1),
                "max_bad_fraction": self.max_bad_fraction, "samples": self.bad_samples()}

    def too_many_bad_message(self) -> str:
        s = self.bad_summary()
        first = s["samples"][0] if s["samples"] else {"path": "?", "reason": "?"}
        return (f"{s['bad']} of {s['total']} videos are unreadable ({s['share']:.2%}), above "
                f"the declared max_bad_fraction {s['max_bad_fraction']:.2%} (first: "
                f"{first['path']}: {first['reason']}); run `python -m reproducers data check` "
                f"on this dataset and re-extract or re-download the listed videos")

    def reseed(self, seed: int) -> None:
        """Seed clip sampling for the next item (the trainer's per-sample seeding, so
        training draws survive resume and do not depend on the worker count)."""
        self._rng = np.random.default_rng(seed)
        self._rng_pid = os.getpid()

    def _generator(self) -> np.random.Generator:
        """A NumPy generator per process, seeded from torch (DataLoader seeds each worker)."""
        if self._rng is None or self._rng_pid != os.getpid():
            self._rng = np.random.default_rng(torch.initial_seed() % (2**63))
            self._rng_pid = os.getpid()
        return self._rng

    def _mark_bad(self, video_index: int, path, reason: str) -> None:
        n = self.bad_log.record(video_index, str(path), reason)
        if n / max(len(self.samples), 1) > self.max_bad_fraction:
            raise TooManyBadSamples(self.too_many_bad_message())

    # ------------------------------------------------------------ reading

    def _load(self, video_index: int, clip_idx: int, spatial_idx: int | None) -> torch.Tensor:
        sample = self.samples[video_index]
        kwargs = sample.read_kwargs
        if sample.num_frames is not None:
            info = {"num_frames": sample.num_frames}
        elif video_index in self._info_cache:
            info = self._info_cache[video_index]
        else:
            info = self.info_fn(sample.path, **kwargs)
            if not self.train:  # every view of a video needs it; keep the scalars only
                self._info_cache[video_index] = {k: v for k, v in info.items()
                                                 if not isinstance(v, list | tuple)}
        indices = np.asarray(self.index_fn(info, train=self.train, rng=self._generator(),
                                           clip_idx=clip_idx, num_clips=self.views[0]),
                             dtype=np.int64)
        if sample.frame_map is not None:
            indices = np.asarray(sample.frame_map, dtype=np.int64)[indices]
        frames = self.read_fn(sample.path, indices, **kwargs)
        if spatial_idx is None:
            return self.transform(frames)
        return self.transform(frames, spatial_idx=spatial_idx)

    def __getitem__(self, index: int) -> dict:
        video_index, view = divmod(index, self.num_views)
        if self.train:
            return self._train_item(video_index)
        clip_idx, crop_idx = divmod(view, self.views[1])
        sample = self.samples[video_index]
        item = {"label": sample.label, "video_index": video_index, "view_index": view}
        if not self.bad_log.is_bad(video_index):
            spatial = crop_idx if self.views[1] > 1 else 1
            try:
                return {**item, "frames": self._load(video_index, clip_idx, spatial), "ok": True}
            except BAD_READ_ERRORS as e:
                self._mark_bad(video_index, sample.path, _reason(e))
        return {**item, "frames": None, "ok": False}

    def _train_item(self, video_index: int) -> dict:
        tried = []
        for _ in range(self.max_retries + 1):
            sample = self.samples[video_index]
            if not self.bad_log.is_bad(video_index):
                try:
                    frames = self._load(video_index, 0, None)
                    return {"frames": frames, "label": sample.label, "video_index": video_index,
                            "view_index": 0, "ok": True}
                except BAD_READ_ERRORS as e:
                    self._mark_bad(video_index, sample.path, _reason(e))
            tried.append(str(sample.path))
            video_index = random.randint(0, len(self.samples) - 1)
        raise TooManyBadSamples(f"{len(tried)} videos in a row were unreadable ({tried[0]}, ...);"
                                f" run `python -m reproducers data check` on this dataset")


def _reason(e: BaseException) -> str:
    return getattr(e, "reason", None) or f"{type(e).__name__}: {e}"


def collate_drop_bad(batch: list[dict]) -> dict:
    """Collate good items; drop eval markers and list their video indices.

    Returns ``frames`` (None when the whole batch was bad), ``label``, ``video_index``,
    ``view_index`` (tensors over the kept items) and ``bad_video_index`` (list of ints).
    """
    good = [b for b in batch if b["ok"]]
    bad = sorted({int(b["video_index"]) for b in batch if not b["ok"]})
    if not good:
        empty = torch.zeros(0, dtype=torch.long)
        return {"frames": None, "label": empty, "video_index": empty, "view_index": empty,
                "bad_video_index": bad}
    out = default_collate([{k: b[k] for k in ("frames", "label", "video_index", "view_index")}
                           for b in good])
    out["bad_video_index"] = bad
    return out


def fingerprint(dataset) -> dict:
    """{"found", "expected", "missing" (first 20 ids), "n_missing", "id_hash"} for provenance.

    Works on anything with ``ids``, ``expected`` and ``missing_ids`` (a ``VideoClipDataset``
    or a ``formats.SplitIndex``); ``id_hash`` is the sha256 of the sorted ids, one per line.
    """
    ids = list(dataset.ids)
    missing = list(dataset.missing_ids)
    return {"found": len(ids), "expected": dataset.expected, "missing": missing[:20],
            "n_missing": len(missing), "id_hash": id_hash(ids)}
