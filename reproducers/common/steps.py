"""Step strategies: how one global batch becomes backward passes and optimizer steps.

``trainer.fit`` owns the loop (epochs, data order, accumulation over micro-batches, DDP
``no_sync``, AMP and the GradScaler, the non-finite check, clipping, EMA, scheduler,
checkpoints); a strategy only says, for the ``accum`` micro-batches this rank loads for one
global batch, which optimizer steps to make and which losses each one back-propagates:
``steps(model, batches)`` yields, per optimizer step, a list of ``MicroBatch`` (a loss
closure and its scale). The loop runs each list in order (``loss * scale / div`` backward,
DDP synchronising after the last), then the optimizer step and its bookkeeping, then asks
the strategy for the next one.

- ``PlainStep(step_loss)``: one optimizer step per global batch, ``step_loss(model, batch)``
  per micro-batch;
- ``PerFrameSequenceStep(step_loss, frames, ...)``: mmtrack's ``SeqEpochBasedRunner`` (the
  Streaming Video Model): each sample is a clip and each frame gets its own forward, backward
  and optimizer step, ``step_loss(model, batch, frame)``; hooks keep a per-micro-batch state
  for models that carry memory across frames;
- ``aux_stream.AuxStreamStep(inner, stream)``: adds SViT's auxiliary image stream to every
  optimizer step of ``inner`` (either of the above).

A strategy may also place this rank in the main data (``bind``: the auxiliary stream takes
ranks away from it) and keep loaders of its own (``start_epoch`` / ``end_epoch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from reproducers.harness.errors import UserError

__all__ = ["Binding", "MicroBatch", "PerFrameSequenceStep", "PlainStep", "Shard",
           "StepStrategy", "as_strategy"]


@dataclass(frozen=True)
class MicroBatch:
    """One backward pass: ``loss(model)`` (the mean over the micro-batch, computed on the
    training model: DDP-wrapped or compiled) back-propagated as ``loss * scale / div``;
    ``before(raw)`` / ``after(raw)`` run around it on the unwrapped model."""

    loss: Callable[[torch.nn.Module], torch.Tensor]
    scale: float = 1.0
    div: int = 1
    before: Callable[[torch.nn.Module], None] | None = None
    after: Callable[[torch.nn.Module], None] | None = None


@dataclass(frozen=True)
class Binding:
    """What ``fit`` tells a strategy about the run before training."""

    rank: int
    world: int
    seed: int
    pin_memory: bool
    log: Callable[[str], None]  # lines for the run's log (rank 0 prints them)


@dataclass(frozen=True)
class Shard:
    """This rank's place in the main training data."""

    rank: int
    world: int
    trains: bool = True  # False: the rank loads no main batches (a dedicated auxiliary rank)


@runtime_checkable
class StepStrategy(Protocol):
    steps_per_batch: int  # optimizer steps each global batch makes (the same on every rank)

    def bind(self, run: Binding) -> Shard: ...

    def start_epoch(self, epoch: int, step_in_epoch: int) -> None: ...

    def end_epoch(self) -> None: ...

    def steps(self, model: torch.nn.Module, batches: list) -> Iterator[list[MicroBatch]]: ...


class _Base:
    steps_per_batch = 1

    def bind(self, run: Binding) -> Shard:
        return Shard(run.rank, run.world)

    def start_epoch(self, epoch: int, step_in_epoch: int) -> None:
        pass

    def end_epoch(self) -> None:
        pass


class PlainStep(_Base):
    """One optimizer step per global batch: ``step_loss(model, batch)`` per micro-batch."""

    def __init__(self, step_loss: Callable[[torch.nn.Module, object], torch.Tensor]):
        self.step_loss = step_loss

    def steps(self, model, batches):
        div, fn = len(batches), self.step_loss
        yield [MicroBatch(lambda m, b=b: fn(m, b), div=div) for b in batches]


class PerFrameSequenceStep(_Base):
    """One optimizer step per clip frame, in order (see the module doc).

    ``step_loss(model, batch, frame)`` is called once per frame and micro-batch;
    ``enter(model, batch)`` before each such call (restore the micro-batch's state),
    ``leave(model, batch)`` after its backward (save it), ``end(model)`` before the clip
    batch's first optimizer step and after its last (clear the state)."""

    def __init__(self, step_loss: Callable, frames: int, *, enter: Callable | None = None,
                 leave: Callable | None = None, end: Callable | None = None):
        if int(frames) < 1:
            raise UserError(f"per-frame sequence of {frames} frames: use at least 1")
        self.step_loss, self.steps_per_batch = step_loss, int(frames)
        self.enter, self.leave, self.end = enter, leave, end

    @property
    def frames(self) -> int:
        return self.steps_per_batch

    def steps(self, model, batches):
        div, fn = len(batches), self.step_loss
        enter, leave = self.enter, self.leave
        if self.end is not None:
            self.end(model)
        for frame in range(self.frames):
            yield [MicroBatch(lambda m, b=b, f=frame: fn(m, b, f), div=div,
                              before=None if enter is None else (lambda r, b=b: enter(r, b)),
                              after=None if leave is None else (lambda r, b=b: leave(r, b)))
                   for b in batches]
        if self.end is not None:
            self.end(model)


def as_strategy(step) -> StepStrategy:
    """A strategy, or a bare ``step_loss(model, batch)`` taken as ``PlainStep``."""
    if isinstance(step, StepStrategy):
        return step
    if callable(step):
        return PlainStep(step)
    raise UserError(f"fit step {step!r}: pass a StepStrategy (PlainStep, PerFrameSequenceStep, "
                    "AuxStreamStep) or a step_loss(model, batch) function")
