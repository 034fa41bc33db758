"""Region proposals: torchvision's Faster R-CNN ResNet-50 FPN RPN, computed once per dataset.

The paper (p7, p10) uses the RPN of a ResNet-50-FPN Faster R-CNN trained on MS-COCO,
class-agnostic, on every second input frame, offline. jd730/STRG @ 0df179c ``rpn.py`` wraps
torchvision's ``fasterrcnn_resnet50_fpn`` the same way (backbone + rpn, pre-NMS top 3K,
post-NMS top K), online. Here the weights come from a file the user supplies (torchvision's
COCO checkpoint, e.g. ``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``; only ``backbone.*`` and
``rpn.*`` are read), frames are RGB in [0, 1] normalised by the detector's own transform
(jd730 feeds the video-normalised clip without it, a quirk not kept), and the output keeps the
objectness of each box. ``prepare_store`` runs it over a split and writes the box store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import fasterrcnn_resnet50_fpn
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes

from reproducers.harness.errors import UserError

from .box_store import BoxStore, BoxStoreWriter


class ProposalNetwork(nn.Module):
    def __init__(self, boxes_per_frame: int = 10, pre_nms_top_n: int | None = None,
                 min_size: int = 800, max_size: int = 1333):
        super().__init__()
        det = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_size,
                                      max_size=max_size)
        self.transform, self.backbone, self.rpn = det.transform, det.backbone, det.rpn
        pre = pre_nms_top_n or 3 * boxes_per_frame  # jd730: 3K before NMS, K after
        self.rpn._pre_nms_top_n = {"training": pre, "testing": pre}
        self.rpn._post_nms_top_n = {"training": boxes_per_frame, "testing": boxes_per_frame}
        self.boxes_per_frame = boxes_per_frame
        self.eval()

    def load_coco(self, path: str | Path) -> dict:
        """``backbone.*`` and ``rpn.*`` of a torchvision Faster R-CNN R50-FPN state dict."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"RPN weights {path}: no such file; pass torchvision's COCO "
                            f"fasterrcnn_resnet50_fpn checkpoint")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise UserError(f"RPN weights {path}: unreadable ({e})") from e
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        wanted = {k: v for k, v in state.items() if k.startswith(("backbone.", "rpn."))} \
            if isinstance(state, dict) else {}
        own = {f"backbone.{k}" for k in self.backbone.state_dict()} | \
            {f"rpn.{k}" for k in self.rpn.state_dict()}
        missing = sorted(own - set(wanted))
        if missing:
            raise UserError(f"RPN weights {path}: missing {missing[:3]}{'...' if len(missing) > 3 else ''}"
                            f"; not a fasterrcnn_resnet50_fpn state dict")
        self.backbone.load_state_dict({k[9:]: v for k, v in wanted.items()
                                       if k.startswith("backbone.")})
        self.rpn.load_state_dict({k[4:]: v for k, v in wanted.items() if k.startswith("rpn.")})
        return {"file": str(path), "tensors": len(wanted)}

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``images`` (N, 3, H, W) RGB in [0, 1] -> per image (boxes (k, 4) in its pixels,
        objectness (k,)), k <= boxes_per_frame, best first."""
        sizes = [tuple(im.shape[-2:]) for im in images]
        batch, _ = self.transform(list(images))
        features = list(self.backbone(batch.tensors).values())
        objectness, deltas = self.rpn.head(features)
        anchors = self.rpn.anchor_generator(batch, features)
        per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = self.rpn.box_coder.decode(deltas, anchors).view(len(anchors), -1, 4)
        boxes, scores = self.rpn.filter_proposals(proposals, objectness, batch.image_sizes,
                                                  per_level)
        return [(resize_boxes(b, resized, size), s)
                for b, s, resized, size in zip(boxes, scores, batch.image_sizes, sizes,
                                               strict=True)]


def box_frames(num_frames: int, step: int = 2, first: int = 0) -> list[int]:
    """0-based frames that get boxes: first, first + step, ... (every second by default)."""
    return list(range(first, num_frames, step))


def prepare_store(videos: Iterable[tuple[str, int, Callable[[Sequence[int]], np.ndarray]]],
                  network: ProposalNetwork, *, frame_step: int = 2, batch_size: int = 8,
                  device: str = "cpu", log=print) -> tuple[BoxStore, dict]:
    """Proposals for every video: ``videos`` yields (video id, frame count, read(indices) ->
    uint8 (n, H, W, 3) RGB frames). Returns the store (frame numbers 0-based positions) and
    {"frames", "seconds", "frames_per_s", **store.stats()}."""
    network.to(device)
    writer = BoxStoreWriter(network.boxes_per_frame, frame_step)
    frames_done, start = 0, time.perf_counter()
    for video_id, num_frames, read in videos:
        wanted = box_frames(num_frames, frame_step)
        boxes, scores, size = [], [], None
        for lo in range(0, len(wanted), batch_size):
            chunk = read(wanted[lo:lo + batch_size])
            size = chunk.shape[1:3]
            images = torch.from_numpy(chunk).to(device).permute(0, 3, 1, 2).float() / 255
            for b, s in network(images):
                boxes.append(b.cpu())
                scores.append(s.cpu())
        if size is None:
            raise UserError(f"video {video_id}: no frames to run the RPN on")
        writer.add(video_id, (int(size[0]), int(size[1])), wanted, boxes, scores)
        frames_done += len(wanted)
    seconds = time.perf_counter() - start
    store = writer.finish()
    stats = {"frames": frames_done, "seconds": seconds,
             "frames_per_s": frames_done / seconds if seconds > 0 else None, **store.stats()}
    log(f"proposals: {frames_done} frames in {seconds:.1f} s "
        f"({stats['frames_per_s']:.2f} frames/s), {stats['padded_boxes']} padded boxes")
    return store, stats


class OnlineProposals(nn.Module):
    """jd730's online mode (``training.py``/``validation.py`` with ``--strg``): the RPN runs
    inside every iteration, under no_grad and always in eval mode, on every ``step``-th frame
    of the clip, and its boxes go straight to the STRG model. jd730 crashes when a frame has
    fewer than K boxes; here such frames are padded by the store's rule (whole-frame boxes)
    and counted in ``padded_boxes``. ``unnormalise`` maps the clip back to [0, 1] RGB first
    (jd730 skips this, so its RPN sees the video-normalised clip: pass ``None`` to keep that
    quirk)."""

    def __init__(self, rpn: ProposalNetwork, strg: nn.Module, step: int = 2,
                 unnormalise: tuple[tuple[float, ...], tuple[float, ...]] | None = (
                     (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        super().__init__()
        self.rpn, self.strg, self.step, self.unnormalise = rpn, strg, step, unnormalise
        self.padded_boxes = 0
        self.box_frames = 0  # frames the RPN ran on

    def boxes(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) normalised clip -> (B, T / step, K, 4) boxes in its pixels."""
        from .box_store import pad_frame

        b, _, _, h, w = clip.shape
        frames = clip[:, :, ::self.step].transpose(1, 2).flatten(0, 1)  # (B·T', 3, H, W)
        if self.unnormalise is not None:
            mean, std = (torch.tensor(v, device=clip.device).view(1, 3, 1, 1)
                         for v in self.unnormalise)
            frames = (frames * std + mean).clamp(0, 1)
        self.rpn.eval()
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        out = []
        for boxes, scores in self.rpn(frames):
            padded, _, n = pad_frame(boxes.cpu() / scale, scores.cpu(), self.rpn.boxes_per_frame)
            self.padded_boxes += self.rpn.boxes_per_frame - n
            self.box_frames += 1
            out.append(padded * scale)
        return torch.stack(out).view(b, -1, self.rpn.boxes_per_frame, 4).to(clip)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.strg(clip, self.boxes(clip))
