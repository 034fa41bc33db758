"""Clip transforms: one random draw per clip, applied identically to every frame.

Frames arrive as uint8 numpy [T, H, W, 3] (RGB, from ``decode.read_frames``); the model gets a
float32 tensor [C, T, H, W]. Spatial functions accept either form (numpy uint8 in, numpy uint8
out; tensor in, tensor out). Randomness comes from Python's ``random`` module (or a
``random.Random`` passed as ``rng``) and NumPy's global generator for the RandAugment op
choice, which DataLoader seeds per worker (see ``loader.py``).

What each piece reproduces:

- ``short_side_scale`` / ``random_short_side_scale``: PySlowFast
  ``datasets/transform.py random_short_side_scale_jitter`` (size = round(U(min, max)) or
  1/U(1/max, 1/min) with ``inverse_uniform``; no-op when the short side already equals it;
  long side ``floor(long / short * size)``; bilinear, align_corners False).
- ``random_crop``: PySlowFast ``random_crop`` (offset ``randint(0, H - size)`` with NumPy's
  exclusive upper bound, so the last offset is never drawn).
- ``random_resized_crop``: PySlowFast ``random_resized_crop`` / ``_get_param_spatial_crop``
  (area U(scale), log-uniform aspect ratio, 10 tries, centre-crop fallback: the same rule as
  torchvision/timm ``RandomResizedCrop``), one box for all frames, bilinear resize.
  jd730/STRG resizes each PIL frame with PIL's bilinear filter instead (slightly different
  pixels, same box distribution).
- ``uniform_crop``: PySlowFast ``uniform_crop`` through ``samplers.spatial_crop_boxes`` (the 3
  test crops: offset 0, ceil((L - s) / 2), L - s along the longer side; centred on the other).
- ``horizontal_flip``: one decision per clip; refused by ``build_clip_transform`` for datasets
  whose ``DatasetVideoSpec.flip_allowed`` is False (Something-Something), unless the config
  sets ``flip_quirk`` to reproduce jd730/STRG's flip on SSv1.
- ``RandAugmentClip``: timm's ``rand_augment_transform`` ops; the op sequence is drawn once per
  clip and each op replays the same random state (apply-probability, magnitude noise, sign,
  interpolation) on every frame, as SViT's video RandAugment applies one op to the whole frame
  list (eladb3/SViT ``datasets/rand_augment.py AugmentOp.__call__``).
- ``RandomErasingClip``: timm ``RandomErasing`` on the clip viewed as one (C*T, H, W) image: one
  erase decision and one box for the whole clip, fill drawn per frame and channel. This is
  PySlowFast's ``cube=True`` random erasing (SViT ``AUG.RE_MODE pixel``); timm gives up after
  10 box tries where PySlowFast tries 100.
- ``VideoMixup``: timm ``Mixup`` on [B, C, T, H, W] viewed as [B, C*T, H, W], so CutMix cuts
  the same box from every frame (PySlowFast ``datasets/mixup.py``).
- ``normalize``: PySlowFast ``tensor_normalize`` (x / 255 - mean) / std; mean and std are given
  in the model's channel order. ``channel_order: bgr`` reverses the RGB frames first, as SViT's
  cv2 decode yields BGR before RandAugment.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from reproducers.common.video.formats import DatasetVideoSpec, get_spec
from reproducers.common.video.samplers import spatial_crop_boxes
from reproducers.harness.errors import UserError

Clip = np.ndarray | torch.Tensor


# ---------------------------------------------------------------- layout helpers


def _to_cthw(x: Clip) -> tuple[torch.Tensor, bool]:
    """(float [C,T,H,W] tensor, was_numpy). numpy input must be uint8 [T,H,W,C]."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)).permute(3, 0, 1, 2).float(), True
    return x, False


def _back(x: torch.Tensor, was_numpy: bool) -> Clip:
    if not was_numpy:
        return x
    return x.round().clamp_(0, 255).to(torch.uint8).permute(1, 2, 3, 0).contiguous().numpy()


def _hw(x: Clip) -> tuple[int, int]:
    return (x.shape[1], x.shape[2]) if isinstance(x, np.ndarray) else (x.shape[-2], x.shape[-1])


def crop(x: Clip, top: int, left: int, height: int, width: int) -> Clip:
    """The same window of every frame (numpy [T,H,W,C] or tensor [...,H,W])."""
    if isinstance(x, np.ndarray):
        return x[:, top:top + height, left:left + width]
    return x[..., top:top + height, left:left + width]


def resize(x: Clip, height: int, width: int) -> Clip:
    """Bilinear resize (align_corners False) of every frame."""
    t, was_numpy = _to_cthw(x)
    t = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)
    return _back(t, was_numpy)


# ---------------------------------------------------------------- spatial transforms


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(new_h, new_w) with the short side ``size`` and the long side floored (PySlowFast)."""
    if width < height:
        return int(math.floor((float(height) / width) * size)), size
    return size, int(math.floor((float(width) / height) * size))


def short_side_scale(x: Clip, size: int) -> Clip:
    h, w = _hw(x)
    if (w <= h and w == size) or (h <= w and h == size):
        return x
    return resize(x, *short_side_size(h, w, size))


def random_short_side_scale(x: Clip, min_size: int, max_size: int, *,
                            inverse_uniform: bool = False,
                            rng: random.Random | None = None) -> Clip:
    rng = rng or random
    if inverse_uniform:
        size = int(round(1.0 / rng.uniform(1.0 / max_size, 1.0 / min_size)))
    else:
        size = int(round(rng.uniform(min_size, max_size)))
    return short_side_scale(x, size)


def random_crop(x: Clip, size: int, rng: random.Random | None = None) -> Clip:
    rng = rng or random
    h, w = _hw(x)
    top = rng.randrange(0, h - size) if h > size else 0
    left = rng.randrange(0, w - size) if w > size else 0
    return crop(x, top, left, size, size)


def rrc_params(height: int, width: int, scale: Sequence[float], ratio: Sequence[float],
               rng: random.Random | None = None, max_iter: int = 10) -> tuple[int, int, int, int]:
    """(top, left, h, w) of an Inception-style crop (PySlowFast ``_get_param_spatial_crop``)."""
    rng = rng or random
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(max_iter):
        target_area = rng.uniform(*scale) * area
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(x: Clip, size: int, scale: Sequence[float] = (0.08, 1.0),
                        ratio: Sequence[float] = (3 / 4, 4 / 3),
                        rng: random.Random | None = None) -> Clip:
    top, left, h, w = rrc_params(*_hw(x), scale, ratio, rng)
    return resize(crop(x, top, left, h, w), size, size)


def uniform_crop(x: Clip, size: int, spatial_idx: int) -> Clip:
    """Test crop ``spatial_idx`` (0, 1, 2) via ``samplers.spatial_crop_boxes`` (PySlowFast)."""
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial_idx must be 0, 1 or 2, got {spatial_idx}")
    box = spatial_crop_boxes(*_hw(x), size, 3)[spatial_idx]
    return crop(x, box.top, box.left, box.size, box.size)


def horizontal_flip(x: Clip, prob: float, rng: random.Random | None = None) -> Clip:
    if (rng or random).random() < prob:
        return x[:, :, ::-1].copy() if isinstance(x, np.ndarray) else x.flip(-1)
    return x


def reverse_channels(frames: np.ndarray) -> np.ndarray:
    """RGB <-> BGR of uint8 [T, H, W, 3] frames."""
    return np.ascontiguousarray(frames[..., ::-1])


def normalize(frames: Clip, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [T,H,W,C] (or 0..255 float [C,T,H,W]) -> float [C,T,H,W], (x/255 - mean) / std."""
    t, _ = _to_cthw(frames)
    m = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1, 1)
    return ((t / 255.0) - m) / s


# ---------------------------------------------------------------- timm-backed augmentations


def _posterize(img: Image.Image, bits_to_keep: int, **_) -> Image.Image:
    """timm's posterize, keeping 0 bits (a black image) instead of raising.

    At magnitude 10 (e.g. K-center's ``rand-m20``, clipped to 10) "PosterizeIncreasing" keeps
    4 - 4 = 0 bits. The Pillow of the official code masked every pixel to 0; current Pillow
    raises ValueError for bits < 1.
    """
    from PIL import ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep < 1:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


class RandAugmentClip:
    """timm RandAugment with one op sequence per clip, applied identically to every frame.

    ``hparams`` are timm's (``img_mean`` fill, ``interpolation``, ``translate_const``...);
    by default ``translate_const`` is 0.45 x the short side of the clip and
    ``interpolation`` bicubic, as PySlowFast's ``create_random_augment`` with SViT's
    ``AUG.INTERPOLATION``. ``last_ops`` holds the op names of the previous call.
    """

    def __init__(self, config_str: str, hparams: Mapping | None = None):
        from timm.data.auto_augment import rand_augment_transform

        self.config_str = config_str
        self.hparams = dict(hparams or {})
        self._factory = rand_augment_transform
        self._by_size: dict[tuple[int, int], object] = {}
        self.last_ops: list[str] = []
        self._for_size((224, 224))  # validate the config string now

    def _for_size(self, hw: tuple[int, int]):
        if hw not in self._by_size:
            from timm.data.transforms import str_to_pil_interp

            hp = {"translate_const": int(min(hw) * 0.45), "interpolation": "bicubic"}
            hp.update(self.hparams)
            if isinstance(hp.get("interpolation"), str):
                hp["interpolation"] = str_to_pil_interp(hp["interpolation"])
            if "img_mean" in hp:
                hp["img_mean"] = tuple(int(v) for v in hp["img_mean"])
            try:
                ra = self._factory(self.config_str, hp)
            except (AssertionError, ValueError, KeyError) as e:
                raise UserError(f"RandAugment config {self.config_str!r} is not valid for timm "
                                f"({e}); use e.g. 'rand-m7-n4-mstd0.5-inc1'") from None
            for op in ra.ops:  # our own instances: the global timm table is untouched
                if op.name.startswith("Posterize"):
                    op.aug_fn = _posterize
            self._by_size[hw] = ra
        return self._by_size[hw]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        ra = self._for_size(frames.shape[1:3])
        images = [Image.fromarray(f) for f in frames]
        ops = np.random.choice(ra.ops, ra.num_layers, replace=ra.choice_weights is None,
                               p=ra.choice_weights)
        self.last_ops = [op.name for op in ops]
        for op in ops:
            state = random.getstate()
            out = []
            for img in images:
                random.setstate(state)  # same draws for every frame
                out.append(op(img))
            images = out
        return np.stack([np.asarray(img) for img in images])


class RandomErasingClip:
    """timm RandomErasing over a whole clip [C, T, H, W] (one box for all frames; in place)."""

    def __init__(self, probability: float, mode: str = "pixel", max_count: int = 1,
                 min_area: float = 0.02, max_area: float = 1 / 3, min_aspect: float = 0.3):
        from timm.data.random_erasing import RandomErasing

        if mode not in ("const", "rand", "pixel"):
            raise UserError(f"random erasing mode {mode!r}: use const, rand or pixel")
        self.inner = RandomErasing(probability=probability, min_area=min_area,
                                   max_area=max_area, min_aspect=min_aspect, mode=mode,
                                   max_count=max_count, num_splits=0, device="cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c, t, h, w = x.shape
        x = x.contiguous()
        self.inner(x.view(c * t, h, w))
        return x


class VideoMixup:
    """timm ``Mixup`` for video batches [B, C, T, H, W]; returns (mixed x, soft targets)."""

    def __init__(self, **kwargs):
        from timm.data import Mixup

        self.inner = Mixup(**kwargs)

    def __call__(self, x: torch.Tensor, target: torch.Tensor):
        b, c, t, h, w = x.shape
        x = x.contiguous()
        flat, target = self.inner(x.view(b, c * t, h, w), target)
        return flat.view(b, c, t, h, w), target


MIXUP_KEYS = ("mixup_alpha", "cutmix_alpha", "cutmix_minmax", "prob", "switch_prob", "mode",
              "label_smoothing")


def build_mixup(cfg: Mapping | None, num_classes: int) -> VideoMixup | None:
    """``VideoMixup`` when a recipe asks for it (timm ``Mixup`` arguments), else None.

    Example (PySlowFast's MIXUP defaults): {"mixup_alpha": 0.8, "cutmix_alpha": 1.0,
    "prob": 1.0, "switch_prob": 0.5, "label_smoothing": 0.1}. None or {} means no mixing.
    """
    if not cfg:
        return None
    unknown = sorted(set(cfg) - set(MIXUP_KEYS))
    if unknown:
        raise UserError(f"unknown mixup keys {unknown}: use {list(MIXUP_KEYS)}")
    return VideoMixup(num_classes=num_classes, **cfg)


# ---------------------------------------------------------------- the declared pipeline

DEFAULTS = {
    "dataset": None,  # DatasetVideoSpec name: decides whether a flip is allowed
    "channel_order": "rgb",  # what the model sees; frames arrive RGB
    "mean": (0.45, 0.45, 0.45),
    "std": (0.225, 0.225, 0.225),
    "crop_size": 224,
    # train
    "rand_augment": None,  # timm config string, e.g. "rand-m7-n4-mstd0.5-inc1"
    "rand_augment_hparams": None,
    "train_crop": "random_resized",  # or "short_side_jitter"
    "rrc_scale": (0.08, 1.0),
    "rrc_ratio": (3 / 4, 4 / 3),
    "jitter_scales": (256, 320),
    "inverse_uniform": False,
    "hflip_prob": 0.0,
    "flip_quirk": False,  # allow a flip on a dataset that forbids it (jd730/STRG on SSv1)
    "random_erasing": None,  # {"prob": 0.25, "mode": "pixel", "max_count": 1}
    # eval
    "test_scale": None,  # short side before the test crops; default crop_size
}


class ClipTransform:
    """``transform(frames uint8 [T,H,W,3], spatial_idx=None) -> float [C,T,H,W]``."""

    def __init__(self, cfg: Mapping, train: bool, spec: DatasetVideoSpec | None):
        self.cfg, self.train, self.spec = dict(cfg), train, spec
        c = self.cfg
        self.rand_augment = (RandAugmentClip(c["rand_augment"], c["rand_augment_hparams"])
                             if train and c["rand_augment"] else None)
        re = c["random_erasing"]
        self.erase = None
        if train and re:
            self.erase = RandomErasingClip(re.get("prob", 0.25), re.get("mode", "pixel"),
                                           re.get("max_count", 1))

    def __call__(self, frames: np.ndarray, spatial_idx: int | None = None) -> torch.Tensor:
        c = self.cfg
        if c["channel_order"] == "bgr":
            frames = reverse_channels(frames)
        if self.rand_augment is not None:
            frames = self.rand_augment(frames)
        x = normalize(frames, c["mean"], c["std"])
        size = c["crop_size"]
        if self.train:
            if c["train_crop"] == "random_resized":
                x = random_resized_crop(x, size, c["rrc_scale"], c["rrc_ratio"])
            else:
                x = random_short_side_scale(x, *c["jitter_scales"],
                                            inverse_uniform=c["inverse_uniform"])
                x = random_crop(x, size)
            if c["hflip_prob"] > 0:
                x = horizontal_flip(x, c["hflip_prob"])
            if self.erase is not None:
                x = self.erase(x)
            return x.contiguous()
        x = short_side_scale(x, c["test_scale"] or size)
        return uniform_crop(x, size, 1 if spatial_idx is None else spatial_idx).contiguous()


def build_clip_transform(cfg: Mapping, train: bool, spec: DatasetVideoSpec | None = None
                         ) -> ClipTransform:
    """The transform a recipe declares (keys and defaults in ``DEFAULTS``).

    A horizontal flip (``hflip_prob > 0``) needs a dataset that allows it: the dataset comes
    from ``spec`` or ``cfg["dataset"]``; Something-Something refuses it unless ``flip_quirk``.
    """
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise UserError(f"unknown clip transform keys {unknown}: use {sorted(DEFAULTS)}")
    full = {**DEFAULTS, **cfg}
    if spec is None and full["dataset"] is not None:
        spec = get_spec(full["dataset"])
    if full["channel_order"] not in ("rgb", "bgr"):
        raise UserError(f"channel_order {full['channel_order']!r}: use rgb or bgr")
    if full["train_crop"] not in ("random_resized", "short_side_jitter"):
        raise UserError(f"train_crop {full['train_crop']!r}: use random_resized or "
                        f"short_side_jitter")
    if len(full["mean"]) != 3 or len(full["std"]) != 3:
        raise UserError("mean and std need 3 values each, in the model's channel order")
    if train and full["hflip_prob"] > 0:
        if spec is None:
            raise UserError("hflip_prob > 0 needs the dataset declared (cfg 'dataset'): a "
                            "flip is only allowed where the labels do not name directions")
        if not spec.flip_allowed and not full["flip_quirk"]:
            raise UserError(f"horizontal flip refused for {spec.name}: its labels name left "
                            f"and right; set hflip_prob 0 (or flip_quirk true to reproduce a "
                            f"paper's flipped training on purpose)")
    return ClipTransform(full, train, spec)
