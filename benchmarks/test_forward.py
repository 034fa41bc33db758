"""Forward time of every registered model at its declared full input size (batch 1, CPU).

Reproductions that share a model and full config (e.g. the nine ViS4mer LVU tasks) are timed
once. Full models can be large (11820x1024 sequences), hence few pedantic rounds. MACs and
parameters go into ``extra_info`` so the saved benchmark JSON carries them.
"""

import json

import pytest
import torch

from reproducers.harness.flops import count_flops, count_params

REGISTRY = "reproducers.harness.registry"


def _models():
    """One param per distinct (model name, full config); a skip when there is nothing to time."""
    try:
        from reproducers.harness.registry import discover
    except ModuleNotFoundError as e:
        if e.name != REGISTRY:
            raise
        return [pytest.param(None, id="no-registry",
                             marks=pytest.mark.skip(reason=f"{REGISTRY} does not exist yet"))]
    groups: dict[tuple[str, str], list] = {}
    for rep in discover().values():
        config = json.dumps(dict(rep.model.full), sort_keys=True, default=repr)
        groups.setdefault((rep.model.name, config), []).append(rep)
    if not groups:
        return [pytest.param(None, id="no-reproductions",
                             marks=pytest.mark.skip(reason="no reproduction is registered yet"))]
    # id: the first reproduction sharing the model config (+N others)
    return [pytest.param(reps, id=reps[0].name + (f"+{len(reps) - 1}" if len(reps) > 1 else ""))
            for reps in groups.values()]


@pytest.mark.parametrize("reps", _models())
def test_forward(benchmark, reps, no_grad):
    model_spec = reps[0].model
    torch.manual_seed(0)
    model = model_spec.factory(**model_spec.full).eval()
    inputs = model_spec.example_input(model_spec.full, 1)
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    flops = count_flops(model, inputs, crosscheck=False)  # the cross-check lives in profile
    benchmark.extra_info.update({
        "model": model_spec.name,
        "reproductions": [rep.name for rep in reps],
        "input": reps[0].protocol.input,
        "gmacs_per_view": flops.gmacs,
        "uncounted_ops": flops.uncounted_ops,
        "params": count_params(model)["total"],
        "batch_size": 1,
        "device": "cpu",
    })
    benchmark.pedantic(model, args=args, rounds=3, warmup_rounds=1, iterations=1)
