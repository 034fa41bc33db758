"""A tiny in-memory paper for harness tests: a linear classifier over synthetic features
whose label is the sign of the first feature, with a json-lines split format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

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
from reproducers.harness.errors import UserError

PAPER = Paper("fake", "A Fake Paper", "TEST 2026", "0000.00000", "https://example.invalid/fake",
              "0123456789abcdef")


def synthesize(root: Path, config, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 64), ("test", 32)):
        x = torch.randn(n, 4, generator=g)
        rows = [{"id": f"{split}{i}", "x": x[i].tolist(), "y": int(x[i, 0] > 0)} for i in range(n)]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def build(root: Path, split: str, config, train: bool, protocol=None):
    path = Path(root) / f"{split}.jsonl"
    if not path.exists():
        raise UserError(f"{path}: split file not found")
    xs, ys, ids = [], [], []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"{path}:{n}: not a JSON line") from None
        xs.append(row["x"])
        ys.append(row["y"])
        ids.append(row["id"])
    ds = TensorDataset(torch.tensor(xs), torch.tensor(ys))
    ds.ids = ids
    return ds


def fingerprint(ds) -> dict:
    return {"found": len(ds.ids), "expected": 32 if len(ds.ids) == 32 else 64, "missing": [],
            "n_missing": 0, "id_hash": hashlib.sha256("\n".join(sorted(ds.ids)).encode()).hexdigest()}


def train(ctx) -> dict:
    torch.manual_seed(ctx.seed)
    model = ctx.reproduction.model.factory(**ctx.model_config)
    x, y = ctx.extras["datasets"]["train"].tensors
    opt = torch.optim.SGD(model.parameters(), lr=ctx.recipe.lr)
    for _ in range(ctx.recipe.epochs):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.output_dir / "model.pt"
    torch.save(model.state_dict(), path)
    return {"checkpoint": path, "final_loss": loss.item()}


@torch.no_grad()
def evaluate(ctx, model, ds) -> dict:
    x, y = ds.tensors
    acc = (model(x).argmax(1) == y).float().mean().item() * 100
    return {"metrics": {"acc@1": acc}, "eval_size": len(y)}


def make(name="fake_toy", expected=None) -> Reproduction:
    recipe = Recipe("sgd", 0.5, 0.0, 50, 64, 1, "none", "constant", seed=3)
    return Reproduction(
        name=name,
        paper=PAPER,
        dataset=DatasetSpec("toy", "train", "test", {"train": 64, "test": 32},
                            "<root>/{train,test}.jsonl", "toy data", build, synthesize, fingerprint),
        model=ModelSpec("linear", lambda d=4: torch.nn.Linear(d, 2), {"d": 4}, {"d": 4},
                        lambda cfg, b: torch.randn(b, cfg["d"]), official_num_params=10),
        recipe=recipe,
        smoke_recipe=recipe,
        protocol=Protocol("4 features", 1, 1, "argmax", "test"),
        task=Task(train, evaluate),
        expected=expected if expected is not None else [
            ExpectedRow(name, "acc@1", 99.0, "higher", None, "paper", "Fake Table 1"),
            ExpectedRow(name, "acc@1", 80.0, "higher", 0.0, "smoke", "toy sign task"),
        ],
        metrics=["acc@1"],
    )
