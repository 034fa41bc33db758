"""``eval_mode=jd730_clip`` end to end on synthetic SSv1 data: jd730's val sampling, every
clip scored, clip-level accuracy that the per-clip predictions recompute."""

from __future__ import annotations

import json

import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.strg import REPRODUCTIONS, data
from tests.strg.contexts import smoke_context


@pytest.fixture(scope="module")
def root(tmp_path_factory):  # one training video per class: only validation is read
    root = tmp_path_factory.mktemp("ssv1")
    data.synthesize(root, {"n_per_class": 1, "n_val_per_class": 1, "frames_per_video": 16,
                           "size": 64, "boxes_per_frame": 3}, seed=0)
    return root


@pytest.mark.parametrize("name", ["strg_r50_ssv1", "i3d_jd730_ssv1"])
def test_jd730_clip_mode(name, root, tmp_path):
    rep = next(r for r in REPRODUCTIONS if r.name == name)
    ctx = smoke_context(rep, root, tmp_path, datasets=False, eval_mode="jd730_clip",
                        eval_batch_size=3)
    val = data.build(root, "validation", rep.smoke_data,
                     protocol=rep.smoke_protocol or rep.protocol)
    val.samples[0].num_frames = 8  # 8 frames for 8-frame clips: 2 runs, the second padded
    torch.manual_seed(0)
    model = rep.model.factory(**rep.model.smoke)
    res = rep.task.evaluate(ctx, model, val)
    assert res["eval_mode"] == "jd730_clip" and res["eval_size"] == 4
    assert res["clips"] == 2 + 3 * 3  # 16 frames, 8-frame runs: starts 0, 4, 8
    pred = res["predictions"]
    assert len(pred.ids) == 11 and pred.ids[:3] == [f"{val.samples[0].video_id}#0",
                                                    f"{val.samples[0].video_id}#1",
                                                    f"{val.samples[1].video_id}#0"]
    assert pred.metric("acc@1") == res["metrics"]["acc@1"]
    # the results json: per video, the mean of its clips' softmax
    results = json.loads((tmp_path / "validation_results.json").read_text())["results"]
    first = results[val.samples[0].video_id][0]
    best = pred.arrays["scores"][:2].mean(0)
    assert first["label"] == val.index.classes[int(best.argmax())]
    assert first["score"] == pytest.approx(float(best.max()), abs=1e-6)


def test_jd730_clip_mode_refuses_charades(tmp_path):
    rep = next(r for r in REPRODUCTIONS if r.name == "strg_r50_charades")
    ctx = smoke_context(rep, tmp_path, tmp_path, datasets=False, eval_mode="jd730_clip")
    with pytest.raises(UserError, match="single-label"):
        rep.task.evaluate(ctx, None, None)
