"""The STRG head: region features on the I3D map, similarity and space-time graphs, GCN.

Two presets, one module (the parameter names are jd730/STRG's, so its checkpoints load):

* ``PAPER`` (default; Wang & Gupta, ECCV 2018, §3-4 and p9-10): RoIAlign at spatial scale
  1/16 (the 14×14 map has stride 16), 7×7 bins max-pooled to one vector per box; trainable φ/φ′;
  every GCN layer Z = G·X·W followed by LayerNorm and ReLU, 3 layers per branch, the last one
  zero-initialised; the space-time layer sums its forward and backward terms before the
  normalisation (Z = G_front X W_front + G_back X W_back); the two branches (similarity;
  space-time) are summed after their last layer; standard IoU.
* ``JD730`` (jd730/STRG @ 0df179c ``strg.py::STRG``, ``rgcn_models.py::RGCN``,
  ``module/gcn.py::GraphConvolution``, ``module/roi_graph.py``), reproducing
  ``strg_head_small.pt``: RoIAlign scale 1/8, average pooling of the bins (its module is named
  ``max_pool``), detached similarity graph (φ/φ′ never train), +1-pixel IoU, no LayerNorm,
  space-time layer ReLU(G_f X W_f) + ReLU(G_b X W_b), GCN init N(0, 0.001) with only
  ``st_gc3_back`` zero. jd730 adds the second ReLU *in place*, which current torch's autograd
  rejects; here the addition is out of place (same forward values), so it trains.

Shared by both: a 1×1×1 conv reducer (with bias) before both branches, global average pool +
dropout 0.3, node mean + dropout 0.5, classifier on [global, graph]; GCN weights are stored
(in, out) and applied as X·W; φ/φ′ are bias-free Linear layers; the similarity graph is the
row softmax of φ(X)·φ′(X)ᵀ (no scaling). RoIAlign is ``aligned=True`` with an adaptive
sampling ratio in both (jd730's settings; the paper does not state them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from .graphs import SpaceTimeGraphs, space_time_blocks

PAPER: dict[str, Any] = {
    "spatial_scale": 1 / 16, "roi_pool": "max", "iou_plus_one": False,
    "detach_similarity": False, "layer_norm": True, "init": "paper"}
JD730: dict[str, Any] = {
    "spatial_scale": 1 / 8, "roi_pool": "avg", "iou_plus_one": True,
    "detach_similarity": True, "layer_norm": False, "init": "jd730"}
PRESETS = {"paper": PAPER, "jd730": JD730}
#: "both": similarity + space-time (the "joint" model); the single-graph ablations of the
#: paper's Table 2a keep one branch (the other's weights stay, unused).
BRANCHES = ("both", "similarity", "space_time")


class GraphConvolution(nn.Module):
    """Z = A·(X·W), W stored (in, out), no bias (jd730 ``GraphConvolution(bias=False)``)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        bound = 1 / math.sqrt(out_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return adj @ (x @ self.weight)


class RegionGraphGCN(nn.Module):
    """jd730's ``RGCN`` (attribute ``strg_gcn``): similarity and space-time branches."""

    LAYERS = 3

    def __init__(self, width: int, layer_norm: bool, detach_similarity: bool, init: str,
                 dropout: float = 0.5):
        super().__init__()
        self.layer_norm, self.detach_similarity = layer_norm, detach_similarity
        self.sim_embed1 = nn.Linear(width, width, bias=False)
        self.sim_embed2 = nn.Linear(width, width, bias=False)
        for k in range(1, self.LAYERS + 1):
            setattr(self, f"st_gc{k}", GraphConvolution(width, width))
        for k in range(1, self.LAYERS + 1):
            setattr(self, f"st_gc{k}_back", GraphConvolution(width, width))
        for k in range(1, self.LAYERS + 1):
            setattr(self, f"sim_gc{k}", GraphConvolution(width, width))
        if layer_norm:
            for k in range(1, self.LAYERS + 1):
                setattr(self, f"st_ln{k}", nn.LayerNorm(width))
                setattr(self, f"sim_ln{k}", nn.LayerNorm(width))
        self.dropout = nn.Dropout(dropout)
        self._init(init)

    def _init(self, init: str) -> None:
        last = {"jd730": ("st_gc3_back",),  # rgcn_models.py::init_weight
                "paper": ("st_gc3", "st_gc3_back", "sim_gc3")}[init]  # p10: last layer zero
        for name, module in self.named_children():
            if isinstance(module, GraphConvolution):
                if name in last:
                    nn.init.zeros_(module.weight)
                else:
                    nn.init.normal_(module.weight, 0.0, 0.001)

    def similarity_graph(self, x: torch.Tensor) -> torch.Tensor:
        graph = torch.softmax(self.sim_embed1(x) @ self.sim_embed2(x).transpose(1, 2), dim=-1)
        return graph.detach() if self.detach_similarity else graph

    def _act(self, z: torch.Tensor, branch: str, k: int) -> torch.Tensor:
        if self.layer_norm:
            z = getattr(self, f"{branch}_ln{k}")(z)
        return F.relu(z)

    def sim_branch(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        for k in range(1, self.LAYERS + 1):
            x = self._act(getattr(self, f"sim_gc{k}")(x, graph), "sim", k)
        return x

    def st_branch(self, x: torch.Tensor, graphs: SpaceTimeGraphs) -> torch.Tensor:
        for k in range(1, self.LAYERS + 1):  # G·(X·W) with G's non-zero blocks only
            f = graphs.propagate_front(x @ getattr(self, f"st_gc{k}").weight)
            b = graphs.propagate_back(x @ getattr(self, f"st_gc{k}_back").weight)
            if self.layer_norm:  # paper: one layer Z = G_f X W_f + G_b X W_b, then LN, ReLU
                x = self._act(f + b, "st", k)
            else:  # jd730: ReLU per direction, then the sum (out of place)
                x = F.relu(f) + F.relu(b)
        return x


class STRGHead(nn.Module):
    """Head on a backbone map (B, C, T, H, W) and boxes (B, T, boxes_per_frame, 4) in input
    pixels (x1, y1, x2, y2), one box frame per feature frame."""

    def __init__(self, in_channels: int = 2048, width: int = 512, num_classes: int = 174,
                 preset: str = "paper", global_dropout: float = 0.3,
                 graph_dropout: float = 0.5, roi_size: int = 7,
                 options: Mapping[str, Any] | None = None, branches: str = "both"):
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r}: choose one of {sorted(PRESETS)}")
        opts = {**PRESETS[preset], **(options or {})}
        if opts["roi_pool"] not in ("max", "avg"):
            raise ValueError(f"roi_pool {opts['roi_pool']!r}: 'max' or 'avg'")
        if branches not in BRANCHES:
            raise ValueError(f"branches {branches!r}: choose one of {BRANCHES}")
        self.options = opts
        self.branches = branches  # Charades Table 2a rows: one graph alone
        self.roi_size = roi_size
        self.reducer = nn.Conv3d(in_channels, width, 1)
        self.classifier = nn.Linear(2 * width, num_classes)
        self.global_dropout = nn.Dropout(global_dropout)
        self.strg_gcn = RegionGraphGCN(width, opts["layer_norm"], opts["detach_similarity"],
                                       opts["init"], graph_dropout)

    def node_features(self, reduced: torch.Tensor, rois: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """RoIAlign on each feature frame, pooled over the bins: (B, T, N, C) and the raw
        (B·T·N, C, 7, 7) RoIAlign output."""
        b, c, t, h, w = reduced.shape
        if rois.shape[:2] != (b, t):
            raise ValueError(f"boxes {tuple(rois.shape)} do not match {t} feature frames of "
                             f"a batch of {b}")
        n = rois.shape[2]
        frames = reduced.transpose(1, 2).reshape(b * t, c, h, w)
        index = torch.arange(b * t, device=rois.device, dtype=rois.dtype)
        boxes = torch.cat([index.repeat_interleave(n)[:, None], rois.reshape(-1, 4)], 1)
        aligned = roi_align(frames, boxes.to(frames.dtype), self.roi_size,
                            self.options["spatial_scale"], -1, True)
        pooled = aligned.amax((2, 3)) if self.options["roi_pool"] == "max" \
            else aligned.mean((2, 3))
        return pooled.view(b, t, n, c), aligned

    def explain(self, features: torch.Tensor, rois: torch.Tensor, dense_graphs: bool = False
                ) -> dict[str, torch.Tensor]:
        """Every intermediate (the names of ``strg_head_small.pt``'s outputs) and the logits;
        the dense (B, T·N, T·N) IoU graphs only when ``dense_graphs``."""
        out: dict[str, torch.Tensor] = {}
        reduced = out["reduced_features"] = self.reducer(features)
        out["pooled_features"] = reduced.mean((2, 3, 4))
        nodes, out["roi_align_output"] = self.node_features(reduced, rois)
        out["node_features"] = nodes
        b, t, n, c = nodes.shape
        x = nodes.reshape(b, t * n, c)
        gcn = self.strg_gcn
        parts = []
        if self.branches != "similarity" or dense_graphs:
            graphs = space_time_blocks(rois.to(x.dtype), self.options["iou_plus_one"])
            if dense_graphs:
                out["front_graph"], out["back_graph"] = graphs.dense()
        if self.branches != "space_time":
            sim = out["similarity_graph"] = gcn.similarity_graph(x)
            out["sim_branch"] = gcn.sim_branch(x, sim)
            parts.append(out["sim_branch"])
        if self.branches != "similarity":
            out["st_branch"] = gcn.st_branch(x, graphs)
            parts.append(out["st_branch"])
        summed = parts[0] + parts[1] if len(parts) == 2 else parts[0]
        out["gcn_features"] = gcn.dropout(summed.mean(1))
        out["classifier_input"] = torch.cat(
            [self.global_dropout(out["pooled_features"]), out["gcn_features"]], -1)
        out["logits"] = self.classifier(out["classifier_input"])
        return out

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return self.explain(features, rois)["logits"]
