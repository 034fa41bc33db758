"""The proposal box store: round trip, the padding rule and its counts, clip look-up, errors."""

from __future__ import annotations

import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.strg.box_store import BoxStore, BoxStoreWriter, pad_frame


def _store() -> BoxStore:
    w = BoxStoreWriter(boxes_per_frame=3, frame_step=2)
    w.add("a", (100, 200), [1, 3], [torch.tensor([[10., 20., 50., 60.], [0., 0., 20., 20.],
                                                   [5., 5., 6., 6.], [1., 1., 2., 2.]]),
                                     torch.tensor([[30., 30., 80., 90.]])],
          [torch.tensor([0.5, 0.9, 0.1, 0.2]), torch.tensor([0.7])])
    w.add("b", (50, 50), [1, 3, 5], [torch.zeros(0, 4)] * 3, [torch.zeros(0)] * 3)
    return w.finish()


def test_round_trip_padding_and_counts(tmp_path):
    store = _store()
    path = store.save(tmp_path / "val.pt")
    loaded = BoxStore.load(path)
    frames, boxes, real = loaded.video("a")
    assert frames.tolist() == [1, 3] and real.tolist() == [3, 1]
    # the 3 best of 4 boxes, by score; pixels within float16 precision of the frame size
    torch.testing.assert_close(boxes[0], torch.tensor([[0., 0., 20., 20.], [10., 20., 50., 60.],
                                                       [1., 1., 2., 2.]]), atol=0.1, rtol=0)
    # frame 3: one real box, then two full-frame boxes (the declared padding rule)
    torch.testing.assert_close(boxes[1, 1:], torch.tensor([[0., 0., 200., 100.]] * 2))
    _, boxes_b, real_b = loaded.video("b")
    assert real_b.tolist() == [0, 0, 0]
    torch.testing.assert_close(boxes_b, torch.tensor([0., 0., 50., 50.]).expand(3, 3, 4))
    assert loaded.stats() == {"videos": 2, "box_frames": 5, "boxes_per_frame": 3,
                              "padding": "full_frame", "padded_boxes": 2 + 9,
                              "frames_padded": 4, "frames_without_boxes": 3}


def test_clip_boxes_take_the_nearest_box_frame():
    store = _store()
    clip = store.clip_boxes("a", [1, 2, 3, 4, 9])
    _, boxes, _ = store.video("a")
    assert torch.equal(clip[0], boxes[0]) and torch.equal(clip[1], boxes[0])  # tie: earlier
    assert torch.equal(clip[2], boxes[1]) and torch.equal(clip[4], boxes[1])


def test_pad_frame_keeps_the_best():
    boxes, scores, n = pad_frame(torch.rand(7, 4), torch.arange(7.0), 5)
    assert n == 5 and scores.tolist() == [6, 5, 4, 3, 2]


def test_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        BoxStore.load(tmp_path / "none.pt")
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(UserError, match="not a strg-boxes/1 file"):
        BoxStore.load(tmp_path / "x.pt")
    with pytest.raises(UserError, match="no boxes for video 'zz'"):
        _store().video("zz")
