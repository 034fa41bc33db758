"""SViT's SSv2 reading (box-driven sampling, the box-filtered subset), the 3-crop evaluation
on both subsets, the image stream's samples, and official checkpoints in and out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reproducers.harness.declarations import RunContext
from reproducers.harness.errors import UserError
from reproducers.harness.weights import load_strict, load_weights, weights_only_file
from reproducers.svit import MVITV2S, SVIT, data, task
from reproducers.svit.checkpoints import adapt_state_dict, load_pretrained
from reproducers.svit.model import build_mvitv2s, build_svit
from reproducers.svit.synthetic import write_svit_synthetic

CFG = {**SVIT.smoke_data}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ssv2")
    write_svit_synthetic(root, n_per_class=2, n_val_per_class=2, frames=10, size=32,
                         empty_every=2)
    return root


def test_train_drops_listed_videos_and_samples_from_box_names(root):
    ds = data.build_video(root, "train", CFG, train=True)
    listed = json.loads((root / "empty_bbox_train.json").read_text())
    assert len(listed) == 4 and not set(listed) & set(ds.ids)
    assert len(ds) == 4  # 8 synthetic train videos, every second one without boxes
    s = ds.samples[0]
    assert s.num_frames == 10 and s.frame_map == tuple(range(10))  # "<id>/0001.jpg" -> 0
    item = ds[0]
    assert item["frames"].shape == (3, 4, 64, 64) and item["ok"]


def test_eval_scores_all_videos_and_knows_the_box_filtered_subset(root):
    ds = data.build_video(root, "validation", CFG, train=False, protocol=SVIT.protocol)
    assert len(ds.samples) == 8 and ds.num_views == 3
    assert ds.meta["empty_box_source"] == "official list"
    kept = [ds.ids[i] for i in ds.meta["subsets"]["box_filtered"]]
    listed = set(json.loads((root / "empty_bbox_val.json").read_text()))
    assert len(kept) == 4 and not set(kept) & listed
    # a video without boxes is sampled from the frames on disk
    empty = ds.samples[ds.ids.index(sorted(listed)[0])]
    assert empty.num_frames is None and empty.frame_map is None
    assert ds[3 * ds.ids.index(empty.video_id) + 2]["ok"]


def test_without_the_official_lists_the_subset_is_derived(root, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "empty_bbox_val.json").unlink()
    ds = data.build_video(copy, "validation", CFG, train=False, protocol=SVIT.protocol)
    assert ds.meta["empty_box_source"].startswith("derived")
    official = data.build_video(root, "validation", CFG, train=False, protocol=SVIT.protocol)
    assert ds.meta["subsets"] == official.meta["subsets"]
    (copy / "empty_bbox_val.json").write_text('{"not": "a list"}')
    with pytest.raises(UserError, match="empty_bbox_val.json: expected a JSON list"):
        data.build_video(copy, "validation", CFG, train=False, protocol=SVIT.protocol)


class ConstantProbs(torch.nn.Module):
    """Every clip gets the same probabilities: class 3 first, class 2 second."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.tensor([[0.1, 0.2, 0.3, 0.4]]).expand(x.shape[0], -1) + 0 * self.w


def _ctx(rep, root, model_config=None) -> RunContext:
    return RunContext(reproduction=rep, smoke=True, data_root=root, output_dir=root / "out",
                      device="cpu", seed=0, recipe=rep.smoke_recipe,
                      model_config=model_config or {"num_classes": 4, "num_objects": 0},
                      data_config=CFG, progress=False, log=lambda _m: None)


def test_evaluate_reports_both_subsets(root):
    ds = data.build_video(root, "validation", CFG, train=False, protocol=SVIT.protocol)
    res = task.evaluate(_ctx(SVIT, root), ConstantProbs(), ds)
    labels = [s.label for s in ds.samples]
    kept = ds.meta["subsets"]["box_filtered"]
    full3 = 100 * sum(lab == 3 for lab in labels) / len(labels)
    kept3 = 100 * sum(labels[i] == 3 for i in kept) / len(kept)
    assert res["subsets"]["full"]["metrics"]["acc@1"] == pytest.approx(full3)
    assert res["subsets"]["box_filtered"]["metrics"]["acc@1"] == pytest.approx(kept3)
    assert res["subsets"]["full"]["metrics"]["acc@5"] == 100.0
    assert res["report_subset"] == "box_filtered" and res["eval_size"] == len(kept) == 4
    assert res["num_samples"] == 3 * len(labels) and res["views"] == 3
    pred = res["predictions"]  # per-video scores: both subsets recompute from them
    assert pred.ids == list(ds.ids) and pred.subset == "box_filtered"
    assert pred.subsets["box_filtered"] == [ds.ids[i] for i in kept]
    assert pred.metric("acc@1") == pytest.approx(kept3)
    assert pred.metric("acc@1", subset="full") == pytest.approx(full3)


def test_image_stream_items_are_seeded(root):
    from reproducers.common.distributed import SeededSamples

    images = data.build_images(root, CFG)
    assert len(images) == 4  # training videos with boxes
    seeded = SeededSamples(images, seed=5)  # as the trainer loads them
    a, b, c = seeded[(1, 0)], seeded[(1, 0)], seeded[(1, 1)]
    assert not torch.equal(a["image"], c["image"])  # another epoch, another draw
    assert set(a) == {"image", "boxes", "exists", "contact"}
    assert a["image"].shape == (3, 64, 64) and a["boxes"].shape == (4, 4)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert a["exists"][2] == 1.0  # the synthetic square is object slot 2 (first object)


def test_released_checkpoint_converts_once_and_loads_strictly(tmp_path):
    model = build_svit(**SVIT.model.smoke)
    state = model.state_dict()
    # what PySlowFast saves (checkpoint.py save_checkpoint), plus split_qkv copies of block 0
    extra = {f"blocks.0.attn.{n}.weight": torch.zeros(1) for n in "qkv"}
    pyth = {"epoch": 49, "model_state": {**state, **extra}, "optimizer_state": {"state": {}},
            "cfg": "MODEL:\n  NUM_CLASSES: 174\n"}
    src = tmp_path / "SViT_ssv2.pyth"
    torch.save(pyth, src)
    weights, state_read, converted = weights_only_file(src, tmp_path / "weights",
                                                       log=lambda _m: None)
    assert converted and weights.name.startswith("SViT_ssv2.") and weights.is_file()
    mtime = weights.stat().st_mtime_ns
    again, _, _ = weights_only_file(src, tmp_path / "weights", log=lambda _m: None)
    assert again == weights and weights.stat().st_mtime_ns == mtime  # once
    assert set(state_read) == set(load_weights(weights))  # what evaluate loads = the file
    loaded, notes = adapt_state_dict(load_weights(weights))
    assert notes == ["dropped 3 split_qkv copies (attn.q/k/v) of the fused qkv"]
    fresh = build_svit(**SVIT.model.smoke)
    load_strict(fresh, loaded, src)
    for k, v in state.items():
        torch.testing.assert_close(fresh.state_dict()[k], v)
    baseline = build_mvitv2s(**MVITV2S.model.smoke)
    with pytest.raises(UserError, match=r"does not fit the model: missing \[\], unexpected \[head\.boxes_bce_mlp\.bias, .*\(\+3 more\)"):
        load_strict(baseline, loaded, src)


def test_k400_init_keeps_only_name_and_shape_matches(tmp_path):
    k400 = build_mvitv2s(**{**MVITV2S.model.smoke, "num_classes": 400})
    path = tmp_path / "k400.pyth"
    torch.save({"model_state": k400.state_dict(), "epoch": 199}, path)
    model = build_svit(**SVIT.model.smoke)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    msg = load_pretrained(model, path)
    after = model.state_dict()
    torch.testing.assert_close(after["blocks.1.attn.qkv.weight"],
                               k400.state_dict()["blocks.1.attn.qkv.weight"])
    for k in ("head.projection.weight", "object_queries", "pos_embed_temporal"):
        torch.testing.assert_close(after[k], before[k])
    assert "head.projection.weight" in msg and "object_queries" in msg
    n_backbone = len(k400.state_dict()) - 2
    assert msg.startswith(f"init from k400.pyth: {n_backbone}/{len(after)} tensors loaded")
    with pytest.raises(UserError, match="no such file"):
        load_pretrained(model, tmp_path / "absent.pyth")
