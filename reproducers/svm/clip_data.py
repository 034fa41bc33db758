"""SVM training clips (MOTSynth + MOT17 half-train + CrowdHuman) and MOT test frames.

Reproduces, from the official code (yuzhms/Streaming-Video-Model; read, not copied):

- ``mmtrack/datasets/parsers/coco_video_parser.py`` (``CocoVID``: video index, images as
  1-frame videos with ``load_img_as_vid``);
- ``mmtrack/datasets/streaming_dataset/custom_coco_video.py`` (``CustomCOCOVideo``:
  ``_parse_ann_info`` box rules, ``sample_ratio`` start frames, ``ref_img_sampling``);
- ``mmtrack/datasets/streaming_dataset/dataset_wrapper.py`` (``MultiVideoMixDataset``:
  partner clips for mosaic/mixup drawn from the whole ``ConcatDataset``, frame ``i`` with
  partner frame ``i``);
- ``configs/mot/svm/svm_base.py`` (the 4 sources, ``train_pipeline``, ``test_pipeline``);
- ``mmtrack/core/runner/seq_runner.py`` (``split_data_batch``: one dict per frame with
  ``img, img_metas, gt_bboxes, gt_labels``) and mmcv ``collate`` (stack, zero padding).

Clip format (``CocoVideo.load_clip`` / ``MixedClipDataset.load_clip``, before the
pipeline): a list of ``num_frames`` frame dicts with ``img`` uint8 HxWx3 **BGR**
(``cv2.imread``, as mmcv loads), ``bboxes`` float32 [n, 4] absolute ``x1, y1, x2, y2``,
``labels`` int64 [n] (all 0: pedestrian), ``instance_ids`` int64 [n], ``filename``,
``ori_shape``/``img_shape`` (h, w), ``frame_id`` (0-based in its video), ``video_id``.
``MixedClipDataset[i]`` returns the clip after ``build_train_pipeline``: ``img`` float32
HxWx3 **RGB**, ImageNet-normalised, padded to a multiple of 32 (see ``seq_transforms``).

Randomness: item ``i`` of epoch ``e`` uses ``np.random.default_rng([seed, e, i])`` for the
stride, partner indexes, partner strides and every augmentation, so an item is reproducible
from (seed, epoch, index) in any worker.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..common.mot.convert import half_split
from ..common.mot.motchallenge import read_seqinfo
from ..harness.errors import UserError
from .extra import LazyModule
from .seq_transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Clip,
    Frame,
    SeqCompose,
    build_train_pipeline,
    imnormalize,
    impad_to_multiple,
    imrescale,
)

cv2 = LazyModule("cv2")  # imported on first use, like the rest of the svm extra

__all__ = [
    "RESAMPLE_ONCE", "RESAMPLE_PER_EPOCH", "ClipSource", "official_sources",
    "sample_clip_frames", "read_image", "CocoVideo", "MixedClipDataset", "collate_clips",
    "MotSequenceFrames", "mot_half_frame_range", "boxes_to_original",
]

# MOTSynth's sample_ratio subset of clip start frames:
# "once"      = drawn once when the dataset is built (released behaviour: svm_base.py sets
#               persistent_workers=True with 4 workers per GPU, so DataResampleHook's
#               resample() only changes the main process's copy and the workers keep the
#               first draw for all 10 epochs);
# "per_epoch" = re-drawn for every epoch by set_epoch (what DataResampleHook intends).
RESAMPLE_ONCE = "once"
RESAMPLE_PER_EPOCH = "per_epoch"


@dataclass(frozen=True)
class ClipSource:
    """One ``CustomCOCOVideo`` entry of svm_base.py ``data.train.dataset``."""

    name: str
    ann_file: Path
    img_prefix: Path
    sample_ratio: float = 1.0
    strides: tuple[int, ...] = (1, 2, 3, 4)


def official_sources(data_root: str | Path) -> list[ClipSource]:
    """The 4 training sources of svm_base.py, in its order, under ``data_root`` laid out as
    the official ``data/`` folder (``MOTSynth/``, ``MOT17/``, ``crowdhuman/``)."""
    root = Path(data_root)
    return [
        ClipSource("motsynth", root / "MOTSynth/all_cocoformat.json", root / "MOTSynth/train",
                   sample_ratio=0.1),
        ClipSource("mot17_half_train", root / "MOT17/annotations/half-train_cocoformat.json",
                   root / "MOT17/train"),
        ClipSource("crowdhuman_train", root / "crowdhuman/annotations/crowdhuman_train.json",
                   root / "crowdhuman/train", strides=(1,)),
        ClipSource("crowdhuman_val", root / "crowdhuman/annotations/crowdhuman_val.json",
                   root / "crowdhuman/val", strides=(1,)),
    ]


def sample_clip_frames(start: int, video_length: int, num_frames: int, stride: int) -> list[int]:
    """Frame indexes of a clip (``CustomCOCOVideo.ref_img_sampling``): ``start + i * stride``
    for i < num_frames, clamped to the video's last frame (a 1-frame video gives the same
    frame ``num_frames`` times)."""
    return [min(start + i * stride, video_length - 1) for i in range(num_frames)]


def read_image(path: Path, listed_in: Path | str | None = None) -> np.ndarray:
    """uint8 HxWx3 BGR, as ``mmcv.imread``/``imfrombytes`` with flag 'color' (cv2 applies the
    EXIF orientation). Raises UserError for a missing or unreadable file."""
    path = Path(path)
    where = f" (listed in {listed_in})" if listed_in is not None else ""
    if not path.is_file():
        raise UserError(f"{path}: image not found{where}; check the data root / image "
                        "prefix, or re-extract the frames")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"{path}: not a readable image{where}; replace the file")
    return img


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: annotation file not found; run the dataset converter "
                        "(python -m reproducers convert ...) or fix the data root")
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); re-run the converter") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a COCO-video JSON object; re-run the converter")
    return data


class CocoVideo:
    """One COCO-video annotation file as the official ``CustomCOCOVideo`` reads it.

    ``videos`` lists the videos (their order is the dataset order); ``images`` carry
    ``video_id`` and ``frame_id`` (0-based, contiguous per video); a file without ``videos``
    (CrowdHuman) is loaded as 1-frame videos (``CocoVID(load_img_as_vid=True)``: video id =
    image id, frame_id 0, ``instance_id`` = annotation id). ``load_img_as_vid=None`` decides
    by the presence of ``videos``.

    Boxes (``_parse_ann_info``): an annotation is skipped if ``ignore`` is set, if its
    ``bbox`` (x, y, w, h) does not overlap the image (``width``/``height`` of the image
    entry), if ``area <= 0`` or ``w < 1`` or ``h < 1``, or if its category is not one of
    ``classes`` (by category name); ``iscrowd`` boxes become ignore boxes, which YOLOX never
    uses (returned as ``bboxes_ignore`` only). Boxes are not clipped to the image.

    Clip start frames: every frame of every video, or with ``sample_ratio < 1`` a random
    ``int(n * sample_ratio)`` frames of each n-frame video (kept in frame order), drawn
    per ``resample`` (see ``RESAMPLE_ONCE``). Start frames of images smaller than
    ``min_size`` on a side are left out (mmdet ``CocoDataset._filter_imgs`` at build time;
    the official ``resample()`` forgets that filter, which matters for no real image).
    A clip = ``sample_clip_frames(start, n, num_frames, stride)``, ``stride`` drawn
    uniformly from ``strides`` per clip.
    """

    def __init__(self, ann_file: str | Path, img_prefix: str | Path, *, num_frames: int = 2,
                 strides: Sequence[int] = (1, 2, 3, 4), sample_ratio: float = 1.0,
                 resample: str = RESAMPLE_ONCE, load_img_as_vid: bool | None = None,
                 classes: Sequence[str] = ("pedestrian",), min_size: int = 32, seed: int = 0,
                 name: str | None = None):
        if resample not in (RESAMPLE_ONCE, RESAMPLE_PER_EPOCH):
            raise ValueError(f"resample must be {RESAMPLE_ONCE!r} or {RESAMPLE_PER_EPOCH!r}")
        if not 0 < sample_ratio <= 1:
            raise ValueError("sample_ratio must be in (0, 1]")
        if num_frames < 1 or not strides or min(strides) < 1:
            raise ValueError("num_frames and strides must be positive")
        self.ann_file = Path(ann_file)
        self.img_prefix = Path(img_prefix)
        self.name = name or self.ann_file.stem
        self.num_frames = int(num_frames)
        self.strides = tuple(int(s) for s in strides)
        self.sample_ratio = float(sample_ratio)
        self.resample = resample
        self.min_size = min_size
        self.seed = int(seed)
        self.epoch = 0
        self._index(_load_json(self.ann_file), load_img_as_vid, tuple(classes))
        self._draw_starts(0)

    # ---- index ---------------------------------------------------------------------
    def _index(self, data: dict, load_img_as_vid: bool | None, classes: tuple[str, ...]) -> None:
        path = self.ann_file
        images = data.get("images")
        if not isinstance(images, list):
            raise UserError(f"{path}: no 'images' list; this is not a COCO(-video) "
                            "annotation file, re-run the converter")
        anns = data.get("annotations") or []
        cats = data.get("categories") or []
        self.cat_ids = [c["id"] for c in cats if c.get("name") in classes]
        if anns and not self.cat_ids:
            raise UserError(f"{path}: no category named {' or '.join(classes)} in "
                            "'categories'; re-run the converter")
        self.cat2label = {cid: i for i, cid in enumerate(self.cat_ids)}
        as_images = ("videos" not in data) if load_img_as_vid is None else load_img_as_vid
        self.images: dict[Any, dict] = {}
        for img in images:
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                raise UserError(f"{path}: an 'images' entry lacks 'id' or 'file_name'; "
                                "re-run the converter")
            if "width" not in img or "height" not in img:
                raise UserError(f"{path}: image {img['id']} has no width/height; "
                                "re-run the converter")
            self.images[img["id"]] = img
        self.anns_by_image: dict[Any, list[dict]] = {}
        for ann in anns:
            self.anns_by_image.setdefault(ann.get("image_id"), []).append(ann)

        if "videos" not in data and as_images:
            # CocoVID.convert_img_to_vid: every image is a 1-frame video, instance = ann id
            self.videos = [[img["id"]] for img in images]
            self.frame_ids = {img["id"]: 0 for img in images}
            self.video_ids = {img["id"]: img["id"] for img in images}
            self.instance_from_ann_id = True
            return
        if "videos" not in data:
            raise UserError(f"{path}: no 'videos' list; load it with load_img_as_vid=True "
                            "(image datasets such as CrowdHuman)")
        self.instance_from_ann_id = False
        by_video: dict[Any, list[dict]] = {}
        for img in images:
            if "video_id" not in img or "frame_id" not in img:
                raise UserError(f"{path}: image {img['id']} lacks video_id/frame_id; "
                                "re-run the converter")
            by_video.setdefault(img["video_id"], []).append(img)
        self.videos = []
        self.frame_ids, self.video_ids = {}, {}
        for video in data["videos"]:
            frames = sorted(by_video.get(video["id"], []), key=lambda im: im["frame_id"])
            if [im["frame_id"] for im in frames] != list(range(len(frames))):
                raise UserError(f"{path}: video {video.get('name', video['id'])} has frame_ids "
                                "that are not 0..n-1 (the official sampler indexes frames "
                                "by frame_id); re-run the converter")
            self.videos.append([im["id"] for im in frames])
            for im in frames:
                self.frame_ids[im["id"]] = im["frame_id"]
                self.video_ids[im["id"]] = video["id"]

    def _draw_starts(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, 0x5EED, epoch])
        starts: list[tuple[int, int]] = []  # (video index, frame index)
        for v, ids in enumerate(self.videos):
            frames = range(len(ids))
            if self.sample_ratio < 1.0:
                k = int(len(ids) * self.sample_ratio)
                frames = sorted(rng.choice(len(ids), size=k, replace=False).tolist())
            for f in frames:
                img = self.images[ids[f]]
                if min(img["width"], img["height"]) >= self.min_size:
                    starts.append((v, f))
        self.starts = starts

    # ---- epochs ---------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; with ``sample_ratio < 1`` and ``resample="per_epoch"`` the start
        frames are re-drawn (deterministic in (seed, epoch)). The number of start frames
        never changes."""
        self.epoch = int(epoch)
        if self.sample_ratio < 1.0 and self.resample == RESAMPLE_PER_EPOCH:
            self._draw_starts(self.epoch)

    def __len__(self) -> int:
        return len(self.starts)

    # ---- annotations ----------------------------------------------------------------
    def start_image_id(self, index: int) -> Any:
        v, f = self.starts[index]
        return self.videos[v][f]

    def annotations(self, img_id: Any) -> dict[str, np.ndarray]:
        """Parsed boxes of one image: ``bboxes`` float32 [n,4] xyxy, ``labels`` int64,
        ``instance_ids`` int64 (-1 where absent), ``bboxes_ignore`` float32 (crowd)."""
        img = self.images[img_id]
        W, H = img["width"], img["height"]
        boxes, labels, ids, ignore = [], [], [], []
        for ann in self.anns_by_image.get(img_id, []):
            if ann.get("ignore", False):
                continue
            try:
                x, y, w, h = (float(v) for v in ann["bbox"])
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{self.ann_file}: annotation {ann.get('id')} has no valid "
                                "bbox [x, y, w, h]; re-run the converter") from None
            inter_w = max(0.0, min(x + w, W) - max(x, 0.0))
            inter_h = max(0.0, min(y + h, H) - max(y, 0.0))
            if inter_w * inter_h == 0:
                continue
            if ann.get("area", w * h) <= 0 or w < 1 or h < 1:
                continue
            if ann.get("category_id") not in self.cat2label:
                continue
            box = [x, y, x + w, y + h]
            if ann.get("iscrowd", False):
                ignore.append(box)
                continue
            boxes.append(box)
            labels.append(self.cat2label[ann["category_id"]])
            inst = ann.get("id") if self.instance_from_ann_id else ann.get("instance_id")
            ids.append(-1 if inst is None else int(inst))
        return {
            "bboxes": np.array(boxes, np.float32).reshape(-1, 4),
            "labels": np.array(labels, np.int64),
            "instance_ids": np.array(ids, np.int64),
            "bboxes_ignore": np.array(ignore, np.float32).reshape(-1, 4),
        }

    def start_frame_has_boxes(self, index: int) -> bool:
        return len(self.annotations(self.start_image_id(index))["bboxes"]) > 0

    def aspect_flags(self) -> np.ndarray:
        """1 where the start frame is wider than high (mmdet ``_set_group_flag``; the
        official loader groups batches by it)."""
        return np.array([int(self.images[self.start_image_id(i)]["width"]
                             / self.images[self.start_image_id(i)]["height"] > 1)
                         for i in range(len(self))], dtype=np.uint8)

    # ---- clips ----------------------------------------------------------------------
    def clip_image_ids(self, index: int, rng: np.random.Generator) -> list[Any]:
        v, f = self.starts[index]
        stride = self.strides[int(rng.integers(len(self.strides)))] if len(self.strides) > 1 \
            else self.strides[0]
        ids = self.videos[v]
        return [ids[k] for k in sample_clip_frames(f, len(ids), self.num_frames, stride)]

    def load_frame(self, img_id: Any) -> Frame:
        info = self.images[img_id]
        path = self.img_prefix / info["file_name"]
        img = read_image(path, self.ann_file)
        ann = self.annotations(img_id)
        return {
            "img": img,
            "bboxes": ann["bboxes"],
            "labels": ann["labels"],
            "instance_ids": ann["instance_ids"],
            "filename": str(path),
            "ori_shape": img.shape[:2],
            "img_shape": img.shape[:2],
            "frame_id": self.frame_ids[img_id],
            "video_id": self.video_ids[img_id],
        }

    def load_clip(self, index: int, rng: np.random.Generator) -> Clip:
        return [self.load_frame(i) for i in self.clip_image_ids(index, rng)]


class MixedClipDataset(Dataset):
    """``MultiVideoMixDataset(ConcatDataset(sources), train_pipeline)``.

    Item ``i`` = the clip of concatenated index ``i`` through ``pipeline`` (default
    ``build_train_pipeline(img_scale)``); mosaic/mixup partner clips are drawn from the whole
    concatenation (any source), loaded with their own stride, and frame ``i`` is combined
    with partner frame ``i``. ``set_epoch`` must be called before each epoch's iterator is
    created (it does not reach persistent DataLoader workers).
    """

    def __init__(self, sources: Sequence[CocoVideo], *, img_scale: tuple[int, int] = (800, 1440),
                 pipeline: SeqCompose | None = None, seed: int = 0):
        if not sources:
            raise ValueError("MixedClipDataset needs at least one source")
        self.sources = list(sources)
        self.pipeline = pipeline if pipeline is not None else build_train_pipeline(img_scale)
        self.seed = int(seed)
        self.epoch = 0
        self._update_sizes()

    @classmethod
    def from_sources(cls, specs: Sequence[ClipSource], *, num_frames: int = 2,
                     img_scale: tuple[int, int] = (800, 1440),
                     pipeline: SeqCompose | None = None, seed: int = 0,
                     resample: str = RESAMPLE_ONCE) -> MixedClipDataset:
        sources = [CocoVideo(s.ann_file, s.img_prefix, num_frames=num_frames, strides=s.strides,
                             sample_ratio=s.sample_ratio, resample=resample,
                             seed=seed * 1000 + k, name=s.name)
                   for k, s in enumerate(specs)]
        return cls(sources, img_scale=img_scale, pipeline=pipeline, seed=seed)

    def _update_sizes(self) -> None:
        self.cumulative_sizes = np.cumsum([len(s) for s in self.sources]).tolist()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for s in self.sources:
            s.set_epoch(epoch)
        self._update_sizes()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def locate(self, index: int) -> tuple[int, int]:
        """(source number, index within that source)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        k = bisect.bisect_right(self.cumulative_sizes, index)
        return k, index - (self.cumulative_sizes[k - 1] if k else 0)

    def load_clip(self, index: int, rng: np.random.Generator) -> Clip:
        k, j = self.locate(index)
        return self.sources[k].load_clip(j, rng)

    def start_frame_has_boxes(self, index: int) -> bool:
        k, j = self.locate(index)
        return self.sources[k].start_frame_has_boxes(j)

    def aspect_flags(self) -> np.ndarray:
        return np.concatenate([s.aspect_flags() for s in self.sources])

    def rng_for(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> Clip:
        rng = self.rng_for(index)
        clip = self.load_clip(int(index), rng)
        return self.pipeline(clip, rng, self)


def collate_clips(batch: Sequence[Clip], size_divisor: int = 32,
                  pad_value: float = 0.0) -> list[dict[str, Any]]:
    """Batch B clips of F frames into F per-frame dicts (``seq_runner.split_data_batch``
    after mmcv ``collate``), each with:

    - ``img``: float32 tensor [B, 3, H, W], frames as HWC -> CHW, zero-padded bottom/right to
      the largest frame of the batch rounded up to ``size_divisor`` (official frames are
      already multiples of 32, so this equals mmcv's pad-to-max);
    - ``gt_bboxes``: list of B float32 [n_b, 4] tensors (absolute x1, y1, x2, y2 in the
      unpadded frame); ``gt_labels``: list of B int64 [n_b]; ``gt_instance_ids`` likewise;
    - ``img_metas``: list of B dicts (``img_shape``, ``pad_shape``, ``batch_input_shape``,
      ``ori_shape``, ``scale_factor``, ``flip``, ``filename``, ``frame_id``, ``video_id``).
    """
    if not batch:
        raise ValueError("empty batch")
    num_frames = len(batch[0])
    if any(len(clip) != num_frames for clip in batch):
        raise ValueError("all clips of a batch must have the same number of frames")
    out = []
    for t in range(num_frames):
        frames = [clip[t] for clip in batch]
        hs = [f["img"].shape[0] for f in frames]
        ws = [f["img"].shape[1] for f in frames]
        H = int(math.ceil(max(hs) / size_divisor)) * size_divisor
        W = int(math.ceil(max(ws) / size_divisor)) * size_divisor
        imgs = torch.full((len(frames), 3, H, W), pad_value, dtype=torch.float32)
        metas = []
        for b, f in enumerate(frames):
            img = torch.from_numpy(np.ascontiguousarray(f["img"])).permute(2, 0, 1)
            imgs[b, :, :img.shape[1], :img.shape[2]] = img.to(torch.float32)
            meta = {k: f[k] for k in ("ori_shape", "img_shape", "scale_factor", "flip",
                                      "filename", "frame_id", "video_id") if k in f}
            meta["pad_shape"] = tuple(f.get("pad_shape", f["img"].shape[:2]))
            meta["batch_input_shape"] = (H, W)
            metas.append(meta)
        out.append({
            "img": imgs,
            "img_metas": metas,
            "gt_bboxes": [torch.as_tensor(np.asarray(f["bboxes"], np.float32).reshape(-1, 4))
                          for f in frames],
            "gt_labels": [torch.as_tensor(np.asarray(f["labels"], np.int64)) for f in frames],
            "gt_instance_ids": [torch.as_tensor(np.asarray(
                f.get("instance_ids", np.full(len(f["bboxes"]), -1)), np.int64))
                for f in frames],
        })
    return out


# ---------------------------------------------------------------------------------------
# test side: one MOTChallenge sequence, frame by frame
# ---------------------------------------------------------------------------------------

def mot_half_frame_range(seq_length: int, half: str) -> tuple[int, int]:
    """1-based inclusive frame range of ``mot2coco.py``'s halves: half-train = 1 ..
    n // 2 + 1, half-val = n // 2 + 2 .. n (MOT17-02, 600 frames: 1-301 / 302-600)."""
    split = half_split(seq_length)
    if half == "train":
        return 1, split
    if half == "val":
        return split + 1, seq_length
    raise ValueError("half must be 'train' or 'val'")


def boxes_to_original(bboxes, scale_factor):
    """Map boxes of the resized test image back to original pixels (mmdet
    ``bboxes / scale_factor``, scale_factor = [w_scale, h_scale, w_scale, h_scale]). Works on
    numpy arrays and torch tensors with 4 (or 5, with a score) columns."""
    if isinstance(bboxes, torch.Tensor):
        sf = torch.as_tensor(np.asarray(scale_factor, np.float32), device=bboxes.device)
        out = bboxes.clone()
        out[..., :4] = out[..., :4] / sf
        return out
    out = np.array(bboxes, dtype=np.float32, copy=True)
    out[..., :4] = out[..., :4] / np.asarray(scale_factor, np.float32)
    return out


def sequence_frame_path(seq_dir: str | Path, info, mot_frame_id: int) -> Path:
    """``<seq>/<imDir>/<frame:06d><imExt>`` (img1 and .jpg when seqinfo.ini omits them)."""
    return Path(seq_dir) / (info.im_dir or "img1") / f"{mot_frame_id:06d}{info.im_ext or '.jpg'}"


class MotSequenceFrames(Dataset):
    """The frames of one MOTChallenge sequence folder (``seqinfo.ini`` + ``<imDir>/NNNNNN
    <imExt>``) through the official test pipeline, one frame per item, in order.

    Test pipeline (svm_base.py ``test_pipeline``): keep-ratio resize to fit ``img_scale``
    (``mmcv.imrescale`` rule: long edge <= max, short edge <= min; (800, 1440) turns
    1920x1080 into 1422x800), BGR->RGB + ImageNet normalisation, zero padding to a multiple
    of ``size_divisor`` (1440x800). ``frame_range`` = 1-based inclusive (first, last) frames
    (e.g. ``mot_half_frame_range(n, "val")``; default all). Item ``i``:

    - ``img``: float32 tensor [3, H_pad, W_pad] (RGB, normalised);
    - ``frame_id``: 0-based index within the range (the tracker resets at 0);
      ``mot_frame_id``: the 1-based MOT frame number (what result files use);
    - ``ori_shape``, ``img_shape`` (resized, unpadded), ``pad_shape``: (h, w);
    - ``scale_factor``: float32 [4] = (w_scale, h_scale, w_scale, h_scale); map detections
      back with ``boxes_to_original(boxes, scale_factor)``;
    - ``filename``.
    """

    def __init__(self, seq_dir: str | Path, img_scale: tuple[int, int] = (800, 1440), *,
                 size_divisor: int = 32, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 frame_range: tuple[int, int] | None = None):
        self.seq_dir = Path(seq_dir)
        info = read_seqinfo(self.seq_dir / "seqinfo.ini")
        self.info = info
        self.name = info.name
        self.seq_length = info.seq_length
        first, last = frame_range if frame_range is not None else (1, info.seq_length)
        if not 1 <= first <= last <= info.seq_length:
            raise UserError(f"{self.seq_dir / 'seqinfo.ini'}: frame range {first}..{last} is "
                            f"outside 1..{info.seq_length} (seqLength); fix the range or the "
                            "file")
        self.frames = list(range(first, last + 1))
        missing = [n for n in (first, last) if not self.frame_path(n).is_file()]
        if missing:
            raise UserError(f"{self.frame_path(missing[0])}: frame image not found "
                            f"(seqLength={info.seq_length}); extract the frames or fix "
                            "seqinfo.ini")
        self.img_scale = tuple(img_scale)
        self.size_divisor = size_divisor
        self.mean, self.std = tuple(mean), tuple(std)

    def frame_path(self, mot_frame_id: int) -> Path:
        return sequence_frame_path(self.seq_dir, self.info, mot_frame_id)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = self.frames[index]
        path = self.frame_path(n)
        img = read_image(path, self.seq_dir / "seqinfo.ini")
        ori_shape = img.shape[:2]
        resized, ws, hs = imrescale(img, self.img_scale)
        norm = imnormalize(resized, self.mean, self.std, to_rgb=True)
        padded = impad_to_multiple(norm, self.size_divisor, 0.0)
        return {
            "img": torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))),
            "frame_id": index,
            "mot_frame_id": n,
            "ori_shape": ori_shape,
            "img_shape": resized.shape[:2],
            "pad_shape": padded.shape[:2],
            "scale_factor": np.array([ws, hs, ws, hs], dtype=np.float32),
            "filename": str(path),
        }
