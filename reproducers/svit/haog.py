"""SViT image-branch samples: HAOG slot matching, box-aware RandAugment and the box targets.

Every piece reproduces eladb3/SViT @ bf0ab3e; the official files are read for facts only.

- ``match_haog``: ``slowfast/utils/box_ops.py match_haog``, applied by
  ``slowfast/datasets/ssv2_frames.py Ssv2_frames.get_boxes`` on the original-frame pixel boxes,
  *before* any augmentation (so the contact labels never see the augmentation). Quirks kept:
  distances between the top-left corners (x1, y1), not the centres; cost 1e8 for the columns
  of empty objects *and* for the columns indexed by empty hands; everything in float32, so
  1e8 + d rounds to a multiple of 8; the crossed assignment (taken only when strictly
  cheaper) re-stacks the slots as [0, 2, 3, 1]; contact -1 where the distance is 1e8, 3 where
  it is < 0.1 px, else 0.
- ``move_boxes`` / ``apply_op_with_boxes`` / ``BoxRandAugment``: the image side is timm's
  RandAugment ops (the same PIL ops as ``slowfast/datasets/ssv2_MF/autoaugment.py``) through
  ``common.video.transforms.RandAugmentClip``; each op's level argument (sign and magnitude)
  is *recorded* from the call timm makes, so the boxes get exactly the image's draw. Boxes move
  as ``ssv2_MF/autoaugment.py AugmentOp.__call__`` with ``ssv2_MF/boxes_autoaugment.py`` and
  ``ssv2_MF/boxes_aug/bbox_util.py`` move them:

  * colour ops: boxes unchanged;
  * TranslateXRel / TranslateYRel: x (y) minus pct x width (height); no clipping;
  * Rotate: the 4 corners rotated by the image's angle about (w // 2, h // 2) (cv2 convention,
    counter-clockwise like PIL), re-centred at (w / 2, h / 2), enclosing box, clipped to the
    image; a box left with zero area is zeroed (``clip_box``'s 0/0 = nan drop);
  * ShearX / ShearY: *not* the image's PIL shear but imgaug 0.4.0 ``ShearX/ShearY(factor x
    57.2958 deg, fit_output=True)`` (ShearY with the factor negated) on the box corners, i.e.
    scikit-image (< 0.20) ``AffineTransform(shear=s)`` = [[1, -sin s], [0, cos s]] about the
    centre, imgaug's +-3.141592/2 rotations around the y shear, the fit-output shift and
    ceil'd output size; then the other axis is rescaled by size / fitted size, the sheared
    axis is shifted back by (fitted - size) for a positive image factor and clipped to the
    image. The box follows the image to about 1 px (sin s vs the image's tan-like factor, the
    ceil), as in the official code. Computed from the closed matrices in float64 (imgaug
    rounds the corners through float32: differences below 1e-4 px);
  * all-zero (absent) boxes stay all zero after every op.
- ``crop_resize_boxes`` / ``finalize_boxes`` / ``image_sample``: ``Ssv2_frames.__getitem__``
  and ``_aug_frame`` with ``datasets/transform.py random_resized_crop`` and ``crop_boxes``:
  RandAugment (with boxes) -> normalise (x / 255 - 0.45) / 0.225 -> random resized crop (area
  0.08-1, aspect 0.75-1.3333 as configs/ssv2.yaml writes it, one draw with Python's
  ``random``, bilinear to 224) with the boxes shifted by the crop offset, clipped to the crop and
  scaled -> random erasing (AUG.RE_PROB 0.25, pixel mode, on the image too) -> boxes divided by
  the output width/height, clipped to [0, 1], xyxy -> cxcywh, and ``box_ops.zero_empty_boxes``
  (any of w, h <= 0.05 -> the whole box zeroed). The existence flag is "box not all zeros"
  (``models/losses.py boxes_loss_``). Random erasing is timm's through ``RandomErasingClip``
  (10 box tries where the official cube variant tries 100).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image
from torchvision.ops import box_convert

from reproducers.common.video.transforms import (
    RandAugmentClip,
    RandomErasingClip,
    crop,
    normalize,
    resize,
    rrc_params,
)

HIGH_COST = 1e8
CONTACT_THRESHOLD = 0.1  # pixels, between top-left corners

DEFAULTS = {  # configs/ssv2.yaml (AUG, DATA) and the defaults it leaves in force
    "rand_augment": "rand-m7-n4-mstd0.5-inc1",  # AUG.AA_TYPE; None turns RandAugment off
    "interpolation": "bicubic",  # AUG.INTERPOLATION
    "crop_size": 224,  # DATA.TRAIN_CROP_SIZE
    "rrc_scale": (0.08, 1.0),  # DATA.TRAIN_JITTER_SCALES_RELATIVE
    "rrc_ratio": (0.75, 1.3333),  # DATA.TRAIN_JITTER_ASPECT_RELATIVE (not exactly 4/3)
    "mean": (0.45, 0.45, 0.45),  # DATA.MEAN
    "std": (0.225, 0.225, 0.225),  # DATA.STD
    "random_erasing": {"prob": 0.25, "mode": "pixel", "max_count": 1},  # AUG.RE_*; None: off
    "min_box_size": 0.05,  # box_ops.zero_empty_boxes eps
}


# ---------------------------------------------------------------- HAOG matching


def _as_slot_boxes(boxes, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(boxes) if not isinstance(boxes, torch.Tensor) else boxes)
    if tuple(t.shape) != (4, 4):
        raise ValueError(f"{what}: expected (4, 4) xyxy boxes in slot order [hand, hand, obj, "
                         f"obj], got shape {tuple(t.shape)}")
    return t.to(torch.float32)


def match_haog(boxes) -> tuple[torch.Tensor, torch.Tensor]:
    """(boxes (4,4) float32, contact (2,) int64) from (4,4) xyxy pixel slot boxes.

    See the module docstring for the official quirks this keeps.
    """
    haog = _as_slot_boxes(boxes, "match_haog")
    corners = haog[:, :2].unsqueeze(0)  # top-left corners, as the official code (not centres)
    cost = torch.cdist(corners[:, :2], corners[:, 2:], p=2).squeeze(0)  # [hand, object]
    obj_empty = torch.all(haog[2:] == 0, dim=-1)
    hand_empty = torch.all(haog[:2] == 0, dim=-1)
    cost[:, obj_empty] = HIGH_COST
    cost[:, hand_empty] = HIGH_COST  # the hand mask indexes columns (official)
    straight = cost[0, 0] + cost[1, 1]
    crossed = cost[0, 1] + cost[1, 0]
    if crossed < straight:
        haog = haog[[0, 2, 3, 1]]
        dists = (cost[0, 1], cost[1, 0])
    else:
        dists = (cost[0, 0], cost[1, 1])

    def state(d: torch.Tensor) -> int:
        if d == HIGH_COST:
            return -1
        return 3 if d < CONTACT_THRESHOLD else 0

    return haog.clone(), torch.tensor([state(d) for d in dists], dtype=torch.int64)


# ---------------------------------------------------------------- boxes through RandAugment

GEOMETRIC_OPS = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
_RAD_TO_DEG = 57.2958  # boxes_autoaugment.RAD_TO_DEG
_IMGAUG_HALF_PI = 3.141592 / 2  # imgaug 0.4.0 rotates by this around its y shear


def _corners(boxes: np.ndarray) -> np.ndarray:
    """[N, 4, 2] corners (x1,y1) (x2,y1) (x2,y2) (x1,y2) of xyxy boxes."""
    x1, y1, x2, y2 = boxes.T
    return np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1),
                     np.stack([x2, y2], -1), np.stack([x1, y2], -1)], axis=1)


def _apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


def _enclosing(pts: np.ndarray) -> np.ndarray:
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=-1)


def _translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _skimage_affine(rotation: float = 0.0, shear: float = 0.0) -> np.ndarray:
    """scikit-image < 0.20 ``AffineTransform(rotation=, shear=)`` with unit scale."""
    return np.array([[math.cos(rotation), -math.sin(rotation + shear), 0.0],
                     [math.sin(rotation), math.cos(rotation + shear), 0.0],
                     [0.0, 0.0, 1.0]])


def imgaug_shear_matrix(width: int, height: int, shear_x_deg: float, shear_y_deg: float
                        ) -> tuple[np.ndarray, int, int]:
    """(3x3 matrix, fitted height, fitted width) of imgaug 0.4.0 ``Affine(shear=...,
    fit_output=True)`` for coordinates (shift_add 0)."""
    sx, sy = np.deg2rad([shear_x_deg, shear_y_deg])
    steps = (_translation(-width / 2.0, -height / 2.0),
             _skimage_affine(rotation=-_IMGAUG_HALF_PI), _skimage_affine(shear=float(sy)),
             _skimage_affine(rotation=_IMGAUG_HALF_PI), _skimage_affine(shear=float(sx)),
             _translation(width / 2.0, height / 2.0))
    m = np.eye(3)
    for step in steps:  # skimage's "a + b": apply a, then b
        m = step @ m
    frame = np.array([[0, 0], [0, height - 1], [width - 1, height - 1], [width - 1, 0]], float)
    c = _apply(m, frame)
    (minx, miny), (maxx, maxy) = c.min(axis=0), c.max(axis=0)
    out_h, out_w = int(math.ceil(maxy - miny + 1)), int(math.ceil(maxx - minx + 1))
    return _translation(-minx, -miny) @ m, out_h, out_w


def _shear_boxes(boxes: np.ndarray, factor: float, width: int, height: int, axis: int
                 ) -> np.ndarray:
    if factor == 0:
        return boxes
    if axis == 0:  # boxes_autoaugment.shear_x_iaa
        deg = factor * _RAD_TO_DEG
        m, out_h, out_w = imgaug_shear_matrix(width, height, deg, 0.0)
    else:  # boxes_autoaugment.shear_y_iaa: the factor is negated
        deg = -factor * _RAD_TO_DEG
        m, out_h, out_w = imgaug_shear_matrix(width, height, 0.0, deg)
    out = _enclosing(_apply(m, _corners(boxes)))
    if axis == 0:
        out[:, [1, 3]] *= height / out_h
        if deg > 0:
            out[:, [0, 2]] -= out_w - width
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    else:
        out[:, [0, 2]] *= width / out_w
        if deg < 0:
            out[:, [1, 3]] -= out_h - height
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def _rotate_boxes(boxes: np.ndarray, degrees: float, width: int, height: int) -> np.ndarray:
    """bbox_util.rotate_boxes: cv2 rotation about the integer centre, enclosing box, clip."""
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    cx, cy = width // 2, height // 2
    m = np.array([[cos, sin, width / 2.0 - cos * cx - sin * cy],
                  [-sin, cos, height / 2.0 + sin * cx - cos * cy],
                  [0.0, 0.0, 1.0]])
    out = _enclosing(_apply(m, _corners(boxes)))
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    area = (out[:, 2] - out[:, 0]) * (out[:, 3] - out[:, 1])
    out[area == 0] = 0
    return out


def move_boxes(op_name: str, level: float | None, boxes: np.ndarray, width: int, height: int
               ) -> np.ndarray:
    """xyxy pixel boxes [N, 4] after RandAugment op ``op_name`` with level argument ``level``
    on a ``width`` x ``height`` image (float64; all-zero rows stay zero)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"move_boxes: expected [N, 4] xyxy boxes, got shape {b.shape}")
    if op_name not in GEOMETRIC_OPS:
        return b.copy()
    if level is None:
        raise ValueError(f"move_boxes: {op_name} needs its level argument, got None")
    if op_name == "TranslateXRel":
        out = b.copy()
        out[:, [0, 2]] -= level * width
    elif op_name == "TranslateYRel":
        out = b.copy()
        out[:, [1, 3]] -= level * height
    elif op_name == "Rotate":
        out = _rotate_boxes(b, level, width, height)
    else:
        out = _shear_boxes(b, level, width, height, 0 if op_name == "ShearX" else 1)
    out[np.all(b == 0, axis=1)] = 0
    return out


def apply_op_with_boxes(op, img: Image.Image, boxes: np.ndarray
                        ) -> tuple[Image.Image, np.ndarray, float | None]:
    """Run one timm ``AugmentOp`` on ``img`` and move ``boxes`` with the level it drew.

    Returns (image, boxes, level); level is None when the op was skipped (its apply
    probability) or takes no argument.
    """
    seen: list[tuple] = []
    inner = op.aug_fn

    def recording(image, *args, **kwargs):
        seen.append(args)
        return inner(image, *args, **kwargs)

    op.aug_fn = recording
    try:
        out = op(img)
    finally:
        op.aug_fn = inner
    if not seen:
        return out, np.asarray(boxes, dtype=np.float64).copy(), None
    level = float(seen[0][0]) if seen[0] else None
    return out, move_boxes(op.name, level, boxes, *img.size), level


class BoxRandAugment(RandAugmentClip):
    """``RandAugmentClip`` for one frame and its boxes: ``augment(frame, boxes)``.

    The op sequence is drawn as timm's RandAugment draws it (NumPy's global generator);
    ``last_ops`` / ``last_levels`` hold the previous call's op names and recorded levels.
    """

    def __init__(self, config_str: str, hparams: Mapping | None = None):
        super().__init__(config_str, hparams)
        self.last_levels: list[float | None] = []

    def augment(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"BoxRandAugment: expected a uint8 HxWx3 frame, got "
                             f"{frame.dtype} {frame.shape}")
        ra = self._for_size(frame.shape[:2])
        ops = np.random.choice(ra.ops, ra.num_layers, replace=ra.choice_weights is None,
                               p=ra.choice_weights)
        img, b = Image.fromarray(frame), np.asarray(boxes, dtype=np.float64)
        self.last_ops, self.last_levels = [], []
        for op in ops:
            img, b, level = apply_op_with_boxes(op, img, b)
            self.last_ops.append(op.name)
            self.last_levels.append(level)
        return np.array(img), b  # a writable copy


@functools.lru_cache(maxsize=8)
def _box_rand_augment(config_str: str, interpolation: str) -> BoxRandAugment:
    return BoxRandAugment(config_str, {"interpolation": interpolation})


# ---------------------------------------------------------------- crop and box targets


def crop_resize_boxes(boxes: np.ndarray, top: int, left: int, height: int, width: int,
                      out_size: int) -> np.ndarray:
    """xyxy pixel boxes -> fractions of the ``out_size`` crop, clipped to [0, 1]
    (transform.crop_boxes, the clip and scale of random_resized_crop, then / out size)."""
    b = np.asarray(boxes, dtype=np.float64).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]] - left, 0, width) * (float(out_size) / width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]] - top, 0, height) * (float(out_size) / height)
    return np.clip(b / out_size, 0, 1)


def finalize_boxes(norm_xyxy, min_size: float = 0.05) -> torch.Tensor:
    """[N, 4] normalised xyxy -> float32 cxcywh with boxes of w or h <= ``min_size`` zeroed."""
    b = box_convert(torch.as_tensor(norm_xyxy, dtype=torch.float32), "xyxy", "cxcywh")
    if torch.any(b[:, 2:] < 0):
        raise ValueError(f"finalize_boxes: boxes with x2 < x1 or y2 < y1: {b.tolist()}")
    b[torch.any(b[:, 2:] <= min_size, dim=-1)] = 0
    return b


def image_sample(frame: np.ndarray, slot_boxes, cfg: Mapping | None = None) -> dict:
    """One training image of SViT's image branch (``Ssv2_frames.__getitem__``).

    ``frame``: uint8 HxWx3 in the model's channel order (BGR for the released SViT);
    ``slot_boxes``: (4, 4) xyxy pixels, slots [hand, hand, obj, obj], zeros when absent.
    Returns image float [3, crop, crop], boxes float [4, 4] cxcywh in [0, 1], exists float [4],
    contact int64 [2]. Randomness: NumPy's and Python's global generators, as the official loader.
    """
    unknown = sorted(set(cfg or {}) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"image_sample: unknown cfg keys {unknown}; use {sorted(DEFAULTS)}")
    c = {**DEFAULTS, **(cfg or {})}
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 \
            or frame.dtype != np.uint8:
        raise ValueError(f"image_sample: expected a uint8 HxWx3 numpy frame, got "
                         f"{getattr(frame, 'dtype', type(frame))} {getattr(frame, 'shape', '')}")
    raw = _as_slot_boxes(slot_boxes, "image_sample").numpy()
    if np.any(raw[:, 2:] < raw[:, :2]):
        raise ValueError(f"image_sample: slot boxes need x2 >= x1 and y2 >= y1, got "
                         f"{raw.tolist()}")
    boxes, contact = match_haog(raw)  # before augmentation, as get_boxes does
    boxes = boxes.numpy().astype(np.float64)
    if c["rand_augment"]:
        frame, boxes = _box_rand_augment(c["rand_augment"], c["interpolation"]).augment(
            frame, boxes)
    x = normalize(frame[None], c["mean"], c["std"])  # [3, 1, H, W]
    top, left, h, w = rrc_params(frame.shape[0], frame.shape[1], c["rrc_scale"], c["rrc_ratio"])
    size = c["crop_size"]
    x = resize(crop(x, top, left, h, w), size, size)
    if c["random_erasing"]:
        re = c["random_erasing"]
        x = RandomErasingClip(re.get("prob", 0.25), re.get("mode", "pixel"),
                              re.get("max_count", 1))(x)
    out_boxes = finalize_boxes(crop_resize_boxes(boxes, top, left, h, w, size),
                               c["min_box_size"])
    exists = (~torch.all(out_boxes == 0, dim=-1)).float()
    return {"image": x[:, 0].contiguous(), "boxes": out_boxes, "exists": exists,
            "contact": contact}
