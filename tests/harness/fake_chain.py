"""Two chained fake reproductions: ``fake_first`` trains the toy linear classifier of
fake_paper.py; ``fake_second`` declares ``init = InitFrom("fake_first", pick="best")``. Each
train writes the weights its model had before training (``initial.pt``), so a test can check
what the second one started from, and a best and a last checkpoint that differ."""

from __future__ import annotations

import dataclasses

import torch

from reproducers.harness.declarations import Task
from reproducers.harness.weights import InitFrom
from tests.harness import fake_paper


def train(ctx) -> dict:
    torch.manual_seed(ctx.seed)
    model = ctx.reproduction.model.factory(**ctx.model_config)
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), ctx.output_dir / "initial.pt")
    x, y = ctx.extras["datasets"]["train"].tensors
    opt = torch.optim.SGD(model.parameters(), lr=ctx.recipe.lr)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(ctx.recipe.epochs):
        loss = step()
    best = ctx.output_dir / "model_best.pt"
    torch.save(model.state_dict(), best)
    step()  # the last checkpoint is one step past the best
    torch.save(model.state_dict(), ctx.output_dir / "model_last.pt")
    return {"checkpoint": best, "final_loss": loss}


def make() -> dict:
    first = fake_paper.make("fake_first")
    first = dataclasses.replace(first, task=Task(train, fake_paper.evaluate))
    second = fake_paper.make("fake_second")
    second = dataclasses.replace(second, task=Task(train, fake_paper.evaluate),
                                 init=InitFrom("fake_first", pick="best"))
    return {r.name: r for r in (first, second)}
