"""ByteTracker behaviour on hand-made scenes (mmtrack 0.14 semantics, SVM thresholds)."""

import numpy as np
import pytest

from reproducers.common.tracking import (
    ByteTracker,
    ByteTrackerConfig,
    bbox_iou,
    cxcyah_to_xyxy,
    xyxy_to_cxcyah,
)

FAR = (1000.0, 600.0)  # a static distractor far from everything, keeps frames non-empty


def box(cx, cy, w=20.0, h=40.0):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(*items):
    """items: (box, score) pairs -> (bboxes (N, 4), scores (N,))."""
    if not items:
        return np.zeros((0, 4)), np.zeros(0)
    return np.array([b for b, _ in items]), np.array([s for _, s in items])


def step(tracker, frame, *items):
    ids, bboxes, scores = tracker.update(frame, *dets(*items))
    return ids.tolist(), bboxes, scores


def test_box_conversions_and_iou():
    b = np.array([[90.0, 80.0, 110.0, 120.0]])
    assert xyxy_to_cxcyah(b).tolist() == [[100.0, 100.0, 0.5, 40.0]]
    assert cxcyah_to_xyxy(xyxy_to_cxcyah(b)).tolist() == b.tolist()
    shifted = np.array([[102.0, 80.0, 122.0, 120.0]])  # 12 px to the right: IoU 8/32
    assert bbox_iou(b, shifted)[0, 0] == pytest.approx(0.25)
    assert bbox_iou(b, np.array([[200.0, 0, 210, 10]]))[0, 0] == 0.0


def test_constant_velocity_keeps_one_id_and_outputs_detection_boxes():
    t = ByteTracker()
    for f in range(40):
        b = box(50 + 7.0 * f, 100 + 2.0 * f)
        ids, bboxes, scores = step(t, f, (b, 0.9))
        assert ids == [0]
        # the detection box itself, not the Kalman estimate
        np.testing.assert_array_equal(bboxes, np.array([b], dtype=np.float32))
        assert scores.tolist() == [pytest.approx(0.9)]
    assert t.num_tracks == 1
    # the filter has learnt the velocity
    assert t.tracks[0].mean[4] == pytest.approx(7.0, abs=0.05)
    assert t.tracks[0].mean[5] == pytest.approx(2.0, abs=0.05)


def test_first_frame_confirms_detections_above_init_thr():
    t = ByteTracker()
    ids, _, scores = step(t, 0, (box(0, 0), 0.9), (box(100, 0), 0.71), (box(200, 0), 0.7),
                          (box(300, 0), 0.5))
    assert ids == [0, 1]  # 0.7 is not > 0.7
    assert scores.tolist() == pytest.approx([0.9, 0.71])
    assert t.confirmed_ids == [0, 1] and t.unconfirmed_ids == []


def test_frame_zero_resets():
    t = ByteTracker()
    step(t, 0, (box(0, 0), 0.9))
    step(t, 1, (box(0, 0), 0.9), (box(200, 0), 0.9))
    ids, _, _ = step(t, 0, (box(500, 0), 0.9))
    assert ids == [0] and list(t.tracks) == [0]


def test_tracker_empty_mid_video_starts_tentative_tracks():
    t = ByteTracker()
    ids, _, _ = step(t, 5, (box(0, 0), 0.9), (box(100, 0), 0.65))
    assert ids == [0] and t.unconfirmed_ids == [0]


def test_new_track_is_tentative_until_three_hits():
    t = ByteTracker()
    a = box(100, 100)
    step(t, 0, (a, 0.9))
    # frame 1: a new object B (output at once, with a fresh id) and one below the threshold
    ids, _, _ = step(t, 1, (a, 0.9), (box(300, 100), 0.8), (box(500, 100), 0.65))
    assert ids == [0, 1]
    assert t.unconfirmed_ids == [1] and t.tracks[1].hits == 1
    ids, _, _ = step(t, 2, (a, 0.9), (box(302, 100), 0.8))
    assert ids == [0, 1] and t.unconfirmed_ids == [1] and t.tracks[1].hits == 2
    ids, _, _ = step(t, 3, (a, 0.9), (box(304, 100), 0.8))
    assert ids == [0, 1] and t.unconfirmed_ids == [] and 1 in t.confirmed_ids
    # a confirmed track survives a miss
    ids, _, _ = step(t, 4, (a, 0.9))
    assert ids == [0] and 1 in t.tracks
    ids, _, _ = step(t, 5, (a, 0.9), (box(304, 100), 0.8))
    assert ids == [0, 1]


def test_missed_tentative_track_is_deleted():
    t = ByteTracker()
    a = box(100, 100)
    step(t, 0, (a, 0.9))
    step(t, 1, (a, 0.9), (box(300, 100), 0.8))
    step(t, 2, (a, 0.9), (box(300, 100), 0.8))
    ids, _, _ = step(t, 3, (a, 0.9))  # B missed while tentative (2 hits)
    assert ids == [0] and list(t.tracks) == [0]
    ids, _, _ = step(t, 4, (a, 0.9), (box(300, 100), 0.8))
    assert ids == [0, 2]  # a new id; ids are never reused


def test_new_track_needs_score_above_high_threshold():
    t = ByteTracker()
    a = box(100, 100)
    step(t, 0, (a, 0.9))
    ids, _, _ = step(t, 1, (a, 0.9), (box(300, 100), 0.7), (box(400, 100), 0.3))
    assert ids == [0] and t.num_tracks == 1
    ids, _, _ = step(t, 2, (a, 0.9), (box(300, 100), 0.7000001))
    assert ids == [0, 1]


def test_low_score_detection_continues_track_seen_last_frame():
    t = ByteTracker()
    for f in range(5):
        step(t, f, (box(100, 100), 0.9))
    ids, _, scores = step(t, 5, (box(101, 100), 0.3))
    assert ids == [0] and scores.tolist() == [pytest.approx(0.3)]
    # a low-score detection never starts a track
    ids, _, _ = step(t, 6, (box(102, 100), 0.9), (box(400, 100), 0.3))
    assert ids == [0] and t.num_tracks == 1


def test_low_score_detection_ignores_track_lost_last_frame():
    t = ByteTracker()
    for f in range(5):
        step(t, f, (box(100, 100), 0.9), (box(*FAR), 0.9))
    step(t, 5, (box(*FAR), 0.9))  # object 0 missed
    ids, _, _ = step(t, 6, (box(100, 100), 0.3), (box(*FAR), 0.9))
    assert ids == [1]  # round 2 only sees tracks updated in the previous frame
    ids, _, _ = step(t, 7, (box(100, 100), 0.9), (box(*FAR), 0.9))
    assert ids == [0, 1]  # a high score re-finds it in round 1


def test_round_thresholds_and_score_weighting():
    def run(config, shift, score):
        t = ByteTracker(config)
        for f in range(3):  # static: the Kalman box equals the detection exactly
            step(t, f, (box(100, 100), 0.9))
        ids, _, _ = step(t, 3, (box(100 + shift, 100), score))
        return ids

    cfg = ByteTrackerConfig()
    # round 1: IoU * score > 0.1
    assert run(cfg, 12, 0.8) == [0]   # IoU 8/32 = 0.25, weighted 0.2
    assert run(cfg, 16, 0.85) == [1]  # IoU 4/36 = 0.111, weighted 0.094: new track
    unweighted = ByteTrackerConfig(weight_iou_with_det_scores=False)
    assert run(unweighted, 16, 0.85) == [0]
    # round 2 (score <= 0.7): plain IoU > 0.5
    assert run(cfg, 4, 0.5) == [0]   # IoU 16/24 = 0.667
    assert run(cfg, 8, 0.5) == []    # IoU 12/28 = 0.43: dropped, no new track


def test_tentative_round_threshold():
    def run(shift, score):
        t = ByteTracker()
        step(t, 0, (box(*FAR), 0.9))
        step(t, 1, (box(*FAR), 0.9), (box(100, 100), 0.9))  # tentative id 1
        ids, _, _ = step(t, 2, (box(*FAR), 0.9), (box(100 + shift, 100), score))
        return ids

    # the tentative track is matched with its last box (no prediction): IoU * score > 0.3
    assert run(4, 0.8) == [0, 1]    # IoU 16/24 * 0.8 = 0.53
    assert run(10, 0.95) == [0, 1]  # IoU 10/30 * 0.95 = 0.317
    assert run(10, 0.85) == [0, 2]  # IoU 10/30 * 0.85 = 0.283: new track, B deleted


def test_output_order_round1_then_leftovers_then_round2():
    t = ByteTracker()
    step(t, 0, (box(100, 100), 0.9), (box(300, 100), 0.9))
    ids, bboxes, scores = step(t, 1, (box(301, 100), 0.3), (box(600, 100), 0.9),
                               (box(101, 100), 0.9))
    assert ids == [0, 2, 1]
    assert scores.tolist() == pytest.approx([0.9, 0.9, 0.3])
    np.testing.assert_array_equal(bboxes[2], np.array(box(301, 100), np.float32))


def test_tentative_tracks_are_not_predicted():
    t = ByteTracker()
    step(t, 0, (box(*FAR), 0.9))
    for f in range(1, 6):  # B appears at frame 1 moving 5 px/frame, 40 px wide
        step(t, f, (box(*FAR), 0.9), (box(100 + 5.0 * f, 100, w=40), 0.9))
        if f <= 3:
            # tentative through frames 1-2, confirmed by frame 3's update; never predicted yet,
            # and an update cannot create velocity from a diagonal covariance
            assert t.tracks[1].mean[4:].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert t.tracks[1].mean[4] > 0.5  # predicted from frame 4 on: velocity is learnt


def test_lost_track_gets_zero_height_velocity():
    t = ByteTracker()
    for f in range(10):  # growing object: positive height velocity
        step(t, f, (box(100, 100, h=40 + 2.0 * f), 0.9), (box(*FAR), 0.9))
    step(t, 10, (box(*FAR), 0.9))  # first miss: predicted with its velocity
    assert t.tracks[0].mean[7] > 1.0
    h10 = t.tracks[0].mean[3]
    step(t, 11, (box(*FAR), 0.9))  # lost in the previous frame: vh reset before predicting
    assert t.tracks[0].mean[7] == 0.0
    assert t.tracks[0].mean[3] == h10


def test_occlusion_recovered_by_kalman_prediction():
    """Object moving 10 px/frame (boxes 20 px wide) hidden for 5 frames: the raw last box
    has no overlap with the re-appearing one, only the prediction matches it."""
    t = ByteTracker()
    for f in range(25):
        items = [(box(*FAR), 0.9)]
        if not 10 <= f < 15:
            items.insert(0, (box(100 + 10.0 * f, 100), 0.9))
        ids, _, _ = step(t, f, *items)
        assert ids == ([1] if 10 <= f < 15 else [0, 1])
    assert t.num_tracks == 2


def test_frames_without_detections_skip_prediction():
    """mmtrack quirk: a frame with no detection takes the 'empty' branch, which neither
    predicts nor matches. The same occlusion without the distractor loses the object."""
    t = ByteTracker()
    for f in range(16):
        items = [] if 10 <= f < 15 else [(box(100 + 10.0 * f, 100), 0.9)]
        ids, _, _ = step(t, f, *items)
        if f == 9:
            m9 = t.tracks[0].mean.copy()
        if 10 <= f < 15:
            assert ids == []
    assert ids == [1]  # re-appeared at frame 15 as a new track
    assert 0 in t.tracks  # the old one is still retained (last seen at frame 9)
    # its state was predicted once (at frame 15, with vh zeroed), not six times
    expected = m9[:4] + m9[4:] * np.array([1, 1, 1, 0])
    np.testing.assert_allclose(t.tracks[0].mean[:4], expected, rtol=1e-12)


def test_no_detection_frame_deletes_tentative_tracks():
    t = ByteTracker()
    step(t, 0, (box(100, 100), 0.9))
    step(t, 1, (box(100, 100), 0.9), (box(300, 100), 0.9))
    ids, bboxes, scores = step(t, 2)
    assert ids == [] and bboxes.shape == (0, 4) and scores.shape == (0,)
    assert list(t.tracks) == [0]


@pytest.mark.parametrize("gap,same_id", [(29, True), (30, True), (31, False)])
def test_retention_window(gap, same_id):
    """Last seen at frame 4, back at 4 + gap: matched if gap <= num_frames_retain (30)."""
    t = ByteTracker()
    for f in range(5):
        step(t, f, (box(100, 100), 0.9), (box(*FAR), 0.9))
    for f in range(5, 4 + gap):
        step(t, f, (box(*FAR), 0.9))
    ids, _, _ = step(t, 4 + gap, (box(100, 100), 0.9), (box(*FAR), 0.9))
    assert ids == ([0, 1] if same_id else [1, 2])
    assert (0 in t.tracks) == same_id


def test_two_objects_crossing_keep_their_ids():
    t = ByteTracker()
    for f in range(40):
        a = box(100 + 6.0 * f, 100)   # moving right
        b = box(340 - 6.0 * f, 108)   # moving left, 8 px lower: boxes overlap when crossing
        ids, bboxes, _ = step(t, f, (a, 0.9), (b, 0.85))
        got = dict(zip(ids, bboxes.tolist(), strict=True))
        assert got[0] == pytest.approx(a) and got[1] == pytest.approx(b), f
    assert t.num_tracks == 2
