"""A second training stream beside the main one: SViT's image rank, on any number of GPUs.

SViT (eladb3/SViT ``slowfast/datasets/loader.py construct_loader_train`` and
``tools/train_net.py train_epoch``) trains one DDP model on 8 GPUs: local rank 7
(``IMAGE_TRAIN.GPU_IDS``) loads still images and computes only the HAOG losses, ranks 0-6
load videos and compute only the classification loss. DDP *averages* the gradients, so per
optimizer step the update is ``7/8 * grad(mean video loss) + 1/8 * grad(mean image loss)``.

``AuxStream`` states that split as data: the auxiliary dataset, its global batch, its share
``weight`` of the gradient (1/8) and how many ranks are dedicated to it.
``AuxStreamStep(inner, stream)`` is the step strategy (``steps``) that adds it to every
optimizer step of ``inner`` (``PlainStep`` for SViT; a ``PerFrameSequenceStep`` works too:
one auxiliary micro-batch per frame step), keeping the same effective update on any world
size:

- **dedicated** (``dedicated_ranks = k`` and more than ``k`` processes): the last ``k`` ranks
  train only the auxiliary stream, the others only the main one; each rank's loss is scaled
  by ``world * share / ranks_of_its_role`` (exactly 1 for the official 7 + 1 split), so the
  DDP average is ``(1 - weight) * main + weight * aux`` for any world size;
- **shared** (one process, or ``dedicated_ranks = 0``): every rank trains both, the main
  micro-batches scaled by ``1 - weight`` and then one auxiliary micro-batch by ``weight``
  (gradient accumulation; DDP syncs once, after the last backward).

The auxiliary data never runs out: ``CyclingBatchSampler`` walks fresh permutations of it
(SViT wraps its image set as 100 x its length, ``datasets/multi_images.py``), and which
samples a step gets is a function of (seed, epoch, step) only, so resume stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from reproducers.harness.errors import UserError

from .distributed import SeededSamples
from .steps import Binding, MicroBatch, Shard, as_strategy


@dataclass
class AuxStream:
    dataset: object
    global_batch: int  # auxiliary samples per optimizer step, over all its ranks
    weight: float  # share of the gradient (SViT: 1/8); the main stream gets 1 - weight
    step_loss: Callable  # (model, batch) -> mean loss of the micro-batch
    dedicated_ranks: int = 0  # 0: every rank trains both streams (see the module doc)
    collate_fn: Callable | None = None
    num_workers: int = 0
    name: str = "aux"


@dataclass(frozen=True)
class Roles:
    """Which stream(s) this rank trains and with what loss scale."""

    dedicated: bool
    main_world: int  # ranks training the main stream
    main_rank: int  # this rank's index among them (0 on an auxiliary rank)
    aux_world: int  # ranks training the auxiliary stream
    aux_rank: int
    trains_main: bool
    trains_aux: bool
    main_scale: float  # multiplies the main loss (before the 1 / accum)
    aux_scale: float

    def describe(self, aux_name: str) -> str:
        if self.dedicated:
            return (f"streams: {self.main_world} main rank(s) x scale {self.main_scale:.4g}, "
                    f"{self.aux_world} {aux_name} rank(s) x scale {self.aux_scale:.4g}")
        return (f"streams: every rank trains main x {self.main_scale:.4g} and {aux_name} x "
                f"{self.aux_scale:.4g}")


def plan_roles(aux: AuxStream | None, rank: int, world: int) -> Roles:
    if aux is None:
        return Roles(False, world, rank, 0, 0, True, False, 1.0, 0.0)
    if not 0.0 < aux.weight < 1.0:
        raise UserError(f"{aux.name} stream weight {aux.weight}: use a share in (0, 1)")
    k = int(aux.dedicated_ranks)
    if k < 0:
        raise UserError(f"{aux.name} dedicated_ranks {k}: use 0 (shared) or a positive count")
    if k and world > k:
        main_world = world - k
        is_aux = rank >= main_world
        return Roles(True, main_world, 0 if is_aux else rank, k,
                     rank - main_world if is_aux else 0, not is_aux, is_aux,
                     world * (1.0 - aux.weight) / main_world, world * aux.weight / k)
    return Roles(False, world, rank, world, rank, True, True, 1.0 - aux.weight, aux.weight)


class CyclingBatchSampler:
    """Endless ``(index, tag)`` micro-batches for rank ``rank`` of ``world``.

    Step ``s`` of epoch ``e`` takes global batch ``s mod B`` of permutation number
    ``s div B`` (``B = n // global_batch``) drawn from ``(seed, e, cycle)``; rank ``r`` gets
    its contiguous share. ``tag`` (unique per epoch and cycle) seeds the sample's
    augmentation through ``SeededSamples``.
    """

    def __init__(self, n: int, global_batch: int, *, rank: int, world: int, seed: int):
        if global_batch % world:
            raise UserError(f"auxiliary global batch {global_batch} is not divisible by its "
                            f"{world} rank(s)")
        if n < global_batch:
            raise UserError(f"auxiliary dataset has {n} samples, fewer than its global batch "
                            f"{global_batch}")
        self.n, self.global_batch, self.rank, self.world, self.seed = n, global_batch, rank, \
            world, seed
        self.per_rank = global_batch // world
        self.batches_per_cycle = n // global_batch
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start_step(self, step: int) -> None:
        self.start_step = int(step)

    def _tag(self, cycle: int) -> int:
        return self.epoch * 1_000_003 + cycle + 1  # distinct from the main stream's epoch tags

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step, self.start_step = self.start_step, 0
        perm_cycle, perm = -1, None
        while True:
            cycle, k = divmod(step, self.batches_per_cycle)
            if cycle != perm_cycle:
                g = torch.Generator()
                g.manual_seed(int(np.random.SeedSequence(
                    [self.seed, self.epoch, cycle, 0xA0C]).generate_state(1, np.uint64)[0]
                    % 2**62))
                perm, perm_cycle = torch.randperm(self.n, generator=g).tolist(), cycle
            first = k * self.global_batch + self.rank * self.per_rank
            tag = self._tag(cycle)
            yield [(i, tag) for i in perm[first:first + self.per_rank]]
            step += 1


def aux_loader(aux: AuxStream, sampler: CyclingBatchSampler, seed: int,
               pin_memory: bool = False) -> DataLoader:
    kwargs = {"persistent_workers": True} if aux.num_workers > 0 else {}
    return DataLoader(SeededSamples(aux.dataset, seed), batch_sampler=sampler,
                      num_workers=aux.num_workers, collate_fn=aux.collate_fn or default_collate,
                      pin_memory=pin_memory, **kwargs)


class AuxStreamStep:
    """``inner``'s optimizer steps plus one auxiliary micro-batch each (see the module doc).

    On a dedicated auxiliary rank ``inner`` gets no main batches and the rank makes the same
    number of optimizer steps with only its auxiliary micro-batch; the auxiliary sampler
    advances one global batch per optimizer step, so resume stays exact."""

    def __init__(self, inner, stream: AuxStream):
        inner = as_strategy(inner)
        if isinstance(inner, AuxStreamStep):
            raise UserError(f"{stream.name} stream: one auxiliary stream per run ("
                            f"{inner.stream.name} is already one); merge them into one dataset")
        self.inner, self.stream = inner, stream
        self.steps_per_batch = inner.steps_per_batch
        self.roles: Roles | None = None
        self._sampler = self._loader = self._batches = None

    def bind(self, run: Binding) -> Shard:
        aux, roles = self.stream, plan_roles(self.stream, run.rank, run.world)
        self.roles = roles
        run.log(roles.describe(aux.name) + f"; {aux.name} global batch {aux.global_batch}")
        self._sampler = CyclingBatchSampler(len(aux.dataset), aux.global_batch,
                                            rank=roles.aux_rank, world=roles.aux_world,
                                            seed=run.seed)
        if roles.trains_aux:
            self._loader = aux_loader(aux, self._sampler, run.seed, pin_memory=run.pin_memory)
        inner = self.inner.bind(Binding(roles.main_rank, roles.main_world, run.seed,
                                        run.pin_memory, run.log))
        return Shard(inner.rank, inner.world, inner.trains and roles.trains_main)

    def start_epoch(self, epoch: int, step_in_epoch: int) -> None:
        self.inner.start_epoch(epoch, step_in_epoch)
        if self._loader is not None:
            self._sampler.set_epoch(epoch)
            self._sampler.set_start_step(step_in_epoch * self.steps_per_batch)
            self._batches = iter(self._loader)

    def end_epoch(self) -> None:
        self.inner.end_epoch()
        self._batches = None

    def steps(self, model, batches):
        roles, fn = self.roles, self.stream.step_loss
        for step in self.inner.steps(model, batches if roles.trains_main else []):
            micro = [MicroBatch(mb.loss, mb.scale * roles.main_scale, mb.div, mb.before, mb.after)
                     for mb in step] if roles.trains_main else []
            if roles.trains_aux:
                batch = next(self._batches)
                micro.append(MicroBatch(lambda m, b=batch: fn(m, b), roles.aux_scale, 1))
            yield micro

