"""SSv2 as SViT reads it: videos (16 segments), the box-filtered subset, and HAOG still frames.

Layout under ``--data-root`` (eladb3/SViT ``slowfast/datasets/ssv2.py``; file names also as
the 20BN release names them, see ``common.video.ssv2``):

- labels ``something-something-v2-labels.json`` and the split files
  ``something-something-v2-{train,validation}.json`` (also under ``sm/annotations/`` and
  ``json_files/`` as SViT's DATA_ROOT has them, or ``labels/`` as in the release);
- ``frames/<id>/%04d.jpg`` (1-based; ``layout: svit``) or ``<videos>/<id>.webm``
  (``layout: webm``, the release as it is);
- ``bbox_jsons/<int(id)>.json``: Something-Else boxes per video (``common.video.
  something_else``). Where a video has one, its *length* and frame names drive the segment
  sampling (``Ssv2.get_seq_frames`` over the box list); without one (the videos SViT drops)
  the frames on disk do;
- ``empty_bbox_train.json`` / ``empty_bbox_val.json``: the official id lists
  (eladb3/SViT ``data/ssv2/``: 11,524 / 2,117 ids). SViT drops them from training and from
  evaluation. Without the files the same lists are derived: videos with no box file or
  without a single box. The record says which.

Evaluation scores *every* validation video once (3 spatial crops, summed softmax) and the
metrics are computed twice from the same scores: on the full 24,777 videos and on the
box-filtered subset (``VideoClipDataset.meta["subsets"]``); ``report_subset`` declares which
one the paper row refers to.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from reproducers.common.video import ssv2
from reproducers.common.video.dataset import SegmentIndices, VideoClipDataset, protocol_views
from reproducers.common.video.decode import VideoReadError, read_frames
from reproducers.common.video.formats import SPLIT_ALIASES, SplitIndex, load_json
from reproducers.common.video.something_else import read_box_file
from reproducers.common.video.transforms import build_clip_transform
from reproducers.harness.errors import UserError

from . import haog
from .ssv2_layout import FRAMES, FRAMES_DIR, box_file_path, svit_frame_map, svit_slot_boxes

EMPTY_BOX_FILES = {"train": "empty_bbox_train.json", "validation": "empty_bbox_val.json"}
SUBSETS = ("full", "box_filtered")

# The clip pipeline of the released configs/ssv2.yaml (see the svit fact sheet).
SVIT_TRANSFORM = {
    "dataset": "ssv2",
    "channel_order": "bgr",  # cv2 decode, never reversed (quirk 3)
    "rand_augment": "rand-m7-n4-mstd0.5-inc1",
    "train_crop": "random_resized",
    "rrc_scale": (0.08, 1.0),
    "rrc_ratio": (0.75, 1.3333),
    "random_erasing": {"prob": 0.25, "mode": "pixel", "max_count": 1},
}
TRANSFORM_KEYS = ("channel_order", "rand_augment", "train_crop", "rrc_scale", "rrc_ratio",
                  "random_erasing", "jitter_scales", "inverse_uniform", "mean", "std")


def _ssv2_split(root: Path, split: str, layout: str, exclude) -> SplitIndex:
    """``layout`` "svit" (``frames/<id>/%04d.jpg``) or "webm" (the release's videos)."""
    if layout not in ("svit", "webm"):
        raise UserError(f"data.layout {layout!r}: 'svit' (frames/<id>/%04d.jpg) or 'webm'")
    if layout == "webm":
        return ssv2.build_split(root, split, exclude_ids=exclude)
    return ssv2.build_split(root, split, naming=FRAMES, videos_dir=Path(root) / FRAMES_DIR,
                            exclude_ids=exclude)


def read_empty_box_ids(root: Path, split: str) -> list[str] | None:
    """The official ``empty_bbox_*.json`` id list of ``split`` if the data root has it."""
    name = EMPTY_BOX_FILES.get(SPLIT_ALIASES.get(split, split))
    if name is None:
        return None
    for cand in (Path(root) / name, Path(root) / "data" / "ssv2" / name):
        if cand.is_file():
            ids = load_json(cand, "SViT empty-box id list")
            if not isinstance(ids, list):
                raise UserError(f"{cand}: expected a JSON list of video ids; copy "
                                f"data/ssv2/{name} from eladb3/SViT")
            return [str(i) for i in ids]
    return None


def _box_info(root: Path, vid: str):
    """The parsed entries of a video's box file, or None without a file or a single box."""
    path = box_file_path(root, vid)
    if not path.is_file():
        return None
    frames = read_box_file(path)
    if not frames or not any(f.boxes for f in frames):
        return None
    return frames


def transform_config(config) -> dict:
    cfg = {**SVIT_TRANSFORM, "crop_size": config["crop_size"]}
    cfg.update({k: config[k] for k in TRANSFORM_KEYS if k in config})
    return cfg


def build_video(root, split: str, config, train: bool, protocol=None) -> VideoClipDataset:
    """SSv2 clips for training (box-filtered, as SViT) or for the evaluation (all), with the
    views of ``protocol`` (SViT: 1 clip x 3 crops)."""
    root, split = Path(root), SPLIT_ALIASES.get(split, split)
    layout = config.get("layout", "svit")
    listed = read_empty_box_ids(root, split)
    filter_train = train and config.get("filter_train", True)
    exclude = listed if (filter_train and listed) else ()
    index = _ssv2_split(root, split, layout, exclude)
    use_boxes = config.get("use_box_length", layout == "svit")
    samples, filtered, derived_empty = [], [], []
    listed_set = set(listed or ())
    for s in index.samples:
        frames = _box_info(root, s.video_id) if (use_boxes or listed is None) else None
        if frames is None:
            derived_empty.append(s.video_id)
            if filter_train:
                continue  # SViT cannot sample a training video without its box list
        elif use_boxes:
            s = replace(s, num_frames=len(frames), frame_map=svit_frame_map(frames))
        samples.append(s)
        empty = s.video_id in listed_set if listed is not None else frames is None
        if not empty:
            filtered.append(len(samples) - 1)
    views = protocol_views(protocol, train)
    ds = VideoClipDataset(
        samples, index_fn=SegmentIndices(config["num_frames"]),
        transform=build_clip_transform(transform_config(config), train=train),
        train=train, views=views, max_bad_fraction=config.get("max_bad_fraction", 0.0),
        expected=index.expected if (not exclude and config.get("official_counts", True))
        else None, missing_ids=index.missing_ids)
    ds.meta = {"subsets": {"full": list(range(len(samples))), "box_filtered": filtered},
               "empty_box_source": ("official list" if listed is not None else
                                    "derived: no box file or no box"),
               "empty_box_ids": len(listed) if listed is not None else len(derived_empty),
               "layout": layout}
    return ds


class HaogFrames(Dataset):
    """Still frames of training videos with their Something-Else boxes (SViT ``ssv2_frames``).

    Item ``i`` is a random annotated frame of video ``i mod n`` (a fresh draw each time, as
    the official loader; the trainer seeds the draw per sample), put through
    ``haog.image_sample``: {"image" [3, S, S], "boxes" [4, 4] normalised cxcywh, "exists"
    [4], "contact" [2]}.
    """

    def __init__(self, videos: list, config):
        self.videos = videos
        self.channel_order = config.get("channel_order", "bgr")
        self.sample_cfg = {"crop_size": config["crop_size"],
                           **dict(config.get("image_sample", {}))}
        self._rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return len(self.videos)

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def __getitem__(self, index: int) -> dict:
        s, frames = self.videos[index % len(self.videos)]
        k = int(self._rng.integers(len(frames)))
        entry = frames[k]
        try:
            img = read_frames(s.path, [entry.frame_number - 1], bgr=self.channel_order == "bgr",
                              **s.read_kwargs)[0]
        except (VideoReadError, OSError) as e:
            raise UserError(f"{s.path}: frame {entry.name} of the box file is unreadable "
                            f"({e}); re-extract the frames of video {s.video_id}") from None
        out = haog.image_sample(img, svit_slot_boxes(entry), self.sample_cfg)
        return {k: torch.as_tensor(v) for k, v in out.items()}


def build_images(root, config) -> HaogFrames:
    root = Path(root)
    listed = set(read_empty_box_ids(root, "train") or ())
    index = _ssv2_split(root, "train", "svit", listed)
    videos = []
    for s in index.samples:
        frames = _box_info(root, s.video_id)
        if frames is not None:
            videos.append((s, [f for f in frames if f.boxes] or frames))
    if not videos:
        raise UserError(f"{root}: no training video has Something-Else boxes under "
                        f"bbox_jsons/; SViT's image branch needs them (see "
                        f"reproducers/svit/DATA.md)")
    return HaogFrames(videos, config)


def fingerprint(dataset) -> dict:
    from reproducers.common.video.dataset import fingerprint as video_fingerprint

    out = video_fingerprint(dataset)
    meta = getattr(dataset, "meta", {})
    if "subsets" in meta:
        out["box_filtered"] = len(meta["subsets"]["box_filtered"])
        out["empty_box_source"] = meta["empty_box_source"]
    return out

