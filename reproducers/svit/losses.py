"""SViT training losses: the HAOG image terms, their weights and the frame-clip consistency.

Reproduces eladb3/SViT @ bf0ab3e (official files read for facts only):

- ``image_losses``: ``slowfast/models/losses.py`` ``boxes_loss_`` and
  ``VideoImageLoss._haog_loss``. The existence target is "GT box not all zeros" (4-dim targets);
  ``boxes_bce_loss`` is BCE-with-logits averaged over all B*T*O slots; ``boxes_l1_loss`` is the
  L1 over the existing slots' (cx, cy, w, h), mean over elements; ``boxes_giou_loss`` the mean
  of 1 - GIoU over the existing slots after cxcywh -> xyxy (here torchvision's
  ``generalized_box_iou_loss``, which adds eps 1e-7 to its denominators); with no existing box
  in the batch both are 0. ``loss_contact_state`` is the mean cross-entropy over the hand tokens
  whose target is >= 0 (targets < 0 masked out), 0 when none is left. The official zeros are
  fresh leaf tensors; here they are 0 x the predictions (same value, zero gradient, graph kept).
  Predictions come from the model's ``existence_logits``, ``pred_bboxes[..., 1:]`` and
  ``contact_logits``, which equal the official ``pred_bboxes[..., 0]`` /
  ``pred_contact_state`` in train mode and stay logits in eval mode.
- ``image_loss_weights`` / ``weighted_image_loss``: ``slowfast/utils/misc.py get_lambdas_dict``
  (L1 5 x LAMBDA_NODES, BCE 1 x, GIoU 2 x, contact LAMBDA_EDGES) summed as
  ``tools/train_net.py`` sums ``wloss[k] * loss_dict[k]``; configs/ssv2.yaml sets
  LAMBDA_NODES 3.7 and LAMBDA_EDGES 0.3 (18.5, 3.7, 7.4, 0.3).
- ``consistency_loss``: ``VideoImageLoss._consistency_loss``: the frame pass's ``obj_desc``
  reshaped to the clip's [B, T, O, C] and detached; ``l1`` = ``video_image_desc_l1_loss``
  (F.l1_loss, mean), ``l2`` = ``video_image_desc_l2_loss`` (F.mse_loss, mean). In the released
  code it never runs (``get_lambdas_dict`` registers ``video_image_boxes_l1_loss`` instead).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, generalized_box_iou_loss

IMAGE_TERMS = ("boxes_l1_loss", "boxes_bce_loss", "boxes_giou_loss", "loss_contact_state")


def _need(d: Mapping, key: str, shape_hint: str, where: str) -> torch.Tensor:
    if key not in d:
        raise ValueError(f"{where}: missing '{key}' ({shape_hint})")
    return d[key]


def _check(t: torch.Tensor, ndim: int, last: tuple, name: str, hint: str) -> None:
    if t.ndim != ndim or tuple(t.shape[ndim - len(last):]) != last:
        raise ValueError(f"image_losses: '{name}' must be {hint}, got {tuple(t.shape)}")


def image_losses(extra: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]
                 ) -> dict[str, torch.Tensor]:
    """The four official HAOG terms for an image batch.

    ``extra``: the SViT head dict (``pred_bboxes`` [B,T,4,5], ``existence_logits`` [B,T,4,1],
    ``contact_logits`` [B,T,2,5]). ``targets``: ``boxes`` cxcywh [B,4,4] or [B,T,4,4] (zero
    rows = absent), ``contact`` int [B,2] (< 0 ignored) and optionally ``exists`` [B,4] or
    [B,T,4], which must equal "box not all zeros".
    """
    where = "image_losses"
    pred = _need(extra, "pred_bboxes", "[B,T,4,5]", where)
    exist_logit = _need(extra, "existence_logits", "[B,T,4,1]", where)
    contact_logit = _need(extra, "contact_logits", "[B,T,2,5]", where)
    tar = _need(targets, "boxes", "[B,4,4] or [B,T,4,4] cxcywh", where)
    contact = _need(targets, "contact", "[B,2] int", where)
    _check(pred, 4, (4, 5), "pred_bboxes", "[B,T,4,5]")
    b, t = pred.shape[:2]
    _check(exist_logit, 4, (4, 1), "existence_logits", "[B,T,4,1]")
    _check(contact_logit, 4, (2, 5), "contact_logits", "[B,T,2,5]")
    if tar.ndim == 3:
        tar = tar.unsqueeze(1)
    if tuple(tar.shape) != (b, t, 4, 4):
        raise ValueError(f"{where}: target 'boxes' must be [B,4,4] or [B,T,4,4] matching "
                         f"pred_bboxes {tuple(pred.shape)}, got {tuple(targets['boxes'].shape)}")
    if tuple(exist_logit.shape[:2]) != (b, t) or tuple(contact_logit.shape[:2]) != (b, t):
        raise ValueError(f"{where}: existence_logits {tuple(exist_logit.shape)} and "
                         f"contact_logits {tuple(contact_logit.shape)} must share B, T with "
                         f"pred_bboxes {tuple(pred.shape)}")
    tar = tar.to(pred.dtype)
    mask = ~torch.all(tar == 0, dim=-1)  # [B, T, 4]
    if "exists" in targets:
        given = targets["exists"].reshape(-1)
        if given.numel() != mask.numel() or not torch.equal(given.to(mask.device) > 0.5,
                                                             mask.reshape(-1)):
            raise ValueError(f"{where}: 'exists' must equal 'box not all zeros' of the target "
                             f"boxes (official rule), got {targets['exists'].tolist()}")

    bce = F.binary_cross_entropy_with_logits(exist_logit[..., 0], mask.to(exist_logit.dtype))
    boxes = pred[..., 1:]
    if mask.any():
        src, dst = boxes[mask], tar[mask]
        l1 = F.l1_loss(src, dst)
        giou = generalized_box_iou_loss(box_convert(src, "cxcywh", "xyxy"),
                                        box_convert(dst, "cxcywh", "xyxy"), reduction="mean")
    else:
        l1 = giou = boxes.sum() * 0.0

    c_pred = contact_logit.flatten(0, 2)  # [B*T*2, 5]
    c_tar = contact.reshape(-1).to(device=c_pred.device, dtype=torch.long)
    if c_tar.numel() != c_pred.shape[0]:
        raise ValueError(f"{where}: 'contact' must hold B*T*2 = {c_pred.shape[0]} labels "
                         f"(shape [B,2] for T=1), got shape {tuple(contact.shape)}")
    keep = c_tar >= 0
    ce = F.cross_entropy(c_pred[keep], c_tar[keep]) if keep.any() else c_pred.sum() * 0.0
    return {"boxes_l1_loss": l1, "boxes_bce_loss": bce, "boxes_giou_loss": giou,
            "loss_contact_state": ce}


def image_loss_weights(lambda_nodes: float = 3.7, lambda_edges: float = 0.3
                       ) -> dict[str, float]:
    """``get_lambdas_dict``'s image terms (defaults: configs/ssv2.yaml)."""
    return {"boxes_l1_loss": 5 * lambda_nodes, "boxes_bce_loss": 1 * lambda_nodes,
            "boxes_giou_loss": 2 * lambda_nodes, "loss_contact_state": lambda_edges}


def weighted_image_loss(terms: Mapping[str, torch.Tensor], lambda_nodes: float = 3.7,
                        lambda_edges: float = 0.3) -> torch.Tensor:
    """Sum of weight x term over the four image terms (``train_net.py``'s total)."""
    missing = [k for k in IMAGE_TERMS if k not in terms]
    if missing:
        raise ValueError(f"weighted_image_loss: missing terms {missing}; expected "
                         f"{list(IMAGE_TERMS)} (from image_losses)")
    weights = image_loss_weights(lambda_nodes, lambda_edges)
    return sum(weights[k] * terms[k] for k in IMAGE_TERMS)


def consistency_loss(clip_obj: torch.Tensor, frame_obj: torch.Tensor, kind: str = "l1"
                     ) -> torch.Tensor:
    """Clip vs frame object tokens; the frame tokens are the (detached) target.

    ``clip_obj`` [B,T,O,C]; ``frame_obj`` [B,T,O,C] or the frame pass's [B*T,1,O,C] (reshaped
    to the clip's shape, as the official code does). ``kind``: "l1" or "l2" (mean reductions).
    """
    if kind not in ("l1", "l2"):
        raise ValueError(f"consistency_loss: kind must be 'l1' or 'l2', got {kind!r}")
    if clip_obj.ndim != 4:
        raise ValueError(f"consistency_loss: clip_obj must be [B,T,O,C], got "
                         f"{tuple(clip_obj.shape)}")
    b, t, o, c = clip_obj.shape
    if tuple(frame_obj.shape) not in ((b, t, o, c), (b * t, 1, o, c)):
        raise ValueError(f"consistency_loss: frame_obj must be [B,T,O,C] = {(b, t, o, c)} or "
                         f"[B*T,1,O,C] = {(b * t, 1, o, c)}, got {tuple(frame_obj.shape)}")
    target = frame_obj.reshape(clip_obj.shape).detach()
    fn = F.l1_loss if kind == "l1" else F.mse_loss
    return fn(clip_obj, target)
