"""A tiny video paper for harness tests: Kinetics-format synthetic clips (left vs right motion),
the common VideoClipDataset, a small 3D conv net. Used to show that bad videos are survived,
counted in the run record and listed by the dataset check."""

from __future__ import annotations

import torch
from torch import nn

from reproducers.common.video import kinetics, synthetic
from reproducers.common.video.check import check_split
from reproducers.common.video.dataset import (
    DenseClipIndices,
    VideoClipDataset,
    collate_drop_bad,
    fingerprint,
)
from reproducers.common.video.loader import LoaderSpec, make_loader
from reproducers.common.video.transforms import build_clip_transform
from reproducers.harness.declarations import (
    DatasetSpec,
    ExpectedRow,
    ModelSpec,
    Paper,
    Protocol,
    Recipe,
    Reproduction,
    Task,
)

PAPER = Paper("fakevideo", "A Fake Video Paper", "TEST 2026", "0000.00001",
              "https://example.invalid/fakevideo", "fedcba9876543210")
LOADER = LoaderSpec(num_workers=2, pin_memory=False, persistent_workers=False,
                    prefetch_factor=2, drop_last=False)


def synthesize(root, config, seed):
    synthetic.write_kinetics_synthetic(root, n_per_class=config["n_per_class"], frames=16,
                                       size=32, seed=seed, classes=2)


def build(root, split, config, train, protocol=None):
    tr = build_clip_transform({"dataset": "k400", "crop_size": 32, "hflip_prob": 0.0,
                               "train_crop": "short_side_jitter", "jitter_scales": (32, 32)},
                              train=train)
    return VideoClipDataset.from_split(kinetics.build_split(root, split),
                                       index_fn=DenseClipIndices(8, 2), transform=tr,
                                       train=train, max_bad_fraction=config["max_bad_fraction"],
                                       views=(1, 1) if train else
                                       (protocol.temporal_clips, protocol.spatial_crops))


def check(root, split, config):
    return check_split(kinetics.build_split(root, split), workers=2)


class TinyNet(nn.Module):
    def __init__(self, classes: int = 2):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, (3, 5, 5), padding=(1, 2, 2))
        self.head = nn.Linear(8 * 8, classes)

    def forward(self, x):  # (B, C, T, H, W): keep time, pool space -> order-aware features
        h = torch.relu(self.conv(x)).mean(dim=(3, 4))
        return self.head(h.flatten(1))


def train(ctx):
    torch.manual_seed(ctx.seed)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), lr=ctx.recipe.lr)
    loader = make_loader(ctx.extras["datasets"]["train"], LOADER, 4, True, seed=ctx.seed,
                         collate_fn=collate_drop_bad)
    steps = 0
    for _ in range(ctx.recipe.epochs):
        for batch in loader:
            loss = nn.functional.cross_entropy(model(batch["frames"]), batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.output_dir / "model.pt"
    torch.save(model.state_dict(), path)
    return {"checkpoint": path, "steps": steps}


@torch.no_grad()
def evaluate(ctx, model, ds):
    loader = make_loader(ds, LOADER, 4, False, seed=0, collate_fn=collate_drop_bad)
    correct = total = 0
    for batch in loader:
        if batch["frames"] is None:
            continue
        correct += (model(batch["frames"]).argmax(1) == batch["label"]).sum().item()
        total += len(batch["label"])
    return {"metrics": {"acc@1": 100.0 * correct / max(total, 1)}, "eval_size": total}


def make(max_bad_fraction: float = 0.3) -> Reproduction:
    recipe = Recipe("adam", 3e-3, 0.0, 2, 4, 1, "none", "constant", seed=0)
    cfg = {"n_per_class": 4, "max_bad_fraction": max_bad_fraction}
    return Reproduction(
        name="fakevideo_k400", paper=PAPER,
        dataset=DatasetSpec("synthetic K400", "train", "val", {}, "<root>/annotations/*.csv",
                            "synthetic", build, synthesize, fingerprint, check=check),
        model=ModelSpec("tiny3d", TinyNet, {}, {}, lambda cfg, b: torch.randn(b, 3, 8, 32, 32)),
        recipe=recipe, smoke_recipe=recipe,
        protocol=Protocol("8 x 32^2", 1, 1, "argmax", "val"),
        task=Task(train, evaluate),
        expected=[ExpectedRow("fakevideo_k400", "acc@1", 0.0, "higher", 0.0, "smoke", "fake")],
        metrics=["acc@1"], smoke_data=cfg, data_config=cfg,
    )
