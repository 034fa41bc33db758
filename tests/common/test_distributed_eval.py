"""Distributed evaluation is exact: 11 samples (not divisible by 2 or 3) over 2 and 3 ranks
give the single-process outputs and acc@1, every index scored exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import Dataset

from reproducers.common.distributed import (
    ShardSampler,
    cleanup,
    distributed_evaluate,
)
from reproducers.common.metrics import aggregate_by_video, topk_accuracy
from tests.common.test_trainer_distributed import free_port, join_gloo

VIDEO = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 5])  # 11 views of 6 videos


class Views(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(3)
        self.x = torch.randn(len(VIDEO), 5, generator=g)
        self.y = torch.tensor([0, 1, 2, 3, 0, 1])[VIDEO]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i], VIDEO[i]


def evaluate(dist=None, seen: list | None = None) -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4)).eval()

    def forward(batch):
        x, y, vid = batch
        if seen is not None:
            seen.append(len(x))
        return model(x), {"target": y, "video": vid}

    res = distributed_evaluate(forward, Views(), batch_size=3, dist=dist)
    scores = aggregate_by_video(res["outputs"], res["video"], how="sum_softmax")
    target = aggregate_by_video(res["target"].float(), res["video"], how="mean").round().long()
    return {**res, "acc@1": topk_accuracy(scores, target, ks=(1,))[0]}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist = join_gloo(rank, world, port)
    try:
        seen: list[int] = []
        res = evaluate(dist, seen)
        implicit = evaluate(None)  # dist=None: the ranks of the initialized process group
        same = all(torch.equal(res[k], implicit[k]) for k in ("outputs", "index", "video"))
        torch.save({**res, "local_rows": sum(seen), "implicit_same": same},
                   Path(out) / f"rank{rank}.pt")
    finally:
        cleanup()


def test_shards_cover_each_index_once():
    for n in (0, 1, 2, 11, 12):
        for world in (1, 2, 3, 5):
            shards = [list(ShardSampler(n, r, world)) for r in range(world)]
            assert sum(shards, []) == list(range(n))
            assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("world", [2, 3])
def test_distributed_eval_equals_single_process(tmp_path, world):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = evaluate()
    finally:
        torch.set_num_threads(threads)
    mp.spawn(_worker, args=(world, free_port(), str(tmp_path)), nprocs=world, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]
    assert sum(r["local_rows"] for r in ranks) == len(VIDEO)  # no padding anywhere
    batches = [len(ShardSampler(4, r, world)) for r in range(world)]  # 11 rows: 3+3+3+2
    expected = [3 * b for b in batches]
    expected[-1] -= 1
    assert [r["local_rows"] for r in ranks] == expected
    for res in ranks:  # every rank holds the same, complete, dataset-ordered result
        assert torch.equal(res["index"], torch.arange(len(VIDEO)))
        assert torch.equal(res["video"], VIDEO) and torch.equal(res["target"], single["target"])
        assert torch.equal(res["outputs"], single["outputs"])
        assert res["acc@1"] == single["acc@1"]
        assert res["implicit_same"]
    print(f"world {world}: acc@1 {ranks[0]['acc@1']:.4f} (single process "
          f"{single['acc@1']:.4f}), rows per rank {expected}")
