"""ViS4mer loaders on small hand-made data in the official formats."""

import hashlib
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from reproducers.harness.errors import UserError
from reproducers.vis4mer.builders import build_breakfast, build_coin, build_lvu
from reproducers.vis4mer.data import fingerprint
from reproducers.vis4mer.lvu_data import LIKE_RATIO_MEAN, VIEW_COUNT_LOG_MEAN
from reproducers.vis4mer.segments_data import select_segments

TOK, DIM = 2, 3
LVU_CFG = {"task": "relationship", "l_secs": 3, "tokens": TOK, "dim": DIM}


def frames(n: int, base: float = 0.0) -> np.ndarray:
    """(n, TOK, DIM) with value base + 10*frame + token, so windows can be read back."""
    f = np.arange(n)[:, None, None] * 10.0 + np.arange(TOK)[None, :, None]
    return (base + np.broadcast_to(f, (n, TOK, DIM))).astype(np.float32)


def write_lvu(root: Path, task="relationship", lines=None, durations=None, features=None):
    d = root / "lvu_1.0" / task
    d.mkdir(parents=True, exist_ok=True)
    lines = lines if lines is not None else [
        "class_id class_name youtube_id imdb_id", "2 husband_wife vidA tt001",
        "0 friend vidB tt002"]
    (d / "test.csv").write_text("\n".join(lines) + "\n")
    durations = durations if durations is not None else {"vidA": 5, "vidB": 1}
    (root / "lvu_1.0" / "lvu_durations.csv").write_text(
        "videoid,duration\n" + "".join(f"{k},{v}\n" for k, v in durations.items()))
    feats = root / "vit_features_spatial"
    feats.mkdir(exist_ok=True)
    features = features if features is not None else {"vidA": frames(6), "vidB": frames(2, 1000)}
    for vid, arr in features.items():
        np.save(feats / f"{vid}.npy", arr)
    return d / "test.csv"


def test_lvu_spans_and_windows(tmp_path):
    write_lvu(tmp_path)
    ds = build_lvu(tmp_path, "test", LVU_CFG, train=False)
    # vidA: duration 5, l_secs 3 -> 1 + (5 - 3) = 3 spans; vidB: duration 1 -> 1 span
    assert ds.ids == ["vidA", "vidB"]
    assert ds.span_video.tolist() == [0, 0, 0, 1] and ds.span_start.tolist() == [0, 1, 2, 0]
    assert len(ds) == 4 and ds.seq_len == 3 * TOK
    x, y, v = ds[2]  # vidA from second 2: frames 2, 3, 4, flattened frame-major
    assert x.shape == (3 * TOK, DIM) and x.dtype == torch.float32
    assert x[:, 0].tolist() == [20, 21, 30, 31, 40, 41]
    assert (y.item(), v) == (2, 0) and y.dtype == torch.int64
    x, y, v = ds[3]  # vidB: 2 frames (duration + 1) then one zero frame
    assert x[:, 0].tolist() == [1000, 1001, 1010, 1011, 0, 0] and (y.item(), v) == (0, 1)
    assert ds.video_targets.tolist() == [2, 0]


def test_lvu_train_draws_spans_uniformly_over_all_spans(tmp_path):
    write_lvu(tmp_path)
    ds = build_lvu(tmp_path, "test", dict(LVU_CFG, seed=3), train=True)
    assert len(ds) == 2  # number of videos, not spans (official quirk)
    videos = [ds[0][2] for _ in range(4000)]
    assert abs(np.mean(np.array(videos) == 0) - 0.75) < 0.03  # vidA has 3 of the 4 spans
    again = build_lvu(tmp_path, "test", dict(LVU_CFG, seed=3), train=True)
    assert [again[0][2] for _ in range(50)] == videos[:50]
    per_video = build_lvu(tmp_path, "test", dict(LVU_CFG, span_sampling="per_video"), train=True)
    assert {per_video[1][2] for _ in range(20)} == {1}


def test_lvu_regression_targets(tmp_path):
    write_lvu(tmp_path, "like_ratio", ["like_count dislike_count youtube_id imdb_id",
                                       "900 100 vidA tt1", "30 10 vidB tt2"])
    ds = build_lvu(tmp_path, "test", dict(LVU_CFG, task="like_ratio"), train=False)
    np.testing.assert_allclose(ds.video_targets, [9.0 - 9.138220535629456, 7.5 - LIKE_RATIO_MEAN])
    assert ds[0][1].dtype == torch.float32 and ds.task_type == "regression"
    write_lvu(tmp_path, "view_count", ["view_count youtube_id imdb_id", "1000 vidA tt1",
                                       "100124 vidB tt2"])
    ds = build_lvu(tmp_path, "test", dict(LVU_CFG, task="view_count"), train=False)
    np.testing.assert_allclose(ds.video_targets, [math.log(1000) - 11.76425435683139,
                                                  math.log(100124) - VIEW_COUNT_LOG_MEAN])


def test_lvu_expected_counts_and_fingerprint(tmp_path):
    write_lvu(tmp_path)
    fp = fingerprint(build_lvu(tmp_path, "test", LVU_CFG, train=False))
    assert fp["found"] == 2 and fp["expected"] == 42 and fp["n_missing"] == 0
    assert fp["id_hash"] == hashlib.sha256(b"vidA\nvidB").hexdigest()


def test_missing_root_and_split_file(tmp_path):
    with pytest.raises(UserError, match=str(tmp_path / "nope")):
        build_lvu(tmp_path / "nope", "test", LVU_CFG, train=False)
    with pytest.raises(UserError, match=r"lvu_1\.0/relationship/test\.csv not found"):
        build_lvu(tmp_path, "test", LVU_CFG, train=False)
    with pytest.raises(UserError, match="not an LVU task"):
        build_lvu(tmp_path, "test", {"task": "nope"}, train=False)


@pytest.mark.parametrize("bad, message", [
    ("0 friend", "expected at least 3"),
    ("x friend vidC tt3", "not a number"),
    ("7 friend vidC tt3", r"class id 7 outside 0\.\.3"),
    ("0 friend vidA tt3", "already listed at line 2"),
])
def test_malformed_split_line_names_file_and_line(tmp_path, bad, message):
    csv = write_lvu(tmp_path, lines=["class_id class_name youtube_id imdb_id",
                                     "2 husband_wife vidA tt001", bad])
    with pytest.raises(UserError, match=message) as err:
        build_lvu(tmp_path, "test", LVU_CFG, train=False)
    assert f"{csv}:3" in str(err.value)


def test_headerless_split_and_missing_duration(tmp_path):
    write_lvu(tmp_path, lines=["2 husband_wife vidA tt001"])
    with pytest.raises(UserError, match=r"test\.csv:1: first line must be the header"):
        build_lvu(tmp_path, "test", LVU_CFG, train=False)
    write_lvu(tmp_path, durations={"vidA": 5})
    with pytest.raises(UserError, match=r"lvu_durations\.csv: no duration for video vidB"):
        build_lvu(tmp_path, "test", LVU_CFG, train=False)


def test_missing_and_misshapen_feature_files(tmp_path):
    write_lvu(tmp_path, features={"vidA": frames(6)})
    missing = tmp_path / "vit_features_spatial" / "vidB.npy"
    with pytest.raises(UserError, match="1 of 2 feature files missing") as err:
        build_lvu(tmp_path, "test", LVU_CFG, train=False)
    assert str(missing) in str(err.value)
    ds = build_lvu(tmp_path, "test", dict(LVU_CFG, allow_missing=True), train=False)
    assert ds.ids == ["vidA"]
    fp = fingerprint(ds)
    assert (fp["found"], fp["missing"], fp["n_missing"]) == (1, ["vidB"], 1)
    np.save(missing, np.zeros((2, 5, DIM), np.float32))
    with pytest.raises(UserError, match=r"vidB\.npy has shape \(2, 5, 3\), expected \(n, 2, 3\)"):
        build_lvu(tmp_path, "test", LVU_CFG, train=False)


# ---------------------------------------------------------------- segment selection


def test_select_segments_eval_official_formula():
    # more segments than needed: evenly strided, float32 arange(0, n, n/64) truncated
    idx = select_segments(100, 64, train=False)
    assert idx[:8].tolist() == [0, 1, 3, 4, 6, 7, 9, 10] and idx[-1] == 98 and len(idx) == 64
    assert idx.tolist() == [i * 100 // 64 for i in range(64)]
    assert select_segments(512, 64, train=False).tolist() == list(range(0, 512, 8))
    # fewer: evenly spaced with repeats, train and eval alike
    few = select_segments(30, 64, train=False)
    assert few[:8].tolist() == [0, 0, 0, 1, 1, 2, 2, 3] and few[-1] == 29 and len(few) == 64
    assert select_segments(30, 64, train=True, rng=random.Random(0)).tolist() == few.tolist()
    assert select_segments(64, 64, train=True).tolist() == list(range(64))


def test_select_segments_train_is_official_random_sample_sorted():
    random.seed(1112)  # the official scripts seed python's global RNG with 1112
    official = sorted(random.sample(range(100), 64))
    ours = select_segments(100, 64, train=True, rng=random.Random(1112))
    assert ours.tolist() == official
    assert len(set(ours.tolist())) == 64 and ours.min() >= 0 and ours.max() < 100


# ---------------------------------------------------------------- Breakfast / COIN

SEG_CFG = {"segments": 4, "tokens": TOK, "dim": DIM}


def write_breakfast(root: Path, rows, n_segments):
    d = root / "breakfast"
    (d / "video_swin_features" / "temporal_mean_pooling").mkdir(parents=True, exist_ok=True)
    (d / "test.csv").write_text("file_name,duration,action,class_id\n" + "\n".join(rows) + "\n")
    for name, n in n_segments.items():
        np.save(d / "video_swin_features" / "temporal_mean_pooling" / f"{name}.npy", frames(n))
    return d / "test.csv"


def test_breakfast_loader(tmp_path):
    write_breakfast(tmp_path, ["P47-cam01-P47_tea,33,tea,2", "P28-cam01-P28_cereals,26,cereals,0",
                               "P47-cam01-P47_milk,67,milk,8"],
                    {"P47-cam01-P47_tea": 10, "P47-cam01-P47_milk": 3})
    ds = build_breakfast(tmp_path, "test", SEG_CFG, train=False)
    assert ds.ids == ["P47-cam01-P47_tea", "P47-cam01-P47_milk"]  # P28-cam01 cereals dropped
    x, y, v = ds[0]
    assert x.shape == (4 * TOK, DIM) and (y.item(), v) == (2, 0)
    assert x[::TOK, 0].tolist() == [0, 20, 50, 70]  # segments 0, 2, 5, 7 of 10
    x, _, _ = ds[1]
    assert x[::TOK, 0].tolist() == [0, 0, 10, 20]  # 3 segments -> 0, 0, 1, 2
    train = build_breakfast(tmp_path, "test", dict(SEG_CFG, seed=1), train=True)
    seg = train[0][0][::TOK, 0] / 10
    assert seg.tolist() == sorted(seg.tolist()) and len(set(seg.tolist())) == 4
    assert fingerprint(ds)["expected"] == 355


def test_breakfast_errors(tmp_path):
    with pytest.raises(UserError, match=r"breakfast/train\.csv not found"):
        build_breakfast(tmp_path, "train", SEG_CFG, train=True)
    csv = write_breakfast(tmp_path, ["P47-cam01-P47_tea,33,tea"], {})
    with pytest.raises(UserError, match="expected 4 comma-separated fields") as err:
        build_breakfast(tmp_path, "test", SEG_CFG, train=False)
    assert f"{csv}:2" in str(err.value)
    write_breakfast(tmp_path, ["P47-cam01-P47_tea,33,tea,10"], {})
    with pytest.raises(UserError, match=r"class id 10 outside 0\.\.9"):
        build_breakfast(tmp_path, "test", SEG_CFG, train=False)
    write_breakfast(tmp_path, ["P47-cam01-P47_tea,33,tea,2"], {})
    with pytest.raises(UserError, match=r"temporal_mean_pooling/P47-cam01-P47_tea\.npy"):
        build_breakfast(tmp_path, "test", SEG_CFG, train=False)


def write_coin(root: Path, database: dict, n_segments: dict):
    d = root / "COIN"
    (d / "features" / "temporal_mean_pooling").mkdir(parents=True, exist_ok=True)
    (d / "COIN.json").write_text(json.dumps({"database": database}))
    for vid, n in n_segments.items():
        np.save(d / "features" / "temporal_mean_pooling" / f"{vid}.npy", frames(n))


def entry(subset, recipe):
    return {"subset": subset, "recipe_type": recipe, "start": 1.0, "end": 9.5, "class": "x"}


def test_coin_loader(tmp_path):
    write_coin(tmp_path, {"a1": entry("training", 5), "AfiVmAjfTNs": entry("training", 1),
                          "b2": entry("testing", 179), "c3": entry("training", 0)},
               {"a1": 6, "b2": 4, "c3": 4})
    train = build_coin(tmp_path, "train", SEG_CFG, train=True)
    assert train.split == "training" and train.ids == ["a1", "c3"]  # excluded id skipped
    assert train.video_targets.tolist() == [5, 0] and train.num_outputs == 180
    test = build_coin(tmp_path, "testing", SEG_CFG, train=False)
    assert test.ids == ["b2"] and test[0][1].item() == 179
    assert fingerprint(test)["expected"] is None


def test_coin_errors(tmp_path):
    with pytest.raises(UserError, match=r"COIN/COIN\.json not found"):
        build_coin(tmp_path, "training", SEG_CFG, train=True)
    (tmp_path / "COIN").mkdir()
    (tmp_path / "COIN" / "COIN.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        build_coin(tmp_path, "training", SEG_CFG, train=True)
    write_coin(tmp_path, {"a1": {"recipe_type": 3}}, {})
    with pytest.raises(UserError, match=r"database\['a1'\] lacks 'subset'"):
        build_coin(tmp_path, "training", SEG_CFG, train=True)
    write_coin(tmp_path, {"a1": entry("training", 180)}, {})
    with pytest.raises(UserError, match=r"class id 180 outside 0\.\.179"):
        build_coin(tmp_path, "training", SEG_CFG, train=True)
    with pytest.raises(UserError, match="COIN split 'val' unknown"):
        build_coin(tmp_path, "val", SEG_CFG, train=False)


def test_train_draws_differ_across_dataloader_workers(tmp_path):
    feats = {f"v{i}": frames(8, 100 * i) for i in range(6)}
    write_lvu(tmp_path, lines=["class_id class_name youtube_id imdb_id"]
              + [f"0 friend v{i} tt{i}" for i in range(6)],
              durations={f"v{i}": 7 for i in range(6)}, features=feats)
    ds = build_lvu(tmp_path, "test", LVU_CFG, train=True)  # 6 videos x 5 spans

    def draw():
        torch.manual_seed(0)
        loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
        return [float(x[0, 0, 0]) for x, _, _ in loader]  # first value: 100*video + 10*start

    first = draw()
    assert first[0::2] != first[1::2]  # the two workers do not replay one random stream
    assert draw() == first  # and the draws are reproducible for a seed
