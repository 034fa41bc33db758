"""ByteTrack multi-object tracking as run by mmtrack 0.14 (SVM's MOT model): Kalman motion model,
three-round IoU association, and the linear interpolation post-processing. numpy/scipy only."""

from .assignment import lapjv_cost_limit, match
from .byte_tracker import (
    ByteTracker,
    ByteTrackerConfig,
    bbox_iou,
    cxcyah_to_xyxy,
    xyxy_to_cxcyah,
)
from .interpolation import interpolate_tracks, stack_track_results
from .kalman import KalmanFilter

__all__ = [
    "ByteTracker",
    "ByteTrackerConfig",
    "KalmanFilter",
    "bbox_iou",
    "cxcyah_to_xyxy",
    "interpolate_tracks",
    "lapjv_cost_limit",
    "match",
    "stack_track_results",
    "xyxy_to_cxcyah",
]
