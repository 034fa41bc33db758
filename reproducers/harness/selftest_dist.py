"""One rank of the self-test's distributed check, started by torchrun (``selftest.py``).

Every rank: ``init_distributed`` (the run path's process group: NCCL on CUDA, gloo on CPU;
``--backend`` forces one), ``fit`` for one epoch of two DDP steps on synthetic inputs of the
probe model's smoke config, then ``distributed_evaluate`` of the same samples. Rank 0 writes
``--out`` (JSON): the parameters must be equal on every rank after the steps and the gathered
evaluation outputs equal to one process's forward.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import time
from pathlib import Path


def _leaf(out):
    """First floating tensor of a model output (tensor, tuple, dict, ...)."""
    import torch

    for t in torch.utils._pytree.tree_leaves(out):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            return t
    raise ValueError("the model returned no floating tensor")


def mean_outputs(out):
    """A scalar that depends on every floating output (the generic self-test loss)."""
    import torch

    leaves = [t for t in torch.utils._pytree.tree_leaves(out)
              if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not leaves:
        raise ValueError("the model returned no floating tensor")
    return sum(t.float().mean() for t in leaves)


def find_reproduction(package: str, name: str):
    """The reproduction ``name`` of paper package ``package`` (imports that paper only)."""
    module = importlib.import_module(f"reproducers.{package}")
    for rep in getattr(module, "REPRODUCTIONS", []):
        if rep.name == name:
            return rep
    raise LookupError(f"reproducers.{package} declares no reproduction {name!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--package", required=True)
    p.add_argument("--reproduction", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--backend", default=None)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch
    import torch.distributed as tdist

    from reproducers.common.distributed import (
        all_gather_object,
        cleanup,
        distributed_evaluate,
        init_distributed,
    )
    from reproducers.common.trainer import TrainConfig, fit

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    cuda = args.device.startswith("cuda")
    if args.backend is not None:
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        tdist.init_process_group(backend=args.backend, init_method="env://")
    env = init_distributed(args.device)
    env = dataclasses.replace(env, backend=tdist.get_backend())
    try:
        rep = find_reproduction(args.package, args.reproduction)
        cfg = dict(rep.model.smoke)
        torch.manual_seed(0)
        model = rep.model.factory(**cfg)
        x = rep.model.example_input(cfg, 8)
        x = x[0] if isinstance(x, tuple) else x
        data = torch.utils.data.TensorDataset(x)
        device = env.device

        def step_loss(m, batch):
            return mean_outputs(m(batch[0].to(device)))

        train_cfg = TrainConfig(epochs=1, global_batch=4, device=device, progress=False,
                                shuffle=False, find_unused_parameters=True, pin_memory=False)
        result = fit(model, torch.optim.AdamW(model.parameters(), lr=1e-4), data, step_loss,
                     train_cfg, args.workdir / "fit", dist=env, log=lambda _m: None)
        sums = all_gather_object([float(p.detach().double().sum()) for p in model.parameters()])
        model.eval()

        @torch.no_grad()
        def forward(batch):
            return _leaf(model(batch[0].to(device))).float().cpu()

        res = distributed_evaluate(forward, data, batch_size=2, dist=env)
        with torch.no_grad():
            alone = torch.cat([forward((x[i:i + 2],)) for i in range(0, len(x), 2)])
        diff = float((res["outputs"] - alone).abs().max())
        out = {
            "world_size": env.world_size, "backend": env.backend, "device": device,
            "launcher": env.launcher, "reproduction": rep.name, "config": "smoke",
            "optimizer_steps": result.steps, "params_equal_on_ranks": all(
                s == sums[0] for s in sums), "eval_samples": len(res["outputs"]),
            "eval_max_abs_diff_vs_one_process": diff,
            "rank_seconds": round(time.perf_counter() - start, 3),
        }
        if env.is_main:
            (args.workdir / "result.json").write_text(json.dumps(out))
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
