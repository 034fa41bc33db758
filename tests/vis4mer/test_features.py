"""Prepare stage on tiny synthetic videos, with tiny randomly initialised backbones."""

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

from reproducers.harness.errors import UserError
from reproducers.vis4mer import features as F
from reproducers.vis4mer.backbones import SwinFeatures, ViTFeatures, _load, convert_mmaction_swin
from reproducers.vis4mer.builders import build_breakfast, build_coin, build_lvu

GRAY_STEP = 5  # frame i is a uniform image of grey level 5 * i

try:
    av.codec.Codec("libx264", "w")
except Exception:  # pragma: no cover - PyAV wheels ship libx264
    pytest.skip("PyAV has no libx264 encoder to write the test videos", allow_module_level=True)


def write_video(path: Path, n: int, fps: int = 15, h: int = 48, w: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt, s.options = w, h, "yuv420p", {"qp": "0"}
        for i in range(n):
            img = np.full((h, w, 3), GRAY_STEP * i, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


class Recorder(nn.Module):
    """Wraps a backbone and records which frames (by grey level) it was shown."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.inputs = inner, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.inner(x)

    def frame_indices(self, frame_dims) -> list:
        return [np.rint(x.mean(dim=frame_dims).numpy() * 255 / GRAY_STEP).astype(int).tolist()
                for x in self.inputs]


def tiny_vit():
    import timm

    torch.manual_seed(0)
    return ViTFeatures(timm.create_model("vit_large_patch16_224", pretrained=False, depth=1,
                                         embed_dim=32, num_heads=2, num_classes=0))


def tiny_swin():
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    torch.manual_seed(0)
    return SwinFeatures(SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=8, depths=[1, 1, 1, 1],
                                          num_heads=[1, 1, 1, 1], window_size=[8, 7, 7],
                                          num_classes=1))


# ---------------------------------------------------------------- formulas


def test_lvu_frame_indices():
    assert F.lvu_frame_indices(100, 4) == [0, 25, 50, 75, 99]
    assert F.lvu_frame_indices(95, 4) == [0, 23, 47, 71, 94]  # int(95 / 4 * i), then last


def test_segment_starts_train_rule():
    assert F.segment_starts(100, 512) == list(range(68))  # short: every frame
    starts = F.segment_starts(2000, 64)  # Breakfast test video: 64 over [0, 1968)
    assert starts == [int(i * 30.75) for i in range(64)] and starts[:4] == [0, 30, 61, 92]
    long = F.segment_starts(600, 512)
    assert len(long) == 512 and long[:12] == [int(i * 568 / 512) for i in range(12)]
    assert F.segment_starts(20, 64) == [0]  # shorter than one segment (official: empty)


def test_coin_test_starts():
    assert F.coin_test_starts(3000, 64) == [int(i * 3000 / 64) for i in range(64)]  # >= 64*32
    assert F.coin_test_starts(1000, 64) == [int(i * 968 / 64) for i in range(64)]
    assert F.coin_test_starts(10, 64) == [0]


def test_moviepy_frame_index_round_trips():
    for fps in (15.0, 25.0, 30000 / 1001):
        assert [F.moviepy_frame_index(i / fps, fps) for i in range(3000)] == list(range(3000))


def test_resize_area():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 448, 448, 3), dtype=np.uint8)
    out = F.resize_area(img, 224).numpy()
    block = img[0].reshape(224, 2, 224, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(out[0] - np.rint(block)).max() <= 1  # integer factor: block mean
    flat = np.full((2, 48, 64, 3), 77, np.uint8)
    assert (F.resize_area(flat, 224).numpy() == 77).all()  # upscaling keeps constants


def test_resize_area_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    for h, w in [(360, 640), (240, 320), (150, 300), (500, 200), (100, 150), (89, 693)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA).astype(int)
        assert np.abs(F.resize_area(img[None], 224).numpy()[0] - ref).max() <= 1


def test_read_frames(tmp_path):
    video = write_video(tmp_path / "v.mp4", 40)
    assert F.count_frames(video) == 40
    assert F.video_timing(video) == (15.0, 2.67)  # 40 / 15 s, printed to centiseconds
    got = [(i, round(f.mean() / GRAY_STEP)) for i, f in F.read_frames(video, [45, 3, 0, 3, 39])]
    assert got == [(0, 0), (3, 3), (39, 39), (45, 39)]  # past the end: the last frame
    chunked = [(i, round(f.mean() / GRAY_STEP))
               for i, f in F.read_frames(video, [45, 3, 0, 3, 39], chunk=2)]
    assert chunked == got  # decoding in chunks changes nothing


# ---------------------------------------------------------------- LVU


def lvu_root(tmp_path: Path) -> tuple[Path, Path]:
    root, videos = tmp_path / "data", tmp_path / "videos"
    d = root / "lvu_1.0" / "relationship"
    d.mkdir(parents=True)
    header = "class_id class_name youtube_id imdb_id\n"
    (d / "train.csv").write_text(header + "1 ex vidOne tt1\n")
    (d / "val.csv").write_text(header)
    (d / "test.csv").write_text(header + "0 friend vid-Two tt2\n")
    (root / "lvu_1.0" / "lvu_durations.csv").write_text("videoid,duration\nvidOne,3\nvid-Two,2\n")
    write_video(videos / "vidOne.mp4", 40, fps=10)
    write_video(videos / "vid-Two.mp4", 21, fps=10)
    return root, videos


def test_prepare_lvu_frames_shapes_and_round_trip(tmp_path):
    root, videos = lvu_root(tmp_path)
    rec = Recorder(tiny_vit())
    logs = []
    summary = F.prepare_lvu(videos, root, {"task": "relationship"}, None, "cpu", logs.append,
                            backbone=rec)
    assert summary == {"written": 2, "skipped_existing": 0, "missing_videos": []}
    # 40 frames over 3 s: int(40/3*i) = 0, 13, 26 and the last frame 39; 21 over 2 s: 0, 10, 20
    assert rec.frame_indices((1, 2, 3)) == [[0, 13, 26, 39], [0, 10, 20]]
    assert float(rec.inputs[0].max()) <= 1.0  # [0, 1] pixels, no mean/std normalisation
    one = np.load(root / "vit_features_spatial" / "vidOne.npy")
    assert one.shape == (4, 197, 32) and one.dtype == np.float32
    ds = build_lvu(root, "train", {"task": "relationship", "l_secs": 2, "tokens": 197, "dim": 32},
                   train=False)
    assert ds.num_spans == 2 and ds[1][0].shape == (2 * 197, 32)
    np.testing.assert_array_equal(ds[1][0].numpy(), one[1:3].reshape(-1, 32))

    F.prepare_lvu(videos, root, {"task": "relationship", "normalize": True, "dtype": "float64",
                                 "features_dir": "norm"}, None, "cpu", logs.append, backbone=rec)
    assert float(rec.inputs[-1].min()) == pytest.approx(-1.0, abs=0.02)  # (x - 0.5) / 0.5
    assert np.load(root / "norm" / "vidOne.npy").dtype == np.float64


def test_prepare_skips_existing_reports_missing_and_errors(tmp_path):
    root, videos = lvu_root(tmp_path)
    dest = root / "vit_features_spatial" / "vidOne.npy"
    dest.parent.mkdir(parents=True)
    np.save(dest, np.zeros((4, 197, 32), np.float32))
    (videos / "vid-Two.mp4").unlink()
    rec = Recorder(tiny_vit())
    summary = F.prepare_lvu(videos, root, {"task": "relationship"}, None, "cpu", lambda s: None,
                            backbone=rec)
    assert summary == {"written": 0, "skipped_existing": 1, "missing_videos": ["vid-Two"]}
    assert rec.inputs == [] and not np.load(dest).any()
    dest.unlink()
    with pytest.raises(UserError, match="none of the 2 videos was found"):
        F.prepare_lvu(tmp_path / "data", root, {"task": "relationship"}, None, "cpu",
                      lambda s: None, backbone=rec)
    with pytest.raises(UserError, match="--videos .* does not exist"):
        F.prepare_lvu(tmp_path / "nope", root, {}, None, "cpu", print, backbone=rec)
    with pytest.raises(UserError, match="--weights is required"):
        F.prepare_lvu(videos, root, {"task": "relationship"}, None, "cpu", print)
    with pytest.raises(UserError, match="--weights .*missing.pth not found"):
        F.prepare_lvu(videos, root, {"task": "relationship"}, tmp_path / "missing.pth", "cpu",
                      print)


def test_interrupted_run_leaves_no_partial_file(tmp_path, monkeypatch):
    root, videos = lvu_root(tmp_path)
    out = root / "vit_features_spatial"

    class Boom(nn.Module):  # works for the first video, dies on the second
        def __init__(self):
            super().__init__()
            self.inner, self.calls = tiny_vit(), 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt
            return self.inner(x)

    with pytest.raises(KeyboardInterrupt):
        F.prepare_lvu(videos, root, {"task": "relationship"}, None, "cpu", lambda s: None,
                      backbone=Boom())
    assert sorted(p.name for p in out.iterdir()) == ["vidOne.npy"]

    def half_save(f, array):  # the process dies in the middle of writing the file
        f.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(F.np, "save", half_save)
    with pytest.raises(KeyboardInterrupt):
        F.save_npy_atomic(out / "vid-Two.npy", np.zeros(3))
    assert sorted(p.name for p in out.iterdir()) == ["vidOne.npy"]  # no temp file either
    monkeypatch.undo()
    rec = Recorder(tiny_vit())
    summary = F.prepare_lvu(videos, root, {"task": "relationship"}, None, "cpu", lambda s: None,
                            backbone=rec)
    assert (summary["written"], summary["skipped_existing"]) == (1, 1)
    assert rec.frame_indices((1, 2, 3)) == [[0, 10, 20]]


# ---------------------------------------------------------------- Breakfast / COIN


def test_prepare_breakfast_segments(tmp_path):
    root, videos = tmp_path / "data", tmp_path / "BreakfastII_15fps_qvga_sync"
    (root / "breakfast").mkdir(parents=True)
    head = "file_name,duration,action,class_id\n"
    (root / "breakfast" / "train.csv").write_text(
        head + "P03-cam01-P03_cereals,3,cereals,0\nP28-cam01-P28_cereals,26,cereals,0\n")
    (root / "breakfast" / "test.csv").write_text(head + "P47-stereo-P47_tea_ch0,3,tea,2\n")
    write_video(videos / "P03" / "cam01" / "P03_cereals.avi", 40)
    write_video(videos / "P47" / "stereo" / "P47_tea_ch0.avi", 36)
    rec = Recorder(tiny_swin())
    summary = F.prepare_breakfast(videos, root, {"train_segments": 4, "batch_size": 3}, None,
                                  "cpu", lambda s: None, backbone=rec)
    assert summary["written"] == 2 and summary["missing_videos"] == []  # P28 cereals dropped
    clips = [c for batch in rec.frame_indices((1, 3, 4)) for c in batch]
    # train: 40 frames >= 4 + 32, starts 0, 2, 4, 6; test: 36 < 64 + 32, every start 0..3
    assert [c[0] for c in clips] == [0, 2, 4, 6, 0, 1, 2, 3]
    assert all(c == list(range(c[0], c[0] + 32)) for c in clips)  # 32 consecutive frames
    feats = root / "breakfast" / "video_swin_features" / "temporal_mean_pooling"
    arr = np.load(feats / "P03-cam01-P03_cereals.npy")
    assert arr.shape == (4, 49, 64) and arr.dtype == np.float32
    ds = build_breakfast(root, "test", {"segments": 8, "tokens": 49, "dim": 64}, train=False)
    assert ds[0][0].shape == (8 * 49, 64)


def test_prepare_coin_window(tmp_path):
    import json

    root, videos = tmp_path / "data", tmp_path / "videos"
    (root / "COIN").mkdir(parents=True)
    db = {"trainvid": {"subset": "training", "recipe_type": 3, "start": 0.5, "end": 3.5},
          "testvid": {"subset": "testing", "recipe_type": 4, "start": 0.0, "end": 3.0},
          "AfiVmAjfTNs": {"subset": "training", "recipe_type": 1, "start": 0.0, "end": 3.0}}
    (root / "COIN" / "COIN.json").write_text(json.dumps({"database": db}))
    write_video(videos / "SomeTask" / "trainvid.mp4", 50)
    write_video(videos / "testvid.mp4", 50)
    rec = Recorder(tiny_swin())
    summary = F.prepare_coin(videos, root, {"train_segments": 4, "test_segments": 2}, None, "cpu",
                             lambda s: None, backbone=rec)
    assert summary["written"] == 2
    starts = [c[0] for batch in rec.frame_indices((1, 3, 4)) for c in batch]
    # training: 45 frames in [0.5 s, 3.5 s): starts 0, 3, 6, 9 counted from frame
    # int(15 * 0.5) = 7; testing: 45 frames < 2 * 32, step 13 / 2 -> starts 0, 6
    assert starts == [7, 10, 13, 16, 0, 6]
    ds = build_coin(root, "training", {"segments": 4, "tokens": 49, "dim": 64}, train=False)
    assert ds.ids == ["trainvid"] and ds[0][0].shape == (4 * 49, 64)


def test_convert_mmaction_swin_names():
    swin = tiny_swin().swin
    swin.head = nn.Identity()
    official = {}  # the same tensors under Video-Swin / mmaction names
    for k, v in swin.state_dict().items():
        if k.startswith("features."):
            stage, rest = k.split(".", 2)[1:]
            stage = int(stage)
            rest = rest.replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")
            k = (f"layers.{stage // 2}.blocks.{rest}" if stage % 2 == 0
                 else f"layers.{stage // 2}.downsample.{rest}")
        official[f"backbone.{k}"] = v.clone() + 1
    official["cls_head.fc_cls.weight"] = torch.zeros(3, 64)
    converted = convert_mmaction_swin(official)
    assert "features.2.0.mlp.0.weight" in converted and "features.1.reduction.weight" in converted
    _load(swin, converted, Path("ckpt.pth"), ignore=("head.",))
    torch.testing.assert_close(swin.norm.weight, official["backbone.norm.weight"])
    with pytest.raises(UserError, match="does not fit the backbone"):
        _load(swin, {"bogus": torch.zeros(1)}, Path("ckpt.pth"), ignore=("head.",))
