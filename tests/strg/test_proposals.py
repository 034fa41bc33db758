"""The RPN proposal stage: COCO-format weights from a file, top-K boxes per frame, box store."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from reproducers.harness.errors import UserError
from reproducers.strg.proposals import ProposalNetwork, box_frames, prepare_store


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory):
    torch.manual_seed(0)
    det = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)  # COCO layout, 91 classes
    path = tmp_path_factory.mktemp("rpn") / "frcnn.pth"
    torch.save(det.state_dict(), path)
    return path, det


def test_loads_backbone_and_rpn_and_returns_top_k(coco_file):
    path, det = coco_file
    net = ProposalNetwork(boxes_per_frame=5, min_size=128, max_size=256)
    report = net.load_coco(path)
    assert report["tensors"] == len(det.backbone.state_dict()) + len(det.rpn.state_dict())
    assert torch.equal(net.rpn.head.conv[0][0].weight, det.rpn.head.conv[0][0].weight)
    torch.manual_seed(1)
    out = net(torch.rand(2, 3, 60, 100))
    for boxes, scores in out:
        assert boxes.shape[0] == scores.shape[0] <= 5
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 100).all()
        assert (boxes[:, 3] <= 60).all()
        assert torch.equal(scores, scores.sort(descending=True).values)


def test_prepare_writes_a_store(coco_file):
    path, _ = coco_file
    net = ProposalNetwork(boxes_per_frame=4, min_size=96, max_size=160)
    net.load_coco(path)
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, (7, 48, 64, 3), dtype=np.uint8)
    videos = [("v1", 7, lambda idx: clip[list(idx)]), ("v2", 3, lambda idx: clip[list(idx)])]
    store, stats = prepare_store(videos, net, frame_step=2, batch_size=3, log=lambda m: None)
    assert box_frames(7) == [0, 2, 4, 6]
    assert stats["frames"] == 4 + 2 and stats["box_frames"] == 6
    frames, boxes, real = store.video("v1")
    assert frames.tolist() == [0, 2, 4, 6] and boxes.shape == (4, 4, 4)
    assert stats["padded_boxes"] == int((4 - real).sum()) + int((4 - store.video("v2")[2]).sum())


def test_bad_weights(tmp_path):
    net = ProposalNetwork(boxes_per_frame=2, min_size=64, max_size=96)
    with pytest.raises(UserError, match="no such file"):
        net.load_coco(tmp_path / "none.pth")
    torch.save({"backbone.body.conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(UserError, match="missing"):
        net.load_coco(tmp_path / "bad.pth")


def test_prepare_stage_writes_the_split_stores(coco_file, tmp_path):
    from reproducers.strg import data

    path, _ = coco_file
    root = tmp_path / "ssv1"
    data.synthesize(root, {"n_per_class": 1, "n_val_per_class": 1, "frames_per_video": 6,
                           "size": 64}, seed=0)
    out = data.prepare(root, tmp_path / "out", {"layout": "ssv1", "boxes_per_frame": 4,
                                                 "rpn_min_size": 96, "box_step": 2},
                       path, "cpu", log=lambda m: None)
    assert out["train"]["videos"] == 4 and out["train"]["frames"] == 4 * 3
    store = data.BoxStore.load(data.box_store_path(tmp_path / "out", "validation"))
    assert store.boxes_per_frame == 4 and len(store.videos) == 4
    with pytest.raises(UserError, match="--weights is required"):
        data.prepare(root, tmp_path / "out", {}, None, "cpu")


def test_online_rpn_feeds_the_strg_model(coco_file):
    from reproducers.strg.model import build_strg
    from reproducers.strg.proposals import OnlineProposals

    path, _ = coco_file
    rpn = ProposalNetwork(boxes_per_frame=3, min_size=64, max_size=96)
    rpn.load_coco(path)
    strg = build_strg(widen_factor=1 / 16, num_classes=4).eval()
    online = OnlineProposals(rpn, strg, step=2)
    clip = torch.randn(1, 3, 8, 64, 64)
    boxes = online.boxes(clip)
    assert boxes.shape == (1, 4, 3, 4)
    assert (boxes[..., 2] <= 64).all() and (boxes[..., 0] >= 0).all()
    with torch.no_grad():
        assert online(clip).shape == (1, 4)
