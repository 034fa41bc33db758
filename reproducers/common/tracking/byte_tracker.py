"""ByteTrack association, reproducing mmtrack 0.14's ``ByteTracker`` as SVM runs it.

Behaviour reproduced (read from mmtrack 0.14 ``mmtrack/models/trackers/byte_tracker.py``,
``base_tracker.py``, ``mmtrack/models/mot/byte_track.py`` and ``mmtrack/core/bbox/transforms.py``;
the SVM repository vendors these files unchanged). Code written anew, numpy only.

Per call ``update(frame_id, bboxes, scores)`` (boxes/scores are cast to float32 as the detector
output is; all thresholds are compared in float32, like the torch comparisons of the original):

0. ``frame_id == 0`` resets the tracker (``ByteTrack.simple_test``).
1. If the tracker holds no track, or there is no detection this frame: the detections with
   ``score > init_track_thr`` start new tracks (ids counted from ``num_tracks``) and nothing
   else happens -- in particular no Kalman prediction is made on a frame without detections.
   Such tracks are confirmed when ``frame_id == 0`` and tentative otherwise.
2. Otherwise, with ``high``/``low`` the ``obj_score_thrs``:
   a. first-round detections: ``score > high``; second-round ones: ``low < score <= high``
      (lower scores are discarded);
   b. every confirmed track is Kalman-predicted once; a track not updated in the previous frame
      (``last frame != frame_id - 1``) first gets its height velocity (``mean[7]``) set to 0.
      Tentative tracks are never predicted (they are matched with their last updated state);
   c. round 1: confirmed tracks (dict order = id order) vs first-round detections; cost
      ``1 - IoU * score`` (score weighting if ``weight_iou_with_det_scores``), lapjv with
      ``cost_limit = 1 - match_iou_thrs.high``;
   d. round "tentative": tentative tracks vs the first-round detections left over from (c),
      same (weighted) cost, ``cost_limit = 1 - match_iou_thrs.tentative``;
   e. round 2: confirmed tracks unmatched in (c) *and* updated in the previous frame vs the
      second-round detections; unweighted cost ``1 - IoU``, ``cost_limit = 1 - low``;
   f. first-round detections still unmatched start new tentative tracks (note: any
      ``score > high``, ``init_track_thr`` is not applied here); second-round detections left
      unmatched are dropped.
   Track boxes for the IoU are the Kalman means converted to xyxy in float32; IoU as mmdet's
   ``bbox_overlaps`` (union clamped at 1e-6).
3. All matched/new detections update their track (append + Kalman update; a new track's state
   is ``initiate``d). A tentative track becomes confirmed once it has ``num_tentatives`` boxes
   (hits, counting the first).
4. Tracks are deleted when ``frame_id - last frame >= num_frames_retain`` (after this frame's
   matching, so a track last seen at ``f`` can still be matched at ``f + num_frames_retain``),
   and tentative tracks not updated this frame are deleted.

Output (``outs2results`` of the returned ``bboxes, labels, ids``): the *detection* boxes and
scores (not Kalman boxes) of every track updated this frame, tentative and brand-new tracks
included, in the order: round-1 matches (detection order), then all first-round leftovers
(tentative matches and new tracks, detection order), then round-2 matches (detection order).

Single class only (SVM's MOT model has ``num_classes=1``); mmtrack's ``1e6`` category cost that
forbids cross-class matches is therefore not needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .assignment import lapjv_cost_limit
from .kalman import KalmanFilter

_F32 = np.float32


@dataclass(frozen=True)
class ByteTrackerConfig:
    """ByteTracker settings; defaults are SVM's ``configs/mot/svm/svm_test.py``.

    mmtrack's own ByteTrack MOT17 config differs only in ``obj_score_thr_high = 0.6``
    (see :meth:`mmtrack_bytetrack`); mmtrack's class default ``num_frames_retain`` is 10.
    """

    obj_score_thr_high: float = 0.7   # obj_score_thrs['high']
    obj_score_thr_low: float = 0.1    # obj_score_thrs['low']
    init_track_thr: float = 0.7
    weight_iou_with_det_scores: bool = True
    match_iou_thr_high: float = 0.1       # match_iou_thrs['high'] (round 1)
    match_iou_thr_low: float = 0.5        # match_iou_thrs['low'] (round 2)
    match_iou_thr_tentative: float = 0.3  # match_iou_thrs['tentative']
    num_frames_retain: int = 30
    num_tentatives: int = 3

    @classmethod
    def mmtrack_bytetrack(cls) -> ByteTrackerConfig:
        """mmtrack's ``bytetrack_yolox_x_crowdhuman_mot17-private-half.py`` tracker."""
        return cls(obj_score_thr_high=0.6)


@dataclass
class _Track:
    mean: np.ndarray        # (8,) Kalman mean
    covariance: np.ndarray  # (8, 8)
    last_frame: int         # frame_ids[-1]
    hits: int               # len(bboxes): frames this track was updated in
    tentative: bool


def xyxy_to_cxcyah(bboxes: np.ndarray) -> np.ndarray:
    """``(x1, y1, x2, y2) -> (cx, cy, w / h, h)`` in float32 (mmtrack ``bbox_xyxy_to_cxcyah``)."""
    b = np.asarray(bboxes, dtype=_F32)
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    return np.stack([(b[..., 2] + b[..., 0]) / _F32(2), (b[..., 3] + b[..., 1]) / _F32(2),
                     w / h, h], axis=-1)


def cxcyah_to_xyxy(bboxes: np.ndarray) -> np.ndarray:
    """``(cx, cy, a, h) -> (x1, y1, x2, y2)`` in float32 (mmtrack ``bbox_cxcyah_to_xyxy``)."""
    b = np.asarray(bboxes, dtype=_F32)
    cx, cy, a, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    w = a * h
    two = _F32(2)
    return np.stack([cx - w / two, cy - h / two, cx + w / two, cy + h / two], axis=-1)


def bbox_iou(boxes1: np.ndarray, boxes2: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Pairwise IoU ``(n, m)`` in float32, as mmdet 2.x ``bbox_overlaps(mode='iou')``."""
    a = np.asarray(boxes1, dtype=_F32)
    b = np.asarray(boxes2, dtype=_F32)
    area1 = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area2 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.maximum(rb - lt, _F32(0))
    overlap = wh[..., 0] * wh[..., 1]
    union = np.maximum(area1[:, None] + area2[None, :] - overlap, _F32(eps))
    return overlap / union


class ByteTracker:
    """mmtrack-0.14 ByteTracker (see module docstring) with its Kalman motion model.

    ``update`` returns ``(ids, bboxes, scores)`` of the tracks output this frame: ``ids`` int64
    ``(K,)``, ``bboxes`` float32 ``(K, 4)`` xyxy detection boxes, ``scores`` float32 ``(K,)``.
    """

    def __init__(self, config: ByteTrackerConfig | None = None) -> None:
        self.config = config if config is not None else ByteTrackerConfig()
        self.kf = KalmanFilter()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and restart ids at 0."""
        self.num_tracks = 0
        self.tracks: dict[int, _Track] = {}

    @property
    def confirmed_ids(self) -> list[int]:
        return [i for i, t in self.tracks.items() if not t.tentative]

    @property
    def unconfirmed_ids(self) -> list[int]:
        return [i for i, t in self.tracks.items() if t.tentative]

    # -- association ------------------------------------------------------------------------
    def _assign(self, track_ids: list[int], det_bboxes: np.ndarray, det_scores: np.ndarray,
                weighted: bool, iou_thr: float) -> tuple[np.ndarray, np.ndarray]:
        """``ByteTracker.assign_ids``: (track -> det index, det -> track index), -1 unmatched."""
        if not track_ids or len(det_bboxes) == 0:
            return (np.full(len(track_ids), -1, dtype=np.int64),
                    np.full(len(det_bboxes), -1, dtype=np.int64))
        means = np.stack([self.tracks[i].mean[:4] for i in track_ids])
        track_bboxes = cxcyah_to_xyxy(means.astype(_F32))
        ious = bbox_iou(track_bboxes, det_bboxes)
        if weighted:
            ious = ious * det_scores[None, :]
        dists = _F32(1) - ious  # float32, as the torch original
        return lapjv_cost_limit(dists, cost_limit=1 - iou_thr)

    def _predict_confirmed(self, frame_id: int) -> None:
        ids = self.confirmed_ids
        if not ids:
            return
        means = np.stack([self.tracks[i].mean for i in ids])
        covs = np.stack([self.tracks[i].covariance for i in ids])
        lost = np.array([self.tracks[i].last_frame != frame_id - 1 for i in ids])
        means[lost, 7] = 0.0  # lost in the previous frame: height velocity 0
        means, covs = self.kf.predict(means, covs)
        for k, i in enumerate(ids):
            self.tracks[i].mean, self.tracks[i].covariance = means[k], covs[k]

    # -- main entry -------------------------------------------------------------------------
    def update(self, frame_id: int, bboxes: np.ndarray, scores: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track one frame of detections (``bboxes`` ``(N, 4)`` xyxy, ``scores`` ``(N,)``)."""
        cfg = self.config
        frame_id = int(frame_id)
        if frame_id == 0:
            self.reset()
        bboxes = np.asarray(bboxes, dtype=_F32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=_F32).reshape(-1)
        if len(bboxes) != len(scores):
            raise ValueError(f"ByteTracker.update: {len(bboxes)} boxes but {len(scores)} scores")

        if not self.tracks or len(bboxes) == 0:
            keep = scores > _F32(cfg.init_track_thr)
            out_bboxes, out_scores = bboxes[keep], scores[keep]
            out_ids = np.arange(self.num_tracks, self.num_tracks + len(out_bboxes),
                                dtype=np.int64)
            self.num_tracks += len(out_bboxes)
        else:
            first = scores > _F32(cfg.obj_score_thr_high)
            second = ~first & (scores > _F32(cfg.obj_score_thr_low))
            b1, s1 = bboxes[first], scores[first]
            b2, s2 = bboxes[second], scores[second]
            ids1 = np.full(len(b1), -1, dtype=np.int64)
            ids2 = np.full(len(b2), -1, dtype=np.int64)

            self._predict_confirmed(frame_id)

            # round 1: confirmed tracks vs high-score detections
            confirmed = self.confirmed_ids
            track_to_det, det_to_track = self._assign(
                confirmed, b1, s1, cfg.weight_iou_with_det_scores, cfg.match_iou_thr_high)
            m1 = det_to_track > -1
            ids1[m1] = np.asarray(confirmed, dtype=np.int64)[det_to_track[m1]]

            # tentative round: unconfirmed tracks vs high-score leftovers
            b1u, s1u, ids1u = b1[~m1], s1[~m1], ids1[~m1]
            unconfirmed = self.unconfirmed_ids
            _, det_to_tent = self._assign(
                unconfirmed, b1u, s1u, cfg.weight_iou_with_det_scores,
                cfg.match_iou_thr_tentative)
            mt = det_to_tent > -1
            ids1u[mt] = np.asarray(unconfirmed, dtype=np.int64)[det_to_tent[mt]]

            # round 2: confirmed, unmatched in round 1, seen last frame vs low-score detections
            candidates = [i for k, i in enumerate(confirmed)
                          if track_to_det[k] == -1
                          and self.tracks[i].last_frame == frame_id - 1]
            _, det_to_cand = self._assign(candidates, b2, s2, False, cfg.match_iou_thr_low)
            m2 = det_to_cand > -1
            ids2[m2] = np.asarray(candidates, dtype=np.int64)[det_to_cand[m2]]

            out_bboxes = np.concatenate([b1[m1], b1u, b2[m2]])
            out_scores = np.concatenate([s1[m1], s1u, s2[m2]])
            out_ids = np.concatenate([ids1[m1], ids1u, ids2[m2]])
            new = out_ids == -1
            out_ids[new] = np.arange(self.num_tracks, self.num_tracks + int(new.sum()))
            self.num_tracks += int(new.sum())

        self._store(frame_id, out_ids, out_bboxes)
        return out_ids, out_bboxes, out_scores

    def _store(self, frame_id: int, ids: np.ndarray, bboxes: np.ndarray) -> None:
        """``BaseTracker.update``: update/initiate tracks, then ``pop_invalid_tracks``."""
        cfg = self.config
        if len(ids):
            measurements = xyxy_to_cxcyah(bboxes)
            old = np.array([int(i) in self.tracks for i in ids], dtype=bool)
            if old.any():
                upd = [int(i) for i in ids[old]]
                means = np.stack([self.tracks[i].mean for i in upd])
                covs = np.stack([self.tracks[i].covariance for i in upd])
                means, covs = self.kf.update(means, covs, measurements[old])
                for k, i in enumerate(upd):
                    t = self.tracks[i]
                    t.mean, t.covariance = means[k], covs[k]
                    t.last_frame = frame_id
                    t.hits += 1
                    if t.tentative and t.hits >= cfg.num_tentatives:
                        t.tentative = False
            if (~old).any():
                means, covs = self.kf.initiate(measurements[~old])
                for k, i in enumerate(int(i) for i in ids[~old]):
                    self.tracks[i] = _Track(mean=means[k], covariance=covs[k],
                                            last_frame=frame_id, hits=1,
                                            tentative=frame_id != 0)
        stale = [i for i, t in self.tracks.items()
                 if frame_id - t.last_frame >= cfg.num_frames_retain
                 or (t.tentative and t.last_frame != frame_id)]
        for i in stale:
            del self.tracks[i]
