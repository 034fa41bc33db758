"""Prepare stage of ViS4mer: extract the frozen-backbone features from the user's videos.

Reproduces extract_features/extract_features_lvu_vit.py and
extract_features/extract_features_{breakfast,coin}_swin_{train,test}.py of
md-mohaiminul/ViS4mer (facts only, no code copied); the official quirks are the defaults
or options, the script bugs are not reproduced:

LVU (``prepare_lvu``): video ``<videos>/<youtube_id>.mp4``; with T decoded frames and the
  duration D of lvu_durations.csv, frames int(T / D * i) for i = 0..D-1 plus the last frame;
  each resized to 224x224 with area interpolation (cv2 INTER_AREA, no crop, aspect ratio
  not kept), scaled to [0, 1], NOT mean/std normalised (quirk; ``normalize: true`` uses the
  model's mean = std = 0.5), ViT-L/16 ``forward_features`` -> (D+1, 197, 1024) saved to
  ``vit_features_spatial/<id>.npy``. The official script stores float64 (np.zeros); we store
  float32 unless ``dtype: float64`` (the model casts to float32 anyway).
Breakfast / COIN (``prepare_breakfast`` / ``prepare_coin``): 32 consecutive frames per
  segment, resized and scaled as above (no normalisation; ``normalize: true`` uses the
  Kinetics mean/std of Video Swin), Swin-B features (1024, 16, 7, 7) averaged over time and
  stored as (49, 1024) per segment, (n_segments, 49, 1024) float32 per video. Segment starts
  (``segment_starts``): Breakfast 512 per train video and 64 per test video, COIN 256 per
  training video, all with the train rule; COIN testing videos use the test rule
  (``coin_test_starts``). Frame i of a segment is the frame shown at time i/fps (COIN:
  start + i/fps) as moviepy's ``get_frame`` picks it, int(fps * t + 1e-5); frames past the
  end repeat the last frame (moviepy behaviour). n_frames = int(duration * fps) with the
  container duration as ffmpeg prints it (centiseconds; Breakfast) or end - start (COIN).

Bugs not reproduced: the inverted existence test of the LVU and Breakfast-test scripts
(they process only videos whose feature file already exists; we skip existing files), the
``covnext_feature`` output folder (we write where the loader reads), the Breakfast-test csv
path, and videos too short for one 32-frame segment (official: an empty array or negative
starts; we take one segment at frame 0, frames clamped to the video). Every .npy is written
atomically (temp file in the same folder, fsync, rename), so an interrupted run leaves no
half-written feature file; a re-run skips finished videos.

Config keys: normalize (False), dtype ("float32"), batch_size (frames for ViT: 32, segments
for Swin: 2), image_size (224), segment_length (32), train_segments / test_segments
(Breakfast 512/64, COIN 256/64), task (LVU: only that task's ids; absent: all tasks), the
loader keys features_dir / durations_file / split_dir / annotation / drop_videos /
exclude_videos.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from reproducers.harness.errors import UserError
from reproducers.vis4mer import backbones
from reproducers.vis4mer.data import LVU_TASKS, require_root
from reproducers.vis4mer.lvu_data import read_durations, read_lvu_split
from reproducers.vis4mer.segments_data import (
    BREAKFAST_DROPPED,
    COIN_EXCLUDED,
    COIN_SPLITS,
    read_coin_database,
)
from reproducers.vis4mer.video_io import (  # noqa: F401  (re-exported for callers and tests)
    count_frames,
    read_frames,
    resize_area,
    save_npy_atomic,
    video_timing,
)

Log = Callable[[str], None]

# ---------------------------------------------------------------- index formulas


def lvu_frame_indices(n_frames: int, duration: int) -> list[int]:
    """Frames of the 1-fps LVU sampling: int(T / D * i) for i < D, then the last frame."""
    return [int(n_frames / duration * i) for i in range(int(duration))] + [n_frames - 1]


def segment_starts(n_frames: int, n_segments: int, length: int = 32) -> list[int]:
    """Train rule (Breakfast train/test, COIN training): every frame when the video has fewer
    than n_segments + length frames, else n_segments starts evenly spaced over
    [0, n_frames - length)."""
    if n_frames - length <= 0:
        return [0]
    if n_frames < n_segments + length:
        return list(range(n_frames - length))
    step = (n_frames - length) / float(n_segments)
    return [int(s) for s in np.arange(0, n_frames - length, step)]


def coin_test_starts(n_frames: int, n_segments: int = 64, length: int = 32) -> list[int]:
    """COIN testing rule: spread over [0, n_frames - length) when the video is shorter than
    n_segments * length frames, else over [0, n_frames) (the last segments then read past
    the annotated end)."""
    if n_frames - length <= 0:
        return [0]
    if n_frames < n_segments * length:
        step = (n_frames - length) / float(n_segments)
        return [int(s) for s in np.arange(0, n_frames - length, step)]
    step = n_frames / float(n_segments)
    return [int(s) for s in np.arange(0, n_frames, step)]


def moviepy_frame_index(t: float, fps: float) -> int:
    return int(fps * t + 0.00001)


# ---------------------------------------------------------------- extraction


class _Extractor:
    """Pixels -> features with one backbone, batching frames (ViT) or segments (Swin)."""

    def __init__(self, backbone: torch.nn.Module, device: str, size: int, mean, std, normalize: bool):
        self.model, self.device, self.size = backbone.to(device).eval(), device, size
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.normalize = normalize

    def pixels(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, size, size, 3) uint8 -> (N, 3, size, size) float in [0, 1] (or normalised)."""
        x = frames.to(self.device).permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std if self.normalize else x

    @torch.inference_mode()
    def frames(self, frames: torch.Tensor) -> np.ndarray:  # ViT: (N, tokens, C)
        return self.model(self.pixels(frames)).float().cpu().numpy()

    @torch.inference_mode()
    def clips(self, clips: list[torch.Tensor]) -> np.ndarray:  # Swin: (N, h*w, C)
        x = torch.stack([self.pixels(c).transpose(0, 1) for c in clips])  # N, 3, T, H, W
        f = self.model(x).float().mean(dim=2)  # N, C, h, w: mean over time
        return f.flatten(2).transpose(1, 2).cpu().numpy()


def _device(device: str) -> str:
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available; use --device cpu")
    return str(device)


def _backbone(kind: str, weights, backbone):
    if backbone is not None:
        return backbone
    if weights is None:
        raise UserError("--weights is required: the path of the backbone checkpoint file "
                        "(see reproducers/vis4mer/DATA.md); nothing is downloaded")
    return backbones.build_vit(Path(weights)) if kind == "vit" else backbones.build_swin(Path(weights))


def _check_videos_dir(videos_dir) -> Path:
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise UserError(f"--videos {videos_dir} does not exist")
    return videos_dir


def _run(items, dest_dir: Path, find_video, extract_one, log: Log) -> dict:
    """Shared loop: skip existing outputs, report missing videos, write atomically."""
    stale = list(dest_dir.glob(".*.npy.tmp")) if dest_dir.is_dir() else []
    if stale:
        log(f"note: {len(stale)} temp files of an interrupted run in {dest_dir} (safe to "
            "delete when no prepare is running)")
    summary = {"written": 0, "skipped_existing": 0, "missing_videos": []}
    for n, item in enumerate(items, start=1):
        vid = item[0]
        dest = dest_dir / f"{vid}.npy"
        if dest.exists():
            summary["skipped_existing"] += 1
            continue
        video = find_video(vid)
        if video is None:
            summary["missing_videos"].append(vid)
            log(f"[{n}/{len(items)}] video not found for {vid}")
            continue
        feats = extract_one(item, video)
        save_npy_atomic(dest, feats)
        summary["written"] += 1
        log(f"[{n}/{len(items)}] {vid}: {tuple(feats.shape)} -> {dest}")
    if summary["missing_videos"] and summary["written"] + summary["skipped_existing"] == 0:
        raise UserError(f"none of the {len(items)} videos was found under the --videos folder "
                        f"(e.g. {summary['missing_videos'][0]}); see reproducers/vis4mer/DATA.md")
    log(f"prepare: {summary['written']} written, {summary['skipped_existing']} already there, "
        f"{len(summary['missing_videos'])} videos missing")
    return summary


def prepare_lvu(videos_dir, data_root, config: Mapping, weights, device: str = "cpu",
                log: Log = print, *, backbone: torch.nn.Module | None = None) -> dict:
    """ViT features for the LVU ids of ``config["task"]`` (all tasks when absent)."""
    videos_dir, root = _check_videos_dir(videos_dir), require_root(Path(data_root))
    tasks = [config["task"]] if config.get("task") else [t for t in LVU_TASKS
                                                         if (root / "lvu_1.0" / t).is_dir()]
    ids: dict[str, None] = {}
    for task in tasks:
        for split in ("train", "val", "test"):
            for vid, _, _ in read_lvu_split(root / "lvu_1.0" / task / f"{split}.csv", task,
                                            LVU_TASKS[task][1]):
                ids[vid] = None
    durations = read_durations(root / config.get("durations_file", "lvu_1.0/lvu_durations.csv"))
    for vid in ids:
        if vid not in durations:
            raise UserError(f"lvu_durations.csv has no duration for video {vid}")
    ext = _Extractor(_backbone("vit", weights, backbone), _device(device),
                     int(config.get("image_size", 224)), *_norm(config, backbones.VIT_MEAN,
                                                                backbones.VIT_STD))
    batch = int(config.get("batch_size", 32))
    dtype = np.dtype(config.get("dtype", "float32"))

    def find(vid):
        path = videos_dir / f"{vid}.mp4"
        return path if path.is_file() else next(iter(sorted(videos_dir.glob(f"{_esc(vid)}.*"))), None)

    def extract(item, video):
        vid, duration = item
        if duration < 1:
            raise UserError(f"lvu_durations.csv gives video {vid} a duration of {duration} s")
        idx = lvu_frame_indices(count_frames(video), duration)
        order, frames = {}, []
        for i, frame in read_frames(video, idx):
            order[i] = len(frames)
            frames.append(resize_area(frame[None], ext.size, ext.device)[0])
        feats = []
        for s in range(0, len(idx), batch):
            feats.append(ext.frames(torch.stack([frames[order[i]] for i in idx[s:s + batch]])))
        return np.concatenate(feats).astype(dtype, copy=False)

    dest = root / config.get("features_dir", "vit_features_spatial")
    return _run([(v, durations[v]) for v in ids], dest, find, extract, log)


def _norm(config: Mapping, mean, std):
    return (tuple(config.get("mean", mean)), tuple(config.get("std", std)),
            bool(config.get("normalize", False)))


def _esc(name: str) -> str:
    import glob

    return glob.escape(name)


def _segment_features(video: Path, starts: list[int], frame_of: Callable[[int], int],
                      length: int, ext: _Extractor, batch: int) -> np.ndarray:
    """Stream the video once, keeping only the frames the next segments need."""
    seg_frames = [[frame_of(s + k) for k in range(length)] for s in starts]
    needed = sorted({i for f in seg_frames for i in f})
    cache: dict[int, torch.Tensor] = {}
    out, pending, nxt = [], [], 0
    for i, frame in read_frames(video, needed):
        cache[i] = resize_area(frame[None], ext.size, ext.device)[0]
        while nxt < len(seg_frames) and max(seg_frames[nxt]) <= i:
            pending.append(torch.stack([cache[j] for j in seg_frames[nxt]]))
            nxt += 1
            if len(pending) == batch:
                out.append(ext.clips(pending))
                pending = []
            if nxt < len(seg_frames):
                low = min(seg_frames[nxt])
                for j in [j for j in cache if j < low]:
                    del cache[j]
    if pending:
        out.append(ext.clips(pending))
    return np.concatenate(out).astype(np.float32, copy=False)


def _swin_extractor(config, weights, backbone, device) -> tuple[_Extractor, int, int]:
    ext = _Extractor(_backbone("swin", weights, backbone), _device(device),
                     int(config.get("image_size", 224)),
                     *_norm(config, backbones.SWIN_MEAN, backbones.SWIN_STD))
    return ext, int(config.get("segment_length", 32)), int(config.get("batch_size", 2))


def prepare_breakfast(videos_dir, data_root, config: Mapping, weights, device: str = "cpu",
                      log: Log = print, *, backbone: torch.nn.Module | None = None) -> dict:
    """Swin features for breakfast/{train,test}.csv; videos at
    ``<videos>/<P..>/<cam>/<P.._action>.avi`` (file_name with '-' -> '/', as the official
    BreakfastII_15fps_qvga_sync layout)."""
    videos_dir, root = _check_videos_dir(videos_dir), require_root(Path(data_root))
    split_dir = root / config.get("split_dir", "breakfast")
    drop = set(config.get("drop_videos", BREAKFAST_DROPPED))
    n_seg = {"train": int(config.get("train_segments", 512)),
             "test": int(config.get("test_segments", 64))}
    items = []
    for split in ("train", "test"):
        path = split_dir / f"{split}.csv"
        if not path.is_file():
            raise UserError(f"Breakfast split file {path} not found: copy data/Breakfast/"
                            "{train,test}.csv of md-mohaiminul/ViS4mer there")
        for line in path.read_text().splitlines()[1:]:
            name = line.split(",")[0].strip()
            if name and name not in drop:
                items.append((name, n_seg[split]))
    ext, length, batch = _swin_extractor(config, weights, backbone, device)

    def find(name):
        path = videos_dir / (name.split(".")[0].replace("-", "/") + ".avi")
        return path if path.is_file() else None

    def extract(item, video):
        fps, duration = video_timing(video)
        n_frames = int(duration * fps)
        starts = segment_starts(n_frames, item[1], length)
        return _segment_features(video, starts, lambda i: moviepy_frame_index(i / fps, fps),
                                 length, ext, batch)

    dest = root / config.get("features_dir", "breakfast/video_swin_features/temporal_mean_pooling")
    return _run(items, dest, find, extract, log)


def prepare_coin(videos_dir, data_root, config: Mapping, weights, device: str = "cpu",
                 log: Log = print, *, backbone: torch.nn.Module | None = None) -> dict:
    """Swin features for the COIN.json videos inside [start, end]; videos at
    ``<videos>/<any folder>/<id>.mp4`` (official layout) or ``<videos>/<id>.mp4``."""
    videos_dir, root = _check_videos_dir(videos_dir), require_root(Path(data_root))
    database = read_coin_database(root / config.get("annotation", "COIN/COIN.json"))
    exclude = set(config.get("exclude_videos", COIN_EXCLUDED))
    n_train = int(config.get("train_segments", 256))
    n_test = int(config.get("test_segments", 64))
    index = {p.stem: p for p in list(videos_dir.glob("*/*.mp4")) + list(videos_dir.glob("*.mp4"))}
    items = []
    for vid, entry in database.items():
        subset = COIN_SPLITS.get(entry.get("subset", ""), None)
        if vid in exclude or subset is None:
            continue
        try:
            start, end = float(entry["start"]), float(entry["end"])
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"COIN.json: database[{vid!r}] needs numeric 'start' and 'end'") from e
        items.append((vid, subset, start, end))
    ext, length, batch = _swin_extractor(config, weights, backbone, device)

    def extract(item, video):
        _, subset, start, end = item
        fps, _ = video_timing(video)
        n_frames = int((end - start) * fps)
        starts = (segment_starts(n_frames, n_train, length) if subset == "training"
                  else coin_test_starts(n_frames, n_test, length))
        return _segment_features(video, starts,
                                 lambda i: moviepy_frame_index(start + i / fps, fps),
                                 length, ext, batch)

    dest = root / config.get("features_dir", "COIN/features/temporal_mean_pooling")
    return _run(items, dest, index.get, extract, log)


PREPARE = {"lvu": prepare_lvu, "breakfast": prepare_breakfast, "coin": prepare_coin}
