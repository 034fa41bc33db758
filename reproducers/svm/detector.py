"""The SVM detector: S-ViT backbone + mmdet's YOLOX PAFPN neck and 1-class YOLOX head.

Reproduces the ``detector`` of yuzhms/Streaming-Video-Model ``configs/mot/svm/svm_base.py``
/ ``svm_test.py`` (mmdet 2.26 ``YOLOX``): the neck and head are mmdet 3.3's ``YOLOXPAFPN`` and
``YOLOXHead``, whose parameter names and numbers equal mmdet 2.26's (golden README, SVM), with
SimOTA (center radius 2.5), sigmoid BCE for class and objectness (sum), IoU loss in square mode
(sum, weight 5) and no L1 loss (``YOLOXModeSwitchHook`` is commented out in the config).
Test time: score cls x obj >= 0.01, NMS IoU 0.7, no cap on the number of boxes.

Multi-scale training is mmdet 2.26 ``YOLOX._preprocess``/``_random_resize``: every
``random_size_interval`` forward calls (= the clip length, so both frames of a clip share a
size) rank 0 draws s in ``random_size_range`` and broadcasts it; the batch is resized
bilinearly to (32 s, 32 int(aspect s)) relative to ``input_size`` and the boxes scaled alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import SViT, SViTConfig
from .extra import require


def _mmdet():
    """Import mmdet's YOLOX pieces (and register its task utilities: SimOTA, the losses)."""
    require()  # the svm extra, or a one-line UserError naming the install command
    from mmdet.models.dense_heads import YOLOXHead
    from mmdet.models.necks import YOLOXPAFPN
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return YOLOXPAFPN, YOLOXHead


@dataclass(frozen=True)
class DetectorConfig:
    """Defaults: the official full size (neck [384, 768, 1536] -> 256, 4 CSP blocks)."""

    neck_in: tuple[int, ...] = (384, 768, 1536)
    neck_out: int = 256
    csp_blocks: int = 4
    num_classes: int = 1
    head_feat: int = 256
    input_size: tuple[int, int] = (800, 1440)  # (H, W)
    random_size_range: tuple[int, int] = (18, 32)
    random_size_interval: int = 2  # = num_frames of svm_base.py
    size_multiplier: int = 32
    score_thr: float = 0.01
    nms_iou: float = 0.7
    center_radius: float = 2.5


@contextmanager
def _quiet_mmengine():
    """mmengine logs every initialised tensor at INFO; keep warnings only."""
    import logging

    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _bn():
    # SyncBN (momentum 0.03, eps 0.001) in the official config; plain BN here, converted to
    # SyncBatchNorm by the training task when it runs distributed.
    return dict(type="BN", momentum=0.03, eps=0.001)


class YOLOXDetector(nn.Module):
    """``backbone`` / ``neck`` / ``bbox_head`` as in the official checkpoint."""

    def __init__(self, backbone: SViT, cfg: DetectorConfig = DetectorConfig()):
        super().__init__()
        YOLOXPAFPN, YOLOXHead = _mmdet()
        self.cfg = cfg
        self.backbone = backbone
        self.neck = YOLOXPAFPN(in_channels=list(cfg.neck_in), out_channels=cfg.neck_out,
                               num_csp_blocks=cfg.csp_blocks, norm_cfg=_bn(),
                               act_cfg=dict(type="Swish"))
        from mmengine.config import ConfigDict

        self.bbox_head = YOLOXHead(
            num_classes=cfg.num_classes, in_channels=cfg.neck_out, feat_channels=cfg.head_feat,
            norm_cfg=_bn(), act_cfg=dict(type="Swish"),
            train_cfg=ConfigDict(assigner=dict(type="SimOTAAssigner",
                                               center_radius=cfg.center_radius)),
            test_cfg=ConfigDict(score_thr=cfg.score_thr,
                                nms=dict(type="nms", iou_threshold=cfg.nms_iou)))
        with _quiet_mmengine():  # mmdet init (Kaiming-uniform a=sqrt(5), cls/obj bias -log(99))
            self.neck.init_weights()
            self.bbox_head.init_weights()
        self._input_size = tuple(cfg.input_size)
        self._progress_in_iter = 0

    # -- helpers ------------------------------------------------------------------------
    def heads(self, img: torch.Tensor):
        """Raw (cls_scores, bbox_preds, objectnesses) per level for one frame batch."""
        return self.bbox_head(self.neck(self.backbone(img)))

    def _random_resize(self, device) -> tuple[int, int]:
        lo, hi = self.cfg.random_size_range
        tensor = torch.zeros(2, dtype=torch.long, device=device)
        dist = torch.distributed
        rank0 = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
        if rank0:
            s = random.randint(lo, hi)
            aspect = self.cfg.input_size[1] / self.cfg.input_size[0]
            m = self.cfg.size_multiplier
            tensor[0], tensor[1] = m * s, m * int(aspect * s)
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(tensor, 0)
        return int(tensor[0]), int(tensor[1])

    def _preprocess(self, img: torch.Tensor, boxes: list[torch.Tensor]):
        sy = self._input_size[0] / self.cfg.input_size[0]
        sx = self._input_size[1] / self.cfg.input_size[1]
        if sx != 1 or sy != 1:
            img = F.interpolate(img, size=self._input_size, mode="bilinear", align_corners=False)
            scale = boxes[0].new_tensor([sx, sy, sx, sy]) if boxes else None
            boxes = [b * scale for b in boxes]
        return img, boxes

    # -- training -----------------------------------------------------------------------
    def loss(self, img: torch.Tensor, gt_bboxes: Sequence[torch.Tensor],
             gt_labels: Sequence[torch.Tensor], multiscale: bool = True) -> dict:
        """YOLOX losses of one frame batch (boxes xyxy in ``img`` pixels)."""
        from mmengine.structures import InstanceData

        boxes = list(gt_bboxes)
        if multiscale:
            img, boxes = self._preprocess(img, boxes)
        outs = self.heads(img)
        gts = [InstanceData(bboxes=b.float(), labels=lab.long())
               for b, lab in zip(boxes, gt_labels, strict=True)]
        metas = [{"img_shape": tuple(img.shape[-2:]), "pad_shape": tuple(img.shape[-2:])}
                 for _ in gts]
        with torch.autocast(img.device.type, enabled=False):  # official: force_fp32 losses
            outs = [[o.float() for o in level] for level in outs]
            losses = self.bbox_head.loss_by_feat(*outs, gts, metas)
        if multiscale:
            if (self._progress_in_iter + 1) % self.cfg.random_size_interval == 0:
                self._input_size = self._random_resize(img.device)
            self._progress_in_iter += 1
        return losses

    # -- inference ----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, img: torch.Tensor, scale_factors: Sequence[tuple[float, float]]):
        """[(boxes [n,4] xyxy in original pixels, scores [n])] per image, after NMS."""
        outs = self.heads(img)
        metas = [{"img_shape": tuple(img.shape[-2:]), "scale_factor": tuple(sf)}
                 for sf in scale_factors]
        with torch.autocast(img.device.type, enabled=False):
            outs = [[o.float() for o in level] for level in outs]
            results = self.bbox_head.predict_by_feat(*outs, batch_img_metas=metas,
                                                     cfg=self.bbox_head.test_cfg, rescale=True,
                                                     with_nms=True)
        return [(r.bboxes, r.scores) for r in results]


class SVM(nn.Module):
    """The tensors of the official ``ByteTrack`` model: everything under ``detector.``
    (the Kalman filter and the tracker have none; ``reproducers.common.tracking``)."""

    def __init__(self, backbone: SViTConfig | None = None,
                 detector: DetectorConfig | None = None):
        super().__init__()
        self.detector = YOLOXDetector(SViT(backbone or SViTConfig()), detector or DetectorConfig())

    @property
    def backbone(self) -> SViT:
        return self.detector.backbone

    def clear_memory(self) -> None:
        self.detector.backbone.clear_memory()

    def forward(self, img: torch.Tensor, gt_bboxes=None, gt_labels=None):
        """Training (boxes given): the YOLOX losses of this frame, streaming (the memory is
        kept). Otherwise one frame with a fresh memory through backbone, neck and head (raw
        maps): what profile and the FLOP count measure; tracking uses ``detector.predict``."""
        if gt_bboxes is not None:
            return self.detector.loss(img, gt_bboxes, gt_labels)
        self.clear_memory()
        return self.detector.heads(img)
