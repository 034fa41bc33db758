"""The STRG paper's I3D ResNet (Table 1), with jd730/STRG's parameter names.

Paper, Table 1 (R50 I3D, 32×224² input): conv1 5×7×7 stride (1,2,2); pool1 1×3×3 stride
(1,2,2); res2; pool2 3×1×1 stride (2,1,1); res3, res4 (spatial stride 2 in their first block);
res5 without spatial stride; every bottleneck [3×1×1, 1×3×3, 1×1×1]; output 2048×16×14×14.
jd730/STRG @ 0df179c ``models/resnet_strg.py`` (``ResNet``, ``Bottleneck``, shortcut B) builds
exactly this, so its names and order are kept (``conv1``, ``bn1``, ``layer{1..4}.{i}.conv{1,2,3}``,
``.bn{1,2,3}``, ``.downsample.{0,1}``, ``fc``): 320 state-dict entries at depth 50, and its
checkpoints load strictly. Init as jd730: convs kaiming-normal (fan_out, ReLU), BN 1/0.

Options beyond jd730: ``inflation="alternating"``, the Non-local code's I3D (video-nonlocal-net
``obtain_arc``: the first conv is 3×1×1 only in blocks res2 [1,1,1], res3 [1,0,1,0], res4
[1,0,1,0,1,0], res5 [0,1,0], 1×1×1 elsewhere; for R101's 23 res4 blocks every other one from
the first, its ``arc_type`` 4). It is the network the paper's cost figures describe, hence the
paper rows' default (``flops.py`` has the evidence): 153.04 GMACs (the profile's count, BN
included) and 28.04 M parameters (400 classes) at 32×224², against the paper's 153 G and TSM's
reprinted 28.0 M, whereas Table 1's literal 3×1×1 in every block gives 171.13 GMACs and
33.02 M. jd730's rows keep ``every`` (its code).
ResNet-101 (the Charades R101 rows), non-local blocks (``nonlocal_blocks``:
stage -> block indices; a block's non-local module runs on its output and is stored as
``layer{L}.{i}.nonlocal_block.*``), dropout before ``fc`` (the paper's 0.3 on the global pool).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .nonlocal_block import NonLocalBlock3d

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4

#: Blocks whose first conv is 3×1×1 under ``inflation="alternating"`` (Non-local I3D R50).
ALTERNATING = {"layer1": (1, 1, 1), "layer2": (1, 0, 1, 0), "layer3": (1, 0, 1, 0, 1, 0),
               "layer4": (0, 1, 0)}
INFLATIONS = ("every", "alternating")

#: The Non-local paper's 5-block placement for R50 (2 in res3, 3 in res4, every other block:
#: after blocks 1, 3 of res3 and 1, 3, 5 of res4). STRG does not state its placement or count.
NONLOCAL_R50: dict[str, tuple[int, ...]] = {"layer2": (1, 3), "layer3": (1, 3, 5)}
#: R101 in the Non-local code (video-nonlocal-net ``resnet_video.py``: res3 every 2nd block,
#: res4 ``layer_mod`` 2 * 4 - 1 = 7, i.e. after blocks 6, 13, 20 of 23): 5 blocks again.
NONLOCAL_R101: dict[str, tuple[int, ...]] = {"layer2": (1, 3), "layer3": (6, 13, 20)}


class Bottleneck(nn.Module):
    """[3×1×1, 1×3×3 (carries the stride), 1×1×1 ×4], shortcut B; jd730 ``Bottleneck``."""

    def __init__(self, in_planes: int, planes: int, stride=1, downsample: nn.Module | None = None,
                 nonlocal_block: bool = False, temporal: bool = True):
        super().__init__()
        kt = 3 if temporal else 1
        self.conv1 = nn.Conv3d(in_planes, planes, (kt, 1, 1), padding=(kt // 2, 0, 0),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=stride, padding=(0, 1, 1),
                               bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * EXPANSION, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        if nonlocal_block:
            self.nonlocal_block = NonLocalBlock3d(planes * EXPANSION)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(out + shortcut)
        if hasattr(self, "nonlocal_block"):
            out = self.nonlocal_block(out)
        return out


class I3DResNet(nn.Module):
    def __init__(self, depth: int = 50, num_classes: int = 174, widen_factor: float = 1.0,
                 conv1_t_size: int = 5, conv1_t_stride: int = 1,
                 nonlocal_blocks: Mapping[str, Sequence[int]] | None = None,
                 dropout: float = 0.0, in_channels: int = 3, inflation: str = "every",
                 freeze_bn: bool = False):
        super().__init__()
        self.freeze_bn = freeze_bn  # BN kept frozen in training mode (see freeze_batchnorm)
        if depth not in BLOCKS:
            raise ValueError(f"depth {depth}: only {sorted(BLOCKS)} are defined")
        if inflation not in INFLATIONS:
            raise ValueError(f"inflation {inflation!r}: choose one of {INFLATIONS}")
        self.inflation = inflation
        widths = [int(w * widen_factor) for w in WIDTHS]
        nonlocal_blocks = dict(nonlocal_blocks or {})
        unknown = set(nonlocal_blocks) - {f"layer{i}" for i in range(1, 5)}
        if unknown:
            raise ValueError(f"nonlocal_blocks: unknown stages {sorted(unknown)}")
        self.in_planes = widths[0]
        self.conv1 = nn.Conv3d(in_channels, widths[0], (conv1_t_size, 7, 7),
                               stride=(conv1_t_stride, 2, 2), padding=(conv1_t_size // 2, 3, 3),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool1 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.maxpool2 = nn.MaxPool3d((3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        strides = (1, (1, 2, 2), (1, 2, 2), 1)
        stages = zip(widths, BLOCKS[depth], strides, strict=True)
        for i, (planes, blocks, stride) in enumerate(stages, 1):
            name = f"layer{i}"
            nl = set(nonlocal_blocks.get(name, ()))
            if any(not 0 <= b < blocks for b in nl):
                raise ValueError(f"nonlocal_blocks[{name!r}]: indices must be in [0, {blocks})")
            if inflation == "every":
                temporal = [True] * blocks
            elif depth == 50:
                temporal = [bool(f) for f in ALTERNATING[name]]
            else:  # R101: the R50 flags, res4 alternating over its 23 blocks
                temporal = [i % 2 == 0 for i in range(blocks)] if name == "layer3" else \
                    [bool(f) for f in ALTERNATING[name]]
            setattr(self, name, self._make_layer(planes, blocks, stride, nl, temporal))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[3] * EXPANSION, num_classes)
        own_init = {id(m) for nl in self.modules() if isinstance(nl, NonLocalBlock3d)
                    for m in nl.modules()}  # non-local blocks keep their own init
        for m in self.modules():
            if id(m) in own_init:
                continue
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride, nonlocal_at: set[int],
                    temporal: list[bool]):
        downsample = None
        if stride != 1 or self.in_planes != planes * EXPANSION:
            downsample = nn.Sequential(
                nn.Conv3d(self.in_planes, planes * EXPANSION, 1, stride=stride, bias=False),
                nn.BatchNorm3d(planes * EXPANSION))
        layers = [Bottleneck(self.in_planes, planes, stride, downsample, 0 in nonlocal_at,
                             temporal[0])]
        self.in_planes = planes * EXPANSION
        layers += [Bottleneck(self.in_planes, planes, nonlocal_block=i in nonlocal_at,
                              temporal=temporal[i]) for i in range(1, blocks)]
        return nn.Sequential(*layers)

    def train(self, mode: bool = True) -> I3DResNet:
        super().train(mode)
        if mode and self.freeze_bn:
            freeze_batchnorm(self)
        return self

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's map: stem (after pool1), layer1, after_maxpool2, layer2..4."""
        out = {}
        x = out["stem"] = self.maxpool1(self.relu(self.bn1(self.conv1(x))))
        x = out["layer1"] = self.layer1(x)
        x = out["after_maxpool2"] = self.maxpool2(x)
        x = out["layer2"] = self.layer2(x)
        x = out["layer3"] = self.layer3(x)
        out["layer4"] = self.layer4(x)
        return out

    def extract_feature(self, x: torch.Tensor) -> torch.Tensor:
        """The res5 map (B, 2048, T/2, H/16, W/16) the STRG head consumes."""
        x = self.maxpool1(self.relu(self.bn1(self.conv1(x))))
        x = self.maxpool2(self.layer1(x))
        return self.layer4(self.layer3(self.layer2(x)))

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        return self.avgpool(features).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.extract_feature(x))))


def build_i3d(depth: int = 50, num_classes: int = 174, widen_factor: float = 1.0,
              conv1_t_size: int = 5, nonlocal_blocks: Mapping[str, Sequence[int]] | str | None
              = None, dropout: float = 0.0, inflation: str = "every") -> I3DResNet:
    """``nonlocal_blocks="nonlocal_paper"`` selects the Non-local code's 5 blocks for the depth
    (``NONLOCAL_R50`` / ``NONLOCAL_R101``); STRG states neither."""
    if nonlocal_blocks == "nonlocal_paper":
        nonlocal_blocks = NONLOCAL_R101 if depth == 101 else NONLOCAL_R50
    elif isinstance(nonlocal_blocks, str):
        raise ValueError(f"nonlocal_blocks={nonlocal_blocks!r}: use 'nonlocal_paper' or a map")
    return I3DResNet(depth, num_classes, widen_factor, conv1_t_size,
                     nonlocal_blocks=nonlocal_blocks, dropout=dropout, inflation=inflation)


def freeze_batchnorm(module: nn.Module) -> None:
    """BN frozen as in the paper ("BN frozen") and jd730 (``freeze_bn`` / ``STRG.train``):
    running statistics used in training mode, affine parameters not trained. Call after
    every ``.train()``."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            if m.weight is not None:
                m.weight.requires_grad_(False)
                m.bias.requires_grad_(False)
