"""A dataset with a truncated mp4 and an empty file: checked, trained over, evaluated, counted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from reproducers.common.video import kinetics, ssv1, synthetic
from reproducers.common.video.check import (
    check_dataset,
    check_split,
    check_video,
    format_report,
)
from reproducers.common.video.dataset import (
    DenseClipIndices,
    SegmentIndices,
    TooManyBadSamples,
    VideoClipDataset,
    fingerprint,
)
from reproducers.common.video.formats import VideoSample
from reproducers.common.video.loader import LoaderSpec, make_loader
from reproducers.common.video.transforms import build_clip_transform
from reproducers.harness.errors import UserError

SPEC = LoaderSpec(num_workers=2, pin_memory=True, persistent_workers=False, prefetch_factor=2,
                  drop_last=False)


@pytest.fixture(scope="module")
def broken_k400(tmp_path_factory):
    """4 good train clips + a truncated mp4 + an empty file, listed in the official csv."""
    root = tmp_path_factory.mktemp("k400")
    paths = synthetic.write_kinetics_synthetic(root, n_per_class=1, frames=16, size=32)
    good = sorted(paths["train"].glob("*.mp4"))[0]
    data = good.read_bytes()
    (paths["train"] / "truncated00_000000_000010.mp4").write_bytes(data[: len(data) // 2])
    (paths["train"] / "emptyfile00_000000_000010.mp4").write_bytes(b"")
    with paths["train_csv"].open("a") as f:
        f.write("sliding left to right,truncated00,0,10,train,0\n")
        f.write("sliding right to left,emptyfile00,0,10,train,0\n")
        f.write("sliding right to left,notthere000,0,10,train,0\n")
    return root


def _bad_names(entries):
    return sorted(e["path"].rsplit("/", 1)[-1] for e in entries)


BAD = ["emptyfile00_000000_000010.mp4", "truncated00_000000_000010.mp4"]


def _dataset(split, train, max_bad_fraction, views=(1, 1)):
    tr = build_clip_transform({"dataset": "k400", "crop_size": 32, "hflip_prob": 0.5,
                               "train_crop": "short_side_jitter", "jitter_scales": (32, 40)},
                              train=train)
    return VideoClipDataset.from_split(split, index_fn=DenseClipIndices(4, 2), transform=tr,
                                       train=train, views=views,
                                       max_bad_fraction=max_bad_fraction)


def test_check_lists_the_truncated_and_the_empty_file(broken_k400):
    split = kinetics.build_split(broken_k400, "train")
    assert len(split.samples) == 6 and split.missing_ids == ["notthere000_000000_000010"]
    result = check_split(split, workers=2)
    assert result["total"] == 7 and result["usable"] == 4
    assert [p.rsplit("/", 1)[-1] for p in result["missing"]] == ["notthere000_000000_000010.mp4"]
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in result["unreadable"]) == BAD
    reasons = dict((p.rsplit("/", 1)[-1], r) for p, r in result["unreadable"])
    assert "empty" in reasons[BAD[0]]
    assert result["usable_share"] == pytest.approx(4 / 7)
    text = format_report("k400/train", result)
    assert "4 of 7 videos usable" in text and BAD[1] in text


def test_training_epoch_finishes_and_counts_bad_videos(broken_k400):
    split = kinetics.build_split(broken_k400, "train")
    ds = _dataset(split, True, max_bad_fraction=0.5)
    loader = make_loader(ds, SPEC, batch_size=2, shuffle=True, seed=0)
    seen = 0
    for batch in loader:
        assert batch["frames"].shape[1:] == (3, 4, 32, 32)
        assert batch["bad_video_index"] == []
        seen += batch["frames"].shape[0]
    assert seen == 6  # bad videos were replaced, every item was delivered
    assert _bad_names(ds.bad_samples()) == BAD  # recorded by the worker processes
    summary = ds.bad_summary()
    assert summary["bad"] == 2 and summary["total"] == 6 and summary["share"] == pytest.approx(1 / 3)
    assert fingerprint(ds)["found"] == 6 and fingerprint(ds)["n_missing"] == 1


def test_eval_drops_bad_videos_without_replacing_them(broken_k400):
    split = kinetics.build_split(broken_k400, "train")
    ds = _dataset(split, False, max_bad_fraction=0.5, views=(2, 3))
    loader = make_loader(ds, SPEC, batch_size=4, shuffle=False, seed=0)
    views: dict[int, list[int]] = {}
    dropped: set[int] = set()
    for batch in loader:
        dropped.update(batch["bad_video_index"])
        if batch["frames"] is None:
            continue
        for v, view in zip(batch["video_index"].tolist(), batch["view_index"].tolist(),
                           strict=True):
            views.setdefault(v, []).append(view)
    bad_idx = {i for i, s in enumerate(split.samples) if s.path.name in BAD}
    assert dropped == bad_idx
    assert set(views) == set(range(6)) - bad_idx
    assert all(sorted(v) == list(range(6)) for v in views.values())  # every view, once
    assert _bad_names(ds.bad_samples()) == BAD


@pytest.mark.parametrize("workers", [0, 2])
def test_too_many_bad_videos_stop_the_run(broken_k400, workers):
    split = kinetics.build_split(broken_k400, "train")
    ds = _dataset(split, True, max_bad_fraction=0.2)  # 2 of 6 are bad
    spec = LoaderSpec(num_workers=workers, persistent_workers=False, drop_last=False)
    loader = make_loader(ds, spec, batch_size=6, shuffle=False, seed=0)
    with pytest.raises(TooManyBadSamples) as info:
        for _ in loader:
            pass
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert "\n" not in message and "Traceback" not in message
    assert "above the declared max_bad_fraction 20.00%" in message and "data check" in message


def test_loader_is_reproducible_for_a_seed(broken_k400):
    split = kinetics.build_split(broken_k400, "train")

    def run(seed):
        ds = _dataset(split, True, max_bad_fraction=0.5)
        loader = make_loader(ds, SPEC, batch_size=3, shuffle=True, seed=seed)
        return [(b["video_index"].tolist(), b["frames"]) for b in loader]

    a, b, c = run(1), run(1), run(2)
    assert [x[0] for x in a] == [x[0] for x in b]
    assert all(torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert [x[0] for x in a] != [x[0] for x in c] or \
        not all(torch.equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_truncated_faststart_mp4_is_caught(tmp_path):
    """With the index (moov) first, a cut file still opens: the packet count gives it away."""
    import av

    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=30)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(30):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (32, 32, 3), np.uint8),
                                           format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = path.read_bytes()
    assert check_video(VideoSample("ok", path, 0)) == ("ok", None)
    for frac in (0.5, 0.99):
        cut = tmp_path / f"cut{frac}.mp4"
        cut.write_bytes(data[: int(len(data) * frac)])
        status, reason = check_video(VideoSample("cut", cut, 0))
        assert status == "unreadable" and reason


def test_loader_spec_from_recipe_options():
    spec = LoaderSpec.from_mapping({"num_workers": 7, "prefetch_factor": 4})
    assert spec.num_workers == 7 and spec.pin_memory and spec.persistent_workers
    with pytest.raises(UserError, match="unknown loader settings"):
        LoaderSpec.from_mapping({"workers": 7})


def test_frame_folders_with_a_corrupt_last_frame(tmp_path):
    paths = synthetic.write_frame_folders(tmp_path, n_per_class=1, frames=8, size=32)
    split = ssv1.build_split(tmp_path, "train")
    broken = split.samples[1].path
    (broken / "00008.jpg").write_bytes(b"not a jpeg")  # last: found by the check
    (broken / "00005.jpg").write_bytes(b"")  # middle: read by the eval clip
    shutil.rmtree(split.samples[2].path)
    result = check_dataset(split.samples, workers=1)
    assert result["missing"] == [str(split.samples[2].path)]
    assert [p for p, _ in result["unreadable"]] == [str(broken / "00008.jpg")] or \
        [p for p, _ in result["unreadable"]] == [str(broken)]
    tr = build_clip_transform({"dataset": "ssv1", "crop_size": 32}, train=False)
    ds = VideoClipDataset.from_split(split, index_fn=SegmentIndices(8), transform=tr,
                                     train=False, max_bad_fraction=0.5)
    items = [ds[i] for i in range(len(ds))]
    assert [it["ok"] for it in items] == [True, False, False, True]
    frame = np.asarray(Image.open(split.samples[0].path / "00001.jpg"))
    assert items[0]["frames"].shape == (3, 8, 32, 32) and frame.shape == (32, 32, 3)
    assert paths["train"].exists()
