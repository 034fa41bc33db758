"""K-center's typed recipe (``--set`` keys, the report's recipe text, what the code reads) and
its seeded evaluation: the first K-center picks come from (run seed, view index), so one seed
reproduces, another seed draws other first centres, and `--seeds` repeats the evaluation only
for the K-center reproductions (the frame baselines' evaluation is deterministic)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.harness.overrides import parse
from reproducers.harness.registry import get
from reproducers.harness.stages import RunOptions, configs
from reproducers.kcenter import REPRODUCTIONS
from reproducers.kcenter.recipe import KCenterOptions
from reproducers.kcenter.task import _optimizer, evaluate, first_centres


def _recipe(name, *pairs, smoke=False):
    return configs(get(name), RunOptions(smoke=smoke, overrides=parse(list(pairs))))[0]


def test_every_recipe_is_typed_and_its_text_renders_from_the_fields():
    for rep in REPRODUCTIONS:
        assert isinstance(rep.recipe.options, KCenterOptions)
        assert isinstance(rep.smoke_recipe.options, KCenterOptions)
    tsf = get("kcenter_timesformer_ssv2").recipe
    assert tsf.schedule_text == "per-step cosine 2.5e-05 -> 2.5e-07, no warm-up"
    assert tsf.optimizer_text.endswith("that list is lost under DDP as released)")
    assert (tsf.options.per_device_batch, tsf.options.amp, tsf.options.label_smoothing) == \
        (16, "fp16", 0.2)
    r = _recipe("kcenter_vit_ssv2", "end_lr=3e-6", "ddp_no_decay_quirk=false")
    assert r.schedule_text == "per-step cosine 0.0001 -> 3e-06, no warm-up"
    assert r.optimizer_text.endswith("that list is kept under DDP)")


def test_set_rejects_unknown_keys_and_bad_values_in_one_line():
    with pytest.raises(UserError) as err:
        _recipe("kcenter_vit_ssv2", "sampler_seed=1")
    msg = str(err.value)
    assert msg.startswith("--set sampler_seed: unknown key; valid keys: ")
    assert "\n" not in msg
    for key in ("end_lr", "label_smoothing", "ddp_no_decay_quirk", "init_checkpoint",
                "eval_batch_size", "per_device_batch"):
        assert key in msg
    with pytest.raises(UserError, match=r"--set label_smoothing=1.5: expected a number >= 0 "
                                        r"< 1"):
        _recipe("kcenter_vit_ssv2", "label_smoothing=1.5")
    with pytest.raises(UserError, match="--set schedule=step: expected one of cosine"):
        _recipe("kcenter_vit_ssv2", "schedule=step")


@pytest.mark.parametrize("quirk,decayed", [(True, True), (False, False)])
def test_ddp_no_decay_quirk_is_what_the_optimizer_reads(quirk, decayed):
    rep = get("kcenter_vit_ssv2")
    recipe = _recipe(rep.name, f"ddp_no_decay_quirk={str(quirk).lower()}", smoke=True)
    model = rep.model.factory(**rep.model.smoke)
    opt = _optimizer(SimpleNamespace(recipe=recipe), model, world=2)
    group = next(g for g in opt.param_groups if any(p is model.pos_embed for p in g["params"]))
    assert (group["weight_decay"] > 0) is decayed


def test_first_centres_reproduce_per_seed_and_view_on_any_batching():
    index = torch.arange(6)
    a = first_centres(0, index, 8)
    assert a.shape == (48,) and a.dtype == torch.long
    torch.testing.assert_close(a, first_centres(0, index, 8))
    torch.testing.assert_close(a, torch.cat([first_centres(0, index[:2], 8),
                                             first_centres(0, index[2:], 8)]))
    assert not torch.equal(a, first_centres(1, index, 8))
    assert first_centres(0, index[:0], 8).numel() == 0


def test_seed_moves_the_first_centre_of_a_tiny_model():
    rep = get("kcenter_vit_ssv2")
    model = rep.model.factory(**rep.model.smoke).eval()
    x = rep.model.example_input(rep.model.smoke, 4)
    index = torch.arange(4)

    def first(seed):
        init = first_centres(seed, index, model.sampler.time_division)
        return model.select(x, init).selection_order[:, 0]

    torch.testing.assert_close(first(0), first(0))
    assert not torch.equal(first(0), first(1))


class _Views(torch.utils.data.Dataset):
    """Two videos x 3 views of random frames, as the loader ships them."""

    num_views = 3
    ids = ["a", "b"]

    def __init__(self, cfg):
        g = torch.Generator().manual_seed(0)
        side, t = cfg["crop_size"], cfg["num_frames"]
        self.frames = torch.randint(0, 256, (6, 3, t, side, side), generator=g,
                                    dtype=torch.uint8)

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return {"ok": True, "frames": self.frames[i], "label": i // 3 % 2,
                "video_index": i // 3, "view_index": i % 3}


@pytest.mark.parametrize("name,random", [("kcenter_vit_ssv2", True),
                                         ("frame_vit_ssv2", False)])
def test_evaluation_is_seeded_by_the_run_seed(name, random):
    rep = get(name)
    assert rep.task.random_evaluation is random
    torch.manual_seed(0)
    model = rep.model.factory(**rep.model.smoke)
    data = _Views(rep.model.smoke)
    recipe = _recipe(name, smoke=True)

    def scores(seed, batch):
        ctx = SimpleNamespace(recipe=_recipe(name, f"eval_batch_size={batch}", smoke=True),
                              seed=seed, device="cpu", extras={},
                              model_config=rep.model.smoke, protocol=rep.protocol)
        torch.manual_seed(1000 + seed)  # the global RNG plays no part
        return torch.as_tensor(evaluate(ctx, model, data)["predictions"].arrays["scores"])

    assert recipe.options.eval_batch_size == 8
    s0 = scores(0, 8)
    torch.testing.assert_close(s0, scores(0, 2), rtol=1e-5, atol=1e-5)
    assert torch.equal(s0, scores(0, 8))
    assert torch.equal(s0, scores(1, 8)) is not random
