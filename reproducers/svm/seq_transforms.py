"""Clip augmentations of the SVM training pipeline: every random parameter is shared by the
frames of a clip.

Reproduces ``mmtrack/datasets/streaming_dataset/transforms.py`` of the official code
(yuzhms/Streaming-Video-Model: ``SeqMosaic``, ``SeqRandomAffine``, ``SeqMixUp``,
``SeqYOLOXHSVRandomAug``, ``SeqFilterAnnotations``), the vendored mmtrack
``mmtrack/datasets/pipelines/transforms.py`` (``SeqRandomFlip``, ``SeqResize``,
``SeqNormalize``, ``SeqPad`` with ``share_params=True``) and the mmdet 2.x / mmcv 1.x
functions they call (``Mosaic._mosaic_combine``, ``RandomAffine`` matrices,
``MixUp``, ``find_inside_bboxes``, ``mmcv.imrescale``/``imresize``/``imnormalize``/
``impad_to_multiple``), with the settings of ``configs/mot/svm/svm_base.py``. Written from
reading those files; no code is copied.

Image operations use OpenCV exactly as mmcv's ``cv2`` backend does (bilinear
``cv2.resize``, ``cv2.warpPerspective``, ``cv2.cvtColor`` for HSV), so pixels match the
official pipeline under OpenCV 4 (pinned ``<5``: OpenCV 5.1's ``warpPerspective`` no longer
quantises coordinates to 1/32 pixel, up to 5 grey levels apart; a test pins the OpenCV 4
result). Arithmetic on pixel values is numpy, never cv2 with array "scalars"
(``imnormalize``). OpenCV is imported on first use (``extra.LazyModule``).

Formats
-------
A *frame* is a dict:

- ``img``: ``np.ndarray`` HxWx3. ``uint8`` **BGR** (as ``cv2.imread`` / mmcv load it) until
  ``SeqNormalize``, which turns it into ``float32`` **RGB**, ``(x - mean) / std``;
- ``bboxes``: ``float32 [n, 4]`` absolute pixel ``x1, y1, x2, y2`` (never clipped to the
  image: ``bbox_clip_border=False`` throughout, boxes may reach outside);
- ``labels``: ``int64 [n]`` (0 = pedestrian); ``instance_ids``: ``int64 [n]`` (-1 unknown;
  boxes pasted from partner clips keep the partner's ids, which may collide. The official
  pipeline does not load ids at all: ``SeqLoadAnnotations(with_track=False)``);
- metadata: ``img_shape`` (h, w) of the current image, and where set ``ori_shape``,
  ``filename``, ``frame_id``, ``video_id``, ``flip``, ``scale_factor``
  (``float32 [w, h, w, h]``), ``pad_shape`` (h, w).

A *clip* is a list of frames (2 in the SVM recipe). A transform is called as
``t(clip, rng)``; transforms that paste other clips in (mosaic, mixup) have
``num_partners > 0``, pick partner indexes with ``t.get_indexes(source, rng)`` and are
called as ``t(clip, rng, partners)``; frame ``i`` of the clip is mixed with frame ``i`` of
each partner clip (``MultiVideoMixDataset.__getitem__``). ``SeqCompose`` does this plumbing.

Randomness comes from the ``np.random.Generator`` passed in (the official code uses the
global ``numpy.random`` state); the draws and their order follow the official code, so the
distributions are the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .extra import LazyModule

cv2 = LazyModule("cv2")  # imported on first use, like the rest of the svm extra

Frame = dict[str, Any]
Clip = list[Frame]

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
# per-box arrays that follow ``bboxes`` through every selection / concatenation
PER_BOX_KEYS = ("labels", "instance_ids")

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "Frame", "Clip", "PartnerSource", "find_inside_bboxes",
    "imresize", "rescale_size", "imrescale", "imnormalize", "impad_to_multiple",
    "SeqMosaic", "SeqRandomAffine", "SeqMixUp", "SeqYOLOXHSVRandomAug", "SeqRandomFlip",
    "SeqResize", "SeqNormalize", "SeqPad", "SeqFilterAnnotations", "SeqCompose",
    "build_train_pipeline",
]


class PartnerSource(Protocol):
    """What mosaic / mixup draw partner clips from (``MixedClipDataset``)."""

    def __len__(self) -> int: ...

    def load_clip(self, index: int, rng: np.random.Generator) -> Clip: ...

    def start_frame_has_boxes(self, index: int) -> bool: ...


# ---------------------------------------------------------------------------------------
# helpers: mmdet.core.find_inside_bboxes and the mmcv 1.x image functions (cv2 backend)
# ---------------------------------------------------------------------------------------

def find_inside_bboxes(bboxes: np.ndarray, img_h: float, img_w: float) -> np.ndarray:
    """Boolean mask of boxes that overlap the image at all (mmdet ``find_inside_bboxes``:
    ``x1 < w & x2 > 0 & y1 < h & y2 > 0``); boxes are not clipped."""
    return ((bboxes[:, 0] < img_w) & (bboxes[:, 2] > 0)
            & (bboxes[:, 1] < img_h) & (bboxes[:, 3] > 0))


def imresize(img: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """``mmcv.imresize(img, (w, h))``: bilinear ``cv2.resize`` (keeps the dtype)."""
    return cv2.resize(img, (int(size_wh[0]), int(size_wh[1])), interpolation=cv2.INTER_LINEAR)


def rescale_size(w: int, h: int, scale: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """``mmcv.rescale_size`` with a tuple scale: the factor makes the long edge <= max(scale)
    and the short edge <= min(scale) (orientation-agnostic), the new size is
    ``int(x * factor + 0.5)``. Returns ((new_w, new_h), factor)."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return (int(w * float(factor) + 0.5), int(h * float(factor) + 0.5)), factor


def imrescale(img: np.ndarray, scale: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """Keep-ratio resize as ``mmdet Resize(keep_ratio=True)``: ``mmcv.imrescale`` then the
    per-axis factors recomputed from the rounded size. Returns (img, w_scale, h_scale).
    E.g. 1920x1080 with (800, 1440) -> 1422x800."""
    h, w = img.shape[:2]
    (new_w, new_h), _ = rescale_size(w, h, scale)
    out = imresize(img, (new_w, new_h))
    return out, new_w / w, new_h / h


def imnormalize(img: np.ndarray, mean: Sequence[float], std: Sequence[float],
                to_rgb: bool = True) -> np.ndarray:
    """``mmcv.imnormalize``: float32 result of ``(x - mean) * (1 / std)``, BGR->RGB first if
    ``to_rgb``. Plain numpy, not mmcv's in-place ``cv2.subtract``/``cv2.multiply`` with a
    1x3 float64 array: OpenCV 5 reads that array as a matrix, not a per-channel scalar, and
    gets images 1 or 3 pixels wide wrong (issue 11). Computed in float64 from the float32
    mean/std and rounded once, which is bit-identical to mmcv's cv2 path under OpenCV 4 for
    every uint8 value (tests/svm/test_seq_transforms.py)."""
    x = np.asarray(img)
    if to_rgb:
        x = x[..., ::-1]
    mean64 = np.asarray(mean, dtype=np.float32).astype(np.float64)
    stdinv = 1 / np.asarray(std, dtype=np.float32).astype(np.float64)
    return ((x.astype(np.float64) - mean64) * stdinv).astype(np.float32)


def impad_to_multiple(img: np.ndarray, divisor: int, pad_val: float = 0) -> np.ndarray:
    """``mmcv.impad_to_multiple``: pad bottom/right with ``pad_val`` up to multiples of
    ``divisor``."""
    h, w = img.shape[:2]
    ph, pw = int(math.ceil(h / divisor)) * divisor, int(math.ceil(w / divisor)) * divisor
    if (ph, pw) == (h, w):
        return img
    out = np.full((ph, pw) + img.shape[2:], pad_val, dtype=img.dtype)
    out[:h, :w] = img
    return out


def _select(frame: Frame, keep: np.ndarray) -> None:
    frame["bboxes"] = frame["bboxes"][keep]
    for key in PER_BOX_KEYS:
        if key in frame:
            frame[key] = frame[key][keep]


def _per_box(frame: Frame, key: str) -> np.ndarray:
    if key in frame:
        return frame[key]
    n = len(frame["bboxes"])
    return np.full(n, -1, dtype=np.int64) if key == "instance_ids" else np.zeros(n, np.int64)


def _copy_frame(frame: Frame) -> Frame:
    out = dict(frame)
    out.pop("mix_results", None)
    return out


# ---------------------------------------------------------------------------------------
# SeqMosaic
# ---------------------------------------------------------------------------------------

class SeqMosaic:
    """2x2 mosaic of the clip with 3 partner clips on a (2H, 2W) canvas, centre shared by
    all frames (official ``SeqMosaic`` over mmdet 2.x ``Mosaic``).

    Frame ``i``: quadrants top-left = the clip's frame ``i``, top-right / bottom-left /
    bottom-right = frame ``i`` of partners 0 / 1 / 2. Each patch is resized keeping its
    ratio to fit (H, W) = ``img_scale`` (``int`` sizes, bilinear), then pasted against the
    centre ``(int(u_x * W), int(u_y * H))``, ``u ~ U(center_ratio_range)`` (x drawn first),
    cropping what falls off the canvas; the canvas is filled with ``pad_val``. Boxes are
    scaled and shifted with their patch, not clipped (``bbox_clip_border=False``), the
    ``min_bbox_size`` filter is off (``skip_filter=True``, the mmdet default), and boxes that
    lie entirely outside the canvas are dropped. With probability ``1 - prob`` the clip is
    returned unchanged (the official ``SeqMosaic`` draws ``u > prob``; 1.0 in SVM).
    """

    num_partners = 3

    def __init__(self, img_scale: tuple[int, int] = (800, 1440),
                 center_ratio_range: tuple[float, float] = (0.5, 1.5), pad_val: float = 114.0,
                 prob: float = 1.0, min_bbox_size: float = 0.0, bbox_clip_border: bool = False,
                 skip_filter: bool = True):
        self.img_scale = tuple(img_scale)
        self.center_ratio_range = center_ratio_range
        self.pad_val = pad_val
        self.prob = prob
        self.min_bbox_size = min_bbox_size
        self.bbox_clip_border = bbox_clip_border
        self.skip_filter = skip_filter

    def get_indexes(self, source: PartnerSource, rng: np.random.Generator) -> list[int]:
        """3 partner indexes, uniform over the whole concatenated set (``Mosaic.get_indexes``)."""
        return [int(rng.integers(0, len(source))) for _ in range(3)]

    def sample_center(self, rng: np.random.Generator) -> tuple[int, int]:
        h, w = self.img_scale
        cx = int(rng.uniform(*self.center_ratio_range) * w)
        cy = int(rng.uniform(*self.center_ratio_range) * h)
        return cx, cy

    def paste_regions(self, center: tuple[int, int], quadrant: int, patch_wh: tuple[int, int]
                      ) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """(canvas x1, y1, x2, y2), (patch x1, y1, x2, y2) for quadrant 0..3 = TL, TR, BL, BR
        (``Mosaic._mosaic_combine``). Left quadrants end at the centre column and keep the
        patch's right part; right ones start there and keep its left part; likewise rows."""
        cx, cy = center
        pw, ph = patch_wh
        canvas_h, canvas_w = 2 * self.img_scale[0], 2 * self.img_scale[1]
        right, bottom = quadrant in (1, 3), quadrant in (2, 3)
        if right:
            x1, x2 = cx, min(cx + pw, canvas_w)
            px1, px2 = 0, min(pw, x2 - x1)
        else:
            x1, x2 = max(cx - pw, 0), cx
            px1, px2 = pw - (x2 - x1), pw
        if bottom:
            y1, y2 = cy, min(cy + ph, canvas_h)
            py1, py2 = 0, min(ph, y2 - y1)
        else:
            y1, y2 = max(cy - ph, 0), cy
            py1, py2 = ph - (y2 - y1), ph
        return (x1, y1, x2, y2), (px1, py1, px2, py2)

    def _frame(self, frame: Frame, partner_frames: Sequence[Frame],
               center: tuple[int, int]) -> Frame:
        h, w = self.img_scale
        img0 = frame["img"]
        canvas = np.full((int(h * 2), int(w * 2)) + img0.shape[2:], self.pad_val,
                         dtype=img0.dtype)
        boxes, labels, ids = [], [], []
        for q, patch in enumerate([frame, *partner_frames]):
            img = patch["img"]
            ph, pw = img.shape[:2]
            s = min(h / ph, w / pw)
            img = imresize(img, (int(pw * s), int(ph * s)))
            (x1, y1, x2, y2), (px1, py1, px2, py2) = self.paste_regions(
                center, q, (img.shape[1], img.shape[0]))
            canvas[y1:y2, x1:x2] = img[py1:py2, px1:px2]
            b = np.asarray(patch["bboxes"], dtype=np.float32).copy()
            if len(b):
                b[:, 0::2] = s * b[:, 0::2] + (x1 - px1)
                b[:, 1::2] = s * b[:, 1::2] + (y1 - py1)
            boxes.append(b)
            labels.append(_per_box(patch, "labels"))
            ids.append(_per_box(patch, "instance_ids"))
        out = _copy_frame(frame)
        out["bboxes"] = np.concatenate(boxes, 0).astype(np.float32, copy=False)
        out["labels"] = np.concatenate(labels, 0)
        out["instance_ids"] = np.concatenate(ids, 0)
        if self.bbox_clip_border:
            out["bboxes"][:, 0::2] = np.clip(out["bboxes"][:, 0::2], 0, 2 * w)
            out["bboxes"][:, 1::2] = np.clip(out["bboxes"][:, 1::2], 0, 2 * h)
        if not self.skip_filter:
            bw = out["bboxes"][:, 2] - out["bboxes"][:, 0]
            bh = out["bboxes"][:, 3] - out["bboxes"][:, 1]
            _select(out, (bw > self.min_bbox_size) & (bh > self.min_bbox_size))
        _select(out, find_inside_bboxes(out["bboxes"], 2 * h, 2 * w))
        out["img"] = canvas
        out["img_shape"] = canvas.shape[:2]
        return out

    def __call__(self, clip: Clip, rng: np.random.Generator,
                 partners: Sequence[Clip] | None = None) -> Clip:
        if partners is None or len(partners) != 3:
            raise ValueError("SeqMosaic needs 3 partner clips")
        if rng.uniform(0, 1) > self.prob:
            return clip
        center = self.sample_center(rng)
        return [self._frame(f, [p[i] for p in partners], center) for i, f in enumerate(clip)]


# ---------------------------------------------------------------------------------------
# SeqRandomAffine
# ---------------------------------------------------------------------------------------

class SeqRandomAffine:
    """One random affine (perspective-free homography) for all frames of the clip
    (official ``SeqRandomAffine._get_affine_param``; mmdet 2.x ``RandomAffine`` matrices).

    ``M = T @ Sh @ R @ S`` built from, in draw order: rotation ``U(+-max_rotate_degree)``,
    scale ``U(scaling_ratio_range)``, shear x and y ``U(+-max_shear_degree)``, translation
    ``U(+-max_translate_ratio) * width`` and ``* height`` of the *output* size; all matrices
    float32. There is no re-centring (unlike the original YOLOX code): rotation and scaling
    are about the canvas origin (top-left) and the output is the top-left
    ``(H + 2*border[0], W + 2*border[1])`` window, e.g. 800x1440 out of the 1600x2880 mosaic
    with ``border=(-400, -720)``. Image: ``cv2.warpPerspective`` (bilinear, constant
    ``border_val``). Boxes: the 4 corners are warped, the new box is their min/max, not
    clipped (``bbox_clip_border=False``); boxes entirely outside the output are dropped. The
    size/area/aspect filter (``min_bbox_size=2``, ``min_area_ratio=0.2``,
    ``max_aspect_ratio=20``, comparing against the original boxes times the scale) exists
    but is off: ``skip_filter=True`` is the mmdet 2.x default and svm_base.py keeps it.
    Defaults here are the SVM settings (scaling 0.1..2, no clipping).
    """

    def __init__(self, max_rotate_degree: float = 10.0, max_translate_ratio: float = 0.1,
                 scaling_ratio_range: tuple[float, float] = (0.1, 2.0),
                 max_shear_degree: float = 2.0, border: tuple[int, int] = (0, 0),
                 border_val: tuple[int, int, int] = (114, 114, 114), min_bbox_size: float = 2,
                 min_area_ratio: float = 0.2, max_aspect_ratio: float = 20,
                 bbox_clip_border: bool = False, skip_filter: bool = True):
        if not 0 <= max_translate_ratio <= 1:
            raise ValueError("max_translate_ratio must be in [0, 1]")
        if not 0 < scaling_ratio_range[0] <= scaling_ratio_range[1]:
            raise ValueError("scaling_ratio_range must be 0 < lo <= hi")
        self.max_rotate_degree = max_rotate_degree
        self.max_translate_ratio = max_translate_ratio
        self.scaling_ratio_range = scaling_ratio_range
        self.max_shear_degree = max_shear_degree
        self.border = tuple(border)
        self.border_val = tuple(border_val)
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.bbox_clip_border = bbox_clip_border
        self.skip_filter = skip_filter

    def sample_matrix(self, height: int, width: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """(3x3 float32 warp matrix, scaling ratio) for an output of ``height`` x ``width``."""
        rot = math.radians(rng.uniform(-self.max_rotate_degree, self.max_rotate_degree))
        rotation = np.array([[math.cos(rot), -math.sin(rot), 0.0],
                             [math.sin(rot), math.cos(rot), 0.0],
                             [0.0, 0.0, 1.0]], dtype=np.float32)
        scale = rng.uniform(self.scaling_ratio_range[0], self.scaling_ratio_range[1])
        scaling = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0], [0.0, 0.0, 1.0]],
                           dtype=np.float32)
        shx = math.radians(rng.uniform(-self.max_shear_degree, self.max_shear_degree))
        shy = math.radians(rng.uniform(-self.max_shear_degree, self.max_shear_degree))
        shear = np.array([[1.0, math.tan(shx), 0.0], [math.tan(shy), 1.0, 0.0],
                          [0.0, 0.0, 1.0]], dtype=np.float32)
        tx = rng.uniform(-self.max_translate_ratio, self.max_translate_ratio) * width
        ty = rng.uniform(-self.max_translate_ratio, self.max_translate_ratio) * height
        translation = np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]],
                               dtype=np.float32)
        return translation @ shear @ rotation @ scaling, float(scale)

    def filter_boxes(self, origin: np.ndarray, warped: np.ndarray) -> np.ndarray:
        """mmdet ``RandomAffine.filter_gt_bboxes`` (used only with ``skip_filter=False``)."""
        ow, oh = origin[:, 2] - origin[:, 0], origin[:, 3] - origin[:, 1]
        ww, wh = warped[:, 2] - warped[:, 0], warped[:, 3] - warped[:, 1]
        aspect = np.maximum(ww / (wh + 1e-16), wh / (ww + 1e-16))
        return ((ww > self.min_bbox_size) & (wh > self.min_bbox_size)
                & (ww * wh / (ow * oh + 1e-16) > self.min_area_ratio)
                & (aspect < self.max_aspect_ratio))

    def warp_boxes(self, bboxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Warp the 4 corners of each box and take their min/max."""
        n = len(bboxes)
        if n == 0:
            return np.zeros((0, 4), np.float32)
        xs = bboxes[:, [0, 0, 2, 2]].reshape(-1)
        ys = bboxes[:, [1, 3, 3, 1]].reshape(-1)
        pts = matrix @ np.vstack([xs, ys, np.ones_like(xs)])
        pts = pts[:2] / pts[2]
        xs, ys = pts[0].reshape(n, 4), pts[1].reshape(n, 4)
        return np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], 1).astype(np.float32)

    def __call__(self, clip: Clip, rng: np.random.Generator) -> Clip:
        h0, w0 = clip[0]["img"].shape[:2]
        height, width = h0 + self.border[0] * 2, w0 + self.border[1] * 2
        matrix, scale = self.sample_matrix(height, width, rng)
        out_clip = []
        for frame in clip:
            out = _copy_frame(frame)
            out["img"] = cv2.warpPerspective(frame["img"], matrix, dsize=(width, height),
                                             borderValue=self.border_val)
            out["img_shape"] = out["img"].shape[:2]
            bboxes = np.asarray(frame["bboxes"], dtype=np.float32)
            if len(bboxes):
                warped = self.warp_boxes(bboxes, matrix)
                if self.bbox_clip_border:
                    warped[:, 0::2] = warped[:, 0::2].clip(0, width)
                    warped[:, 1::2] = warped[:, 1::2].clip(0, height)
                keep = find_inside_bboxes(warped, height, width)
                if not self.skip_filter:
                    keep &= self.filter_boxes(bboxes * scale, warped)
                out["bboxes"] = warped
                _select(out, keep)
            out_clip.append(out)
        return out_clip


# ---------------------------------------------------------------------------------------
# SeqMixUp
# ---------------------------------------------------------------------------------------

class SeqMixUp:
    """50/50 blend with one partner clip (official ``SeqMixUp`` over mmdet 2.x ``MixUp``).

    Per frame ``i`` with partner frame ``i``: the partner image is resized keeping its ratio
    into a ``img_scale`` (H, W) canvas filled with ``pad_val`` (top-left), the canvas is
    rescaled by the jitter ``j ~ U(ratio_range)``, flipped horizontally if
    ``u > flip_ratio``, padded with zeros to at least the frame's size and cropped at a
    random offset (``y ~ randint[0, H' - h)``, ``x`` likewise, only where the canvas is
    larger). Result: ``uint8(0.5 * frame + 0.5 * crop)`` (truncation; the canvas is float64
    because ``pad_val`` is a float, and is truncated into the uint8 padded image, as
    official). Partner boxes are scaled, flipped, shifted and appended (not clipped, size
    filter off: ``skip_filter=True``), then boxes entirely outside the frame are dropped.
    A partner frame with no boxes leaves the frame unchanged (and draws nothing).

    ``get_indexes`` draws up to ``max_iters`` indexes until one whose clip start frame has
    boxes (``MixUp.get_indexes`` asks ``dataset.get_ann_info(index)``).

    **Quirk** (``redraw_falsy_params``, default True = released behaviour): the official code
    shares the parameters through ``value = shared_value or draw()``, so a flip of ``False``
    and an offset of ``0`` chosen for an earlier frame are re-drawn for each later frame;
    later frames can thus be flipped / shifted differently from frame 0. With False, every
    frame reuses frame 0's parameters (the intended behaviour).
    """

    num_partners = 1

    def __init__(self, img_scale: tuple[int, int] = (800, 1440),
                 ratio_range: tuple[float, float] = (0.8, 1.6), flip_ratio: float = 0.5,
                 pad_val: float = 114.0, max_iters: int = 15, min_bbox_size: float = 5,
                 min_area_ratio: float = 0.2, max_aspect_ratio: float = 20,
                 bbox_clip_border: bool = False, skip_filter: bool = True,
                 redraw_falsy_params: bool = True):
        self.img_scale = tuple(img_scale)
        self.ratio_range = ratio_range
        self.flip_ratio = flip_ratio
        self.pad_val = pad_val
        self.max_iters = max_iters
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.bbox_clip_border = bbox_clip_border
        self.skip_filter = skip_filter
        self.redraw_falsy_params = redraw_falsy_params

    def get_indexes(self, source: PartnerSource, rng: np.random.Generator) -> list[int]:
        index = 0
        for _ in range(self.max_iters):
            index = int(rng.integers(0, len(source)))
            if source.start_frame_has_boxes(index):
                break
        return [index]

    def _reuse(self, value) -> bool:
        if value is None:
            return False
        return bool(value) or not self.redraw_falsy_params

    def _jit_flip(self, shared: tuple | None, rng: np.random.Generator) -> tuple[float, bool]:
        jit, flip = (None, None) if shared is None else shared[:2]
        jit = jit if self._reuse(jit) else rng.uniform(*self.ratio_range)
        flip = flip if self._reuse(flip) else bool(rng.uniform(0, 1) > self.flip_ratio)
        return float(jit), bool(flip)

    def _offsets(self, shared: tuple | None, rng: np.random.Generator, y_room: int,
                 x_room: int) -> tuple[int, int]:
        y_off, x_off = (None, None) if shared is None else shared[2:]
        y_off = (y_off if self._reuse(y_off) else int(rng.integers(0, y_room))) if y_room > 0 else 0
        x_off = (x_off if self._reuse(x_off) else int(rng.integers(0, x_room))) if x_room > 0 else 0
        return int(y_off), int(x_off)

    def resolve_params(self, shared: tuple | None, rng: np.random.Generator,
                       y_room: int, x_room: int) -> tuple[float, bool, int, int]:
        """(jitter, flip, y_offset, x_offset) for one frame given the parameters the previous
        mixed frame used (``None`` for the first one), drawn in the official order.
        ``y_room``/``x_room`` = how much larger the padded canvas is than the frame; an
        offset is drawn only where it is > 0 (else 0)."""
        jit, flip = self._jit_flip(shared, rng)
        return (jit, flip, *self._offsets(shared, rng, y_room, x_room))

    def _frame(self, frame: Frame, partner: Frame, rng: np.random.Generator,
               shared: tuple | None) -> tuple[Frame, tuple | None]:
        p_boxes = np.asarray(partner["bboxes"], dtype=np.float32)
        if len(p_boxes) == 0:
            return _copy_frame(frame), shared
        H, W = self.img_scale
        p_img = partner["img"]
        jit, flip = self._jit_flip(shared, rng)
        # float64 canvas when pad_val is a float, as official (np.ones(uint8) * 114.0)
        canvas = np.ones((H, W) + p_img.shape[2:], dtype=p_img.dtype) * self.pad_val
        s = min(H / p_img.shape[0], W / p_img.shape[1])
        resized = imresize(p_img, (int(p_img.shape[1] * s), int(p_img.shape[0] * s)))
        canvas[:resized.shape[0], :resized.shape[1]] = resized
        s *= jit
        canvas = imresize(canvas, (int(canvas.shape[1] * jit), int(canvas.shape[0] * jit)))
        if flip:
            canvas = canvas[:, ::-1]
        ori = frame["img"]
        origin_h, origin_w = canvas.shape[:2]
        target_h, target_w = ori.shape[:2]
        padded = np.zeros((max(origin_h, target_h), max(origin_w, target_w), 3), np.uint8)
        padded[:origin_h, :origin_w] = canvas.astype(np.uint8)  # truncation, as official
        y_off, x_off = self._offsets(shared, rng, padded.shape[0] - target_h,
                                     padded.shape[1] - target_w)
        crop = padded[y_off:y_off + target_h, x_off:x_off + target_w]

        boxes = (p_boxes * s).astype(np.float32)
        if self.bbox_clip_border:
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, origin_w)
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, origin_h)
        if flip:
            boxes[:, 0::2] = origin_w - boxes[:, 0::2][:, ::-1]
        shifted = boxes.copy()
        shifted[:, 0::2] -= x_off
        shifted[:, 1::2] -= y_off
        if self.bbox_clip_border:
            shifted[:, 0::2] = np.clip(shifted[:, 0::2], 0, target_w)
            shifted[:, 1::2] = np.clip(shifted[:, 1::2], 0, target_h)
        mixed = 0.5 * ori.astype(np.float32) + 0.5 * crop.astype(np.float32)
        p_labels = _per_box(partner, "labels")
        p_ids = _per_box(partner, "instance_ids")
        if not self.skip_filter:
            keep = self._filter(boxes, shifted)
            shifted, p_labels, p_ids = shifted[keep], p_labels[keep], p_ids[keep]
        out = _copy_frame(frame)
        out["bboxes"] = np.concatenate([np.asarray(frame["bboxes"], np.float32), shifted], 0)
        out["labels"] = np.concatenate([_per_box(frame, "labels"), p_labels], 0)
        out["instance_ids"] = np.concatenate([_per_box(frame, "instance_ids"), p_ids], 0)
        _select(out, find_inside_bboxes(out["bboxes"], target_h, target_w))
        out["img"] = mixed.astype(np.uint8)
        out["img_shape"] = out["img"].shape[:2]
        return out, (jit, flip, y_off, x_off)

    def _filter(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """mmdet ``MixUp._filter_box_candidates`` (only with ``skip_filter=False``)."""
        w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
        w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
        ar = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
        return ((w2 > self.min_bbox_size) & (h2 > self.min_bbox_size)
                & (w2 * h2 / (w1 * h1 + 1e-16) > self.min_area_ratio)
                & (ar < self.max_aspect_ratio))

    def __call__(self, clip: Clip, rng: np.random.Generator,
                 partners: Sequence[Clip] | None = None) -> Clip:
        if partners is None or len(partners) != 1:
            raise ValueError("SeqMixUp needs 1 partner clip")
        shared = None
        out = []
        for i, frame in enumerate(clip):
            frame_out, shared = self._frame(frame, partners[0][i], rng, shared)
            out.append(frame_out)
        return out


# ---------------------------------------------------------------------------------------
# colour, flip, resize, normalize, pad, filter
# ---------------------------------------------------------------------------------------

class SeqYOLOXHSVRandomAug:
    """Shared HSV jitter (official ``SeqYOLOXHSVRandomAug``; mmdet 2.x
    ``YOLOXHSVRandomAug``): gains ``U(-1, 1) * (hue, sat, val)``, each kept with
    probability 1/2 (times ``randint(0, 2)``), truncated to int16; per frame OpenCV
    BGR->HSV (uint8, hue 0..179), ``h = (h + g_h) % 180``, s and v clipped to 0..255, back
    to BGR. Needs uint8 BGR frames."""

    def __init__(self, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30):
        self.deltas = np.array([hue_delta, saturation_delta, value_delta], dtype=np.float64)

    def sample_gains(self, rng: np.random.Generator) -> np.ndarray:
        gains = rng.uniform(-1, 1, 3) * self.deltas
        gains *= rng.integers(0, 2, 3)
        return gains.astype(np.int16)

    def apply(self, img: np.ndarray, gains: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] + gains[1], 0, 255)
        hsv[..., 2] = np.clip(hsv[..., 2] + gains[2], 0, 255)
        return cv2.cvtColor(hsv.astype(img.dtype), cv2.COLOR_HSV2BGR)

    def __call__(self, clip: Clip, rng: np.random.Generator) -> Clip:
        gains = self.sample_gains(rng)
        out = []
        for frame in clip:
            f = _copy_frame(frame)
            f["img"] = self.apply(frame["img"], gains)
            out.append(f)
        return out


class SeqRandomFlip:
    """Horizontal flip of all frames with probability ``flip_ratio`` (one draw per clip;
    mmtrack ``SeqRandomFlip(share_params=True)``). Boxes: ``x1' = w - x2, x2' = w - x1``."""

    def __init__(self, flip_ratio: float = 0.5):
        self.flip_ratio = flip_ratio

    def __call__(self, clip: Clip, rng: np.random.Generator) -> Clip:
        flip = bool(rng.uniform(0, 1) < self.flip_ratio)
        out = []
        for frame in clip:
            f = _copy_frame(frame)
            f["flip"] = flip
            f["flip_direction"] = "horizontal" if flip else None
            if flip:
                w = frame["img"].shape[1]
                f["img"] = np.ascontiguousarray(frame["img"][:, ::-1])
                b = np.asarray(frame["bboxes"], dtype=np.float32)
                flipped = b.copy()
                flipped[:, 0] = w - b[:, 2]
                flipped[:, 2] = w - b[:, 0]
                f["bboxes"] = flipped
            out.append(f)
        return out


class SeqResize:
    """Keep-ratio resize of every frame (mmtrack ``SeqResize(keep_ratio=True)``, mmdet
    ``Resize``): ``mmcv.imrescale`` semantics, i.e. the long edge fits ``max(img_scale)`` and
    the short edge ``min(img_scale)`` (so (800, 1440) is orientation-agnostic); boxes times
    ``scale_factor = [w', h', w', h']`` of the rounded size, not clipped. After the
    mosaic/affine/mixup chain the frames are already ``img_scale`` and this is the identity
    (factor 1)."""

    def __init__(self, img_scale: tuple[int, int] = (800, 1440)):
        self.img_scale = tuple(img_scale)

    def __call__(self, clip: Clip, rng: np.random.Generator | None = None) -> Clip:
        out = []
        for frame in clip:
            f = _copy_frame(frame)
            img, ws, hs = imrescale(frame["img"], self.img_scale)
            sf = np.array([ws, hs, ws, hs], dtype=np.float32)
            f["img"] = img
            f["img_shape"] = img.shape[:2]
            f["pad_shape"] = img.shape[:2]
            f["scale_factor"] = sf
            f["bboxes"] = (np.asarray(frame["bboxes"], dtype=np.float32) * sf).astype(np.float32)
            out.append(f)
        return out


class SeqNormalize:
    """``(img - mean) / std`` with BGR->RGB first (``to_rgb=True``): uint8 BGR in, float32 RGB
    out. Defaults: ImageNet statistics of svm_base.py ``img_norm_cfg`` (not CLIP's)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, to_rgb: bool = True):
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.to_rgb = to_rgb

    def __call__(self, clip: Clip, rng: np.random.Generator | None = None) -> Clip:
        out = []
        for frame in clip:
            f = _copy_frame(frame)
            f["img"] = imnormalize(frame["img"], self.mean, self.std, self.to_rgb)
            out.append(f)
        return out


class SeqPad:
    """Pad bottom/right to a multiple of ``size_divisor`` with ``pad_val`` (applied after
    normalisation, so 0 is the normalised mean-ish value, as official)."""

    def __init__(self, size_divisor: int = 32, pad_val: float = 0.0):
        self.size_divisor = size_divisor
        self.pad_val = pad_val

    def __call__(self, clip: Clip, rng: np.random.Generator | None = None) -> Clip:
        out = []
        for frame in clip:
            f = _copy_frame(frame)
            f["img"] = impad_to_multiple(frame["img"], self.size_divisor, self.pad_val)
            f["pad_shape"] = f["img"].shape[:2]
            out.append(f)
        return out


class SeqFilterAnnotations:
    """Keep boxes with ``w > min_w and h > min_h`` (strict), per frame (official
    ``SeqFilterAnnotations`` = mmdet ``FilterAnnotations(min_gt_bbox_wh=(1, 1),
    keep_empty=False)``). A frame left with no boxes is kept (``keep_empty=False`` means
    "do not drop the sample"), as is a frame that had none."""

    def __init__(self, min_gt_bbox_wh: tuple[float, float] = (1.0, 1.0)):
        self.min_w, self.min_h = min_gt_bbox_wh

    def __call__(self, clip: Clip, rng: np.random.Generator | None = None) -> Clip:
        out = []
        for frame in clip:
            f = _copy_frame(frame)
            b = np.asarray(frame["bboxes"], dtype=np.float32)
            if len(b):
                w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
                _select(f, (w > self.min_w) & (h > self.min_h))
            out.append(f)
        return out


class SeqCompose:
    """Apply the transforms in order. For a transform with ``num_partners > 0`` the
    partner clips are chosen with ``t.get_indexes(source, rng)`` and loaded with
    ``source.load_clip(index, rng)`` from the whole concatenated set
    (``MultiVideoMixDataset.__getitem__``); frame ``i`` is mixed with partner frame ``i``."""

    def __init__(self, transforms: Sequence[Any]):
        self.transforms = list(transforms)

    def __call__(self, clip: Clip, rng: np.random.Generator,
                 source: PartnerSource | None = None) -> Clip:
        for t in self.transforms:
            if getattr(t, "num_partners", 0):
                if source is None:
                    raise ValueError(f"{type(t).__name__} needs a partner source "
                                     "(the dataset to draw partner clips from)")
                partners = [source.load_clip(i, rng) for i in t.get_indexes(source, rng)]
                clip = t(clip, rng, partners)
            else:
                clip = t(clip, rng)
        return clip

    def __repr__(self) -> str:
        return "SeqCompose(" + ", ".join(type(t).__name__ for t in self.transforms) + ")"


def build_train_pipeline(img_scale: tuple[int, int] = (800, 1440), *,
                         mixup_redraw_falsy_params: bool = True,
                         mean: Sequence[float] = IMAGENET_MEAN,
                         std: Sequence[float] = IMAGENET_STD,
                         size_divisor: int = 32) -> SeqCompose:
    """The ``train_pipeline`` of svm_base.py after loading, in the official order, for an
    output of ``img_scale`` = (H, W) (the recipe: (800, 1440); smoke runs use small sizes).
    Mosaic on (2H, 2W), affine with ``border = (-H // 2, -W // 2)`` back to (H, W), mixup,
    HSV, flip, resize, normalise, pad, filter. Format/collect is ``collate_clips``."""
    img_scale = (int(img_scale[0]), int(img_scale[1]))
    return SeqCompose([
        SeqMosaic(img_scale=img_scale, pad_val=114.0, bbox_clip_border=False),
        SeqRandomAffine(scaling_ratio_range=(0.1, 2.0),
                        border=(-img_scale[0] // 2, -img_scale[1] // 2),
                        bbox_clip_border=False),
        SeqMixUp(img_scale=img_scale, ratio_range=(0.8, 1.6), pad_val=114.0,
                 bbox_clip_border=False, redraw_falsy_params=mixup_redraw_falsy_params),
        SeqYOLOXHSVRandomAug(),
        SeqRandomFlip(flip_ratio=0.5),
        SeqResize(img_scale=img_scale),
        SeqNormalize(mean=mean, std=std, to_rgb=True),
        SeqPad(size_divisor=size_divisor, pad_val=0.0),
        SeqFilterAnnotations(min_gt_bbox_wh=(1.0, 1.0)),
    ])
