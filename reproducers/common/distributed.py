"""torch.distributed plumbing shared by the trainer: process-group setup and samplers.

``init_distributed`` reads what the launcher exported and starts the default process group
(gloo on CPU, nccl on CUDA, one GPU per process: ``cuda:LOCAL_RANK``, also made the current
device so a bare ``"cuda"`` means the process's own GPU). Launchers, in order of precedence:

- torchrun (``python -m torch.distributed.run``): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
  MASTER_PORT;
- submitit (SUBMITIT_EXECUTOR set): ``submitit.helpers.TorchDistributedEnvironment``;
- plain SLURM ``srun`` with more than one task: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
  MASTER_ADDR (default: the first host of SLURM_JOB_NODELIST), MASTER_PORT (default: derived
  from SLURM_JOB_ID, as submitit does);
- anything else: one process, no process group (every helper below is then a no-op).

Samplers. ``ShardSampler`` splits ``range(n)`` into contiguous rank shards without padding
(evaluation: every index once). ``GlobalBatchSampler`` draws one permutation per epoch from
``(seed, epoch)`` alone, cuts it into global batches of ``global_batch`` and hands rank ``r``
its share of each global batch as ``accum`` micro-batches, so any (world size, accum) pair with
the same product sees exactly the same samples in each optimizer step; ``train_loader`` wraps
it with per-sample seeding (``SeededSamples``). ``distributed_evaluate`` scores a split once
over all ranks and returns the outputs in dataset order on every rank.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as tdist
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None  # None: single process, no process group
    launcher: str = "none"  # "torchrun" | "submitit" | "slurm" | "none"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def is_initialized() -> bool:
    return tdist.is_available() and tdist.is_initialized()


def _first_host(nodelist: str) -> str:
    """First host of a SLURM node list: ``gpu[03-05,09],cpu1`` -> ``gpu03``."""
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if m is None:
        raise RuntimeError(f"cannot parse SLURM_JOB_NODELIST={nodelist!r}: set MASTER_ADDR")
    prefix, ranges = m.group(1), m.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def _launcher_env() -> tuple[str, int, int, int]:
    """(launcher, rank, world_size, local_rank), exporting MASTER_ADDR/PORT where needed."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return "torchrun", int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0))
    if env.get("SUBMITIT_EXECUTOR"):
        from submitit.helpers import TorchDistributedEnvironment

        te = TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        return "submitit", te.rank, te.world_size, te.local_rank
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        env.setdefault("MASTER_ADDR", _first_host(env.get("SLURM_JOB_NODELIST", "localhost")))
        env.setdefault("MASTER_PORT", str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 40000))
        return ("slurm", int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]),
                int(env.get("SLURM_LOCALID", 0)))
    return "none", 0, 1, 0


def init_distributed(device: str) -> DistEnv:
    """Start the default process group from the launcher's environment (see module doc).

    ``device``: "cpu" or "cuda" (a "cuda:N" index is replaced by the local rank when more than
    one process runs). Idempotent: a group already started is reused.
    """
    launcher, rank, world, local = _launcher_env()
    cuda = device.startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for but CUDA is not available")
        if world > 1:
            count = torch.cuda.device_count()
            if local >= count and count != 1:
                raise RuntimeError(f"local rank {local} but {count} visible GPUs: start at most "
                                   f"one process per GPU")
            index = local if local < count else 0  # one visible GPU per task (SLURM binding)
        else:
            index = torch.device(device).index or 0
        torch.cuda.set_device(index)
        device = f"cuda:{index}"
    if world <= 1:
        return DistEnv(device=device, launcher=launcher)
    backend = "nccl" if cuda else "gloo"
    if not is_initialized():
        kwargs = {"device_id": torch.device(device)} if cuda else {}
        tdist.init_process_group(backend=backend, init_method="env://", rank=rank,
                                 world_size=world, **kwargs)
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=device,
                   backend=backend, launcher=launcher)


def barrier() -> None:
    if is_initialized():
        tdist.barrier()


def all_gather_object(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` in a single process)."""
    if not is_initialized():
        return [obj]
    out = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_initialized():
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (identity in a single process)."""
    if is_initialized():
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return t


def cleanup() -> None:
    if is_initialized():
        tdist.destroy_process_group()


class ShardSampler(Sampler[int]):
    """Rank ``rank``'s contiguous shard of ``range(n)``: no padding, no duplicates.

    Shard sizes differ by at most one (the first ``n % world`` ranks hold one more); a rank
    may hold nothing when ``n < world``. The shards in rank order concatenate to ``range(n)``.
    """

    def __init__(self, n: int, rank: int, world: int):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world of {world}")
        base, extra = divmod(int(n), int(world))
        self.start = rank * base + min(rank, extra)
        self.stop = self.start + base + (1 if rank < extra else 0)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


class GlobalBatchSampler(Sampler[list[int]]):
    """Micro-batches of rank ``rank`` for a world-size-independent sequence of global batches.

    Per epoch, one permutation of ``range(n)`` is drawn from ``torch.Generator`` seeded with
    ``seed + epoch`` (identity order when ``shuffle`` is False) and cut into global batches of
    ``global_batch`` indices. Each global batch is split into ``world * accum`` equal chunks
    of ``global_batch // (world * accum)``; rank ``r`` gets chunks ``r*accum .. r*accum+accum-1``
    as its ``accum`` micro-batches, in that order. Iteration yields micro-batches (use as a
    DataLoader ``batch_sampler``): ``accum`` consecutive ones make one optimizer step.

    The last incomplete global batch (``n % global_batch`` samples): ``drop_last=True``
    (default, training) drops it, so every step averages exactly ``global_batch`` samples;
    ``drop_last=False`` completes it with the first indices of the same epoch's permutation
    (wrap-around, like ``DistributedSampler`` padding), so those few samples are seen twice
    in that epoch but each step still has ``global_batch`` equally weighted samples.

    ``set_epoch(e)`` selects the permutation; ``set_start_step(k)`` makes the next iteration
    begin at optimizer step ``k`` of the epoch (mid-epoch resume); it resets to 0 after use.
    """

    def __init__(self, n: int, global_batch: int, *, rank: int = 0, world_size: int = 1,
                 accum: int = 1, seed: int = 0, shuffle: bool = True, drop_last: bool = True):
        parts = world_size * accum
        if global_batch % parts:
            raise ValueError(f"global batch {global_batch} not divisible by world {world_size}"
                             f" x accum {accum}")
        self.n, self.global_batch, self.rank, self.world_size = n, global_batch, rank, world_size
        self.accum, self.seed, self.shuffle, self.drop_last = accum, seed, shuffle, drop_last
        self.micro_batch = global_batch // parts
        self.epoch, self.start_step = 0, 0

    @property
    def steps_per_epoch(self) -> int:
        if self.drop_last:
            return self.n // self.global_batch
        return math.ceil(self.n / self.global_batch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start_step(self, step: int) -> None:
        self.start_step = int(step)

    def permutation(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        perm, start = self.permutation(), self.start_step
        self.start_step = 0
        g, b = self.global_batch, self.micro_batch
        for step in range(start, self.steps_per_epoch):
            batch = perm[step * g:(step + 1) * g]
            if len(batch) < g:  # only with drop_last=False
                batch = batch + (perm * (g // max(self.n, 1) + 1))[:g - len(batch)]
            for m in range(self.accum):
                first = (self.rank * self.accum + m) * b
                yield batch[first:first + b]

    def __len__(self) -> int:
        return self.steps_per_epoch * self.accum


class SeededSamples(Dataset):
    """``dataset[(index, epoch)]`` with the sample's randomness seeded from (seed, epoch, index).

    Around ``dataset[index]``: python ``random``, numpy's global RNG and torch's CPU RNG are
    seeded (and ``dataset.reseed(seed)`` called when the dataset keeps its own generator), so
    a sample's augmentation depends neither on the worker that loads it nor on the world size
    or the step a run resumed at. In the main process (``num_workers=0``) the caller's RNG
    states are restored afterwards, so loading never shifts the model's dropout stream.
    A dataset with ``set_epoch(epoch)`` (e.g. one that re-draws a subset each epoch) has it
    called in the process that loads the item whenever the epoch changes, so persistent
    workers see it too.
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, seed
        self._epoch = None

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, epoch = key
        if self._epoch != epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
            self._epoch = epoch
        s = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(2, np.uint64)[0])
        main = torch.utils.data.get_worker_info() is None
        saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if main else None
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.default_generator.manual_seed(s % 2**63)  # CPU only: CUDA streams stay the caller's
        if hasattr(self.dataset, "reseed"):
            self.dataset.reseed(s)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


class EpochTaggedBatches:
    """A ``GlobalBatchSampler`` yielding ``(index, epoch)`` keys for ``SeededSamples``."""

    def __init__(self, sampler: GlobalBatchSampler):
        self.sampler = sampler

    def __iter__(self):
        e = self.sampler.epoch
        return ([(i, e) for i in batch] for batch in self.sampler)

    def __len__(self):
        return len(self.sampler)


def train_loader(dataset, sampler: GlobalBatchSampler, *, seed: int, collate_fn=None,
                 num_workers: int = 0, pin_memory: bool = False,
                 persistent_workers: bool = False,
                 prefetch_factor: int | None = None) -> DataLoader:
    """The training DataLoader: ``sampler``'s micro-batches of ``SeededSamples(dataset)``.

    Call ``sampler.set_epoch`` (and ``set_start_step``) before each ``iter(loader)``; the
    batch sampler runs in the main process, so this works with persistent workers too.
    """
    kwargs = {}
    if num_workers > 0:
        kwargs["persistent_workers"] = persistent_workers
        if prefetch_factor is not None:
            kwargs["prefetch_factor"] = prefetch_factor
    return DataLoader(SeededSamples(dataset, seed), batch_sampler=EpochTaggedBatches(sampler),
                      num_workers=num_workers, collate_fn=collate_fn or default_collate,
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(seed),
                      **kwargs)


def _rows(x) -> torch.Tensor:
    return x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(x)


@torch.no_grad()
def distributed_evaluate(forward: Callable, dataset, *, batch_size: int,
                         dist: DistEnv | None = None, collate_fn=None,
                         num_workers: int = 0) -> dict:
    """Score every sample of ``dataset`` exactly once across ranks; results in dataset order.

    The dataset is cut into the batches one process would use (``batch_size`` consecutive
    indices, the last one shorter) and rank ``r`` runs ``forward(batch)`` on its
    ``ShardSampler`` shard of those batches (contiguous, no padding): every row is computed in
    the same batch as in a single process, so outputs are bitwise those of one process (row
    results of BLAS kernels may depend on the batch composition). ``forward`` returns the per-row ``outputs``, or
    ``(outputs, index)`` with each row's dataset index (needed when ``collate_fn`` drops
    rows), or ``(outputs, extras)`` with ``extras`` a dict of per-row tensors (targets, video
    ids, ...; an ``"index"`` key there plays the role of ``index``). Everything is gathered on
    every rank (``all_gather_object``) and sorted by dataset index, so aggregating per video
    afterwards gives exactly what one process gives. The ranks are those of the default
    process group (``dist``, optional, must agree with it). Returns ``{"outputs", "index", **extras}``
    (CPU tensors); an index scored twice raises ``RuntimeError``.
    """
    rank, world = (tdist.get_rank(), tdist.get_world_size()) if is_initialized() else (0, 1)
    if dist is not None and (dist.rank, dist.world_size) != (rank, world):
        raise ValueError(f"dist says rank {dist.rank} of {dist.world_size}, the process group "
                         f"rank {rank} of {world}")
    n = len(dataset)
    chunks = [list(range(b * batch_size, min((b + 1) * batch_size, n)))
              for b in ShardSampler(math.ceil(n / batch_size), rank, world)]
    loader = DataLoader(dataset, batch_sampler=chunks, num_workers=num_workers,
                        collate_fn=collate_fn or default_collate)
    local: dict[str, list] = {"outputs": [], "index": []}
    for chunk, batch in zip(chunks, loader, strict=True):
        res = forward(batch)
        out, extra = res if isinstance(res, tuple) else (res, {})
        extra = dict(extra) if isinstance(extra, dict) else {"index": extra}
        index = _rows(extra.pop("index", chunk)).long().reshape(-1)
        if len(out) != len(index):
            raise RuntimeError(f"forward gave {len(out)} rows for {len(index)} samples: "
                               f"return the dataset index of each row")
        local["outputs"].append(_rows(out))
        local["index"].append(index)
        for k, v in extra.items():
            local.setdefault(k, []).append(_rows(v))
    parts = [{k: torch.cat(v) for k, v in p.items() if v} for p in all_gather_object(local)]
    parts = [p for p in parts if "index" in p]
    if not parts:
        raise RuntimeError("distributed_evaluate: no sample was scored")
    merged = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    order = torch.argsort(merged["index"], stable=True)
    merged = {k: v[order] for k, v in merged.items()}
    if len(torch.unique(merged["index"])) != len(merged["index"]):
        raise RuntimeError("distributed_evaluate: a sample was scored more than once")
    return merged
