"""The profile stage's measurement: parameters, GFLOPs (MACs) per view and x views,
forward throughput, at the declared input size of one view."""

from __future__ import annotations

from .declarations import Protocol, Reproduction


def profile_model(rep: Reproduction, cfg: dict, device: str, iters: int | None = None,
                  log=print, protocol: Protocol | None = None) -> dict:
    """``protocol``: the run's (``rep.protocol_for(smoke)``), whose views the evaluation
    scores; default the declared one."""
    protocol = protocol if protocol is not None else rep.protocol
    import torch

    from .flops import count_flops, count_params
    from .throughput import measure_throughput

    torch.manual_seed(0)
    model = rep.model.factory(**cfg).eval()
    inputs = rep.model.example_input(cfg, 1)
    params = count_params(model)
    log(f"[{rep.name}] params {params['total']:,}; counting FLOPs at one view "
        f"({protocol.input}) ...")
    flops = count_flops(model, inputs)
    views = protocol.views
    on_cuda = device.startswith("cuda")
    n = iters if iters is not None else (20 if on_cuda else 3)
    log(f"[{rep.name}] measuring forward throughput on {device} ({n} iterations) ...")
    # train-step time (forward + backward + optimizer step) where it is meaningful: on CUDA;
    # a full-size CPU train step of the large models takes minutes and says little
    thr = measure_throughput(model, inputs, device=device, warmup=1 if not on_cuda else 5,
                             iters=n, train_step=on_cuda)
    out = {
        "params": params["total"],
        "params_trainable": params["trainable"],
        "official_params": rep.model.official_num_params,
        "gmacs_per_view": flops.gmacs,
        "views": views,
        "gmacs_x_views": flops.gmacs * views,
        "flops": flops.to_dict(),
        "throughput": thr,
        "input": protocol.input,
    }
    return out
