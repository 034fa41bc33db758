"""K-center loader: bytes per sample shipped to the model (uint8 frames, the default, and the
normalised float32 frames, against the official dense float32 grid of 32x14x14x771) and training clips per second on one core, at full size (short side
256 -> 224 crops), on synthetic clips in the official layouts (SSv2 JPEG frame folders,
Kinetics mp4). Run: pytest benchmarks/test_kcenter_loader.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from reproducers.kcenter.data import build_video
from reproducers.kcenter.synthetic import synthesize

OFFICIAL_GRID_BYTES = 32 * 14 * 14 * 771 * 4  # float32, what kcenter_video's loader ships


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("kcenter_loader")
    small = {"n_per_class": 1, "n_val_per_class": 1, "classes": 2, "size": 256}
    synthesize(base / "ssv2", {**small, "dataset": "ssv2"}, seed=0)
    synthesize(base / "k400", {**small, "dataset": "kinetics", "frames": 96}, seed=0)
    return {"ssv2": base / "ssv2", "kinetics": base / "k400"}


@pytest.mark.parametrize("ship", ["uint8", "float32"])
@pytest.mark.parametrize("dataset", ["ssv2", "kinetics"])
def test_kcenter_loader(benchmark, roots, dataset, ship):
    torch.set_num_threads(1)
    train = build_video(roots[dataset], "train", {"dataset": dataset, "ship": ship},
                        train=True)
    item = train[0]
    shipped = item["frames"].numel() * item["frames"].element_size()
    benchmark.extra_info.update({
        "dataset": dataset, "ship": ship, "bytes_per_sample": shipped,
        "official_grid_bytes": OFFICIAL_GRID_BYTES,
        "bytes_ratio": shipped / OFFICIAL_GRID_BYTES, "shape": list(item["frames"].shape),
        "dtype": str(item["frames"].dtype), "threads": 1,
    })
    out = benchmark.pedantic(lambda: train[0], rounds=3, iterations=1)
    assert out["frames"].shape == (3, 32, 224, 224)
