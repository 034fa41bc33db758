"""DataLoader settings a recipe declares, and a loader built from them that is reproducible.

``LoaderSpec`` holds what keeps a GPU fed: worker processes decoding in parallel, pinned host
memory for asynchronous copies, persistent workers (no respawn each epoch) and a prefetch
depth per worker. ``make_loader`` seeds everything from one ``seed``: the shuffling order
comes from a ``torch.Generator`` seeded with it, and the DataLoader derives each worker's seed
from that generator (base seed + worker id), with which ``seed_worker`` seeds Python's
``random`` and NumPy's global generator (what the clip transforms draw from) and the
dataset's own NumPy generator. Same seed, same workers => same clips.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from reproducers.common.video.dataset import TooManyBadSamples, collate_drop_bad
from reproducers.harness.errors import UserError


@dataclass(frozen=True)
class LoaderSpec:
    num_workers: int = 8
    pin_memory: bool = True
    persistent_workers: bool = True
    prefetch_factor: int | None = 2  # batches each worker keeps ready; ignored without workers
    drop_last: bool = True  # training; evaluation loaders never drop (every video is scored)

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> LoaderSpec:
        """A spec from a recipe's options dict; an unknown key is a UserError."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown loader settings {unknown}: use {sorted(known)}")
        return cls(**values)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and NumPy from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class GuardedLoader(DataLoader):
    """A DataLoader that re-raises a worker's ``TooManyBadSamples`` as one clean line."""

    def __iter__(self):
        it = super().__iter__()
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except TooManyBadSamples:
                # Stop the workers now: left to the garbage collector (the traceback keeps
                # this frame alive) each join waits out its 5 s status-check timeout.
                shutdown = getattr(it, "_shutdown_workers", None)
                if shutdown is not None:
                    shutdown()
                message = getattr(self.dataset, "too_many_bad_message", None)
                if message is None:
                    raise
                raise TooManyBadSamples(message()) from None
            yield batch


def make_loader(dataset: Dataset, spec: LoaderSpec, batch_size: int, shuffle: bool, *,
                sampler: Sampler | None = None, seed: int = 0, collate_fn=None,
                drop_last: bool | None = None) -> DataLoader:
    """A DataLoader for ``dataset`` with ``spec``'s settings, seeded by ``seed``.

    ``drop_last`` defaults to ``spec.drop_last`` when shuffling (training) and False
    otherwise. ``pin_memory`` only takes effect when CUDA is available. The default
    ``collate_fn`` is ``collate_drop_bad`` (drops eval markers of unreadable videos).
    """
    if sampler is not None and shuffle:
        raise ValueError("give either a sampler or shuffle=True, not both")
    workers = max(0, int(spec.num_workers))
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    kwargs = {}
    if workers > 0:
        kwargs["persistent_workers"] = spec.persistent_workers
        if spec.prefetch_factor is not None:
            kwargs["prefetch_factor"] = spec.prefetch_factor
    return GuardedLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
        num_workers=workers, pin_memory=spec.pin_memory and torch.cuda.is_available(),
        drop_last=(spec.drop_last if shuffle else False) if drop_last is None else drop_last,
        collate_fn=collate_fn or collate_drop_bad, worker_init_fn=seed_worker,
        generator=generator, **kwargs)
