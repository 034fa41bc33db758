import numpy as np
import pytest

from reproducers.common.tracking import ByteTracker, interpolate_tracks, stack_track_results


def rows(track_id, frames, x0=0.0, score=0.8):
    """One row per frame; the box moves 2 px/frame in x, so interpolation is exact."""
    frames = np.asarray(frames, dtype=np.float64)
    x = x0 + 2.0 * frames
    return np.column_stack([frames, np.full_like(frames, track_id), x, x + 1, x + 10,
                            x + 20, np.full_like(frames, score)])


def of_track(out, track_id):
    return out[out[:, 1] == track_id]


def test_fills_gap_linearly_with_score_one():
    track = rows(0, [0, 1, 2, 3, 4, 10])
    track[-1, 2:6] += [6.0, 0.0, 0.0, 12.0]  # the right box is also larger
    out = interpolate_tracks(track)
    assert out[:, 0].tolist() == list(range(11))
    filled = out[5:10]
    assert filled[:, 1].tolist() == [0] * 5 and filled[:, 6].tolist() == [1.0] * 5
    left, right = track[4, 2:6], track[5, 2:6]
    for j, r in enumerate(filled, start=1):
        np.testing.assert_allclose(r[2:6], left + j / 6 * (right - left), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out[[0, 1, 2, 3, 4, 10]], track)  # originals untouched


@pytest.mark.parametrize("gap,filled", [(2, 1), (19, 18), (20, 0), (25, 0)])
def test_gap_length_limit(gap, filled):
    """Frame difference d is filled iff 1 < d < max_num_frames (20)."""
    track = rows(3, [0, 1, 2, 3, 4, 5, 5 + gap])
    out = interpolate_tracks(track, min_num_frames=5, max_num_frames=20)
    assert len(out) == len(track) + filled


def test_track_length_limits_and_short_tracks_dropped():
    data = np.concatenate([
        rows(0, [0]),                     # 1 row: dropped
        rows(1, [0, 5]),                  # 2 rows: dropped
        rows(2, [0, 1, 5]),               # 3 rows: kept, not interpolated
        rows(3, [0, 1, 2, 3, 8]),         # 5 rows (= min_num_frames): kept as is
        rows(4, [0, 1, 2, 3, 4, 8]),      # 6 rows (> min_num_frames): interpolated
        rows(6, [2, 3, 4]),               # id 5 absent
    ])
    out = interpolate_tracks(data, min_num_frames=5, max_num_frames=20)
    assert sorted(set(out[:, 1].tolist())) == [2, 3, 4, 6]
    assert len(of_track(out, 2)) == 3 and len(of_track(out, 3)) == 5
    assert of_track(out, 4)[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert np.all(np.diff(out[:, 0]) >= 0)  # ordered by frame


def test_empty_and_all_dropped():
    assert interpolate_tracks(np.zeros((0, 7))).shape == (0, 7)
    assert interpolate_tracks(rows(0, [0, 1])).shape == (0, 7)


def test_stack_track_results_and_tracker_pipeline():
    """Occlusion scene: the tracker re-finds the object; interpolation fills the hole with
    score-1 boxes; a 2-frame false positive disappears."""
    tracker = ByteTracker()
    outs = []
    for f in range(20):
        bboxes, scores = [[900.0, 500.0, 920.0, 540.0]], [0.9]  # static distractor
        if not 8 <= f < 11:
            x = 100 + 5.0 * f
            bboxes.append([x, 100.0, x + 20, 140.0])
            scores.append(0.8)
        if f in (3, 4):
            bboxes.append([500.0, 300.0, 520.0, 340.0])
            scores.append(0.95)
        outs.append(tracker.update(f, np.array(bboxes), np.array(scores)))
    table = stack_track_results(outs)
    assert table.shape[1] == 7 and table.dtype == np.float64
    assert set(table[:, 1].tolist()) == {0, 1, 2}  # id 2: the 2-frame false positive
    out = interpolate_tracks(table)
    assert set(out[:, 1].tolist()) == {0, 1}
    obj = of_track(out, 1)
    assert obj[:, 0].tolist() == list(range(20))
    np.testing.assert_allclose(obj[8:11, 2], [140.0, 145.0, 150.0])
    assert obj[8:11, 6].tolist() == [1.0, 1.0, 1.0]
    assert obj[7, 6] == pytest.approx(0.8)
