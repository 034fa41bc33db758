"""Video decoding, official frame sampling and synthetic datasets for action recognition.

- :mod:`.decode`: ``read_frames`` (frame-accurate selective PyAV decoding, frame dirs),
  ``video_info``, ``VideoReadError``.
- :mod:`.samplers`: the official index formulas (SSv2 segments, Kinetics dense clips) and
  test-time crops/views; a paper's own formulas live in its folder.
- :mod:`.synthetic`: tiny order-dependent datasets in the SSv2 / SSv1 / Kinetics formats.
"""

from .decode import VideoReadError, read_frames, video_info
from .samplers import (
    CropBox,
    View,
    apply_spatial_crop,
    dense_clip,
    dense_clip_pyav,
    multi_view_indices,
    spatial_crop_boxes,
    ssv2_uniform_segments,
)
from .synthetic import (
    TEMPLATES,
    synthetic_clip,
    write_frame_folders,
    write_kinetics_synthetic,
    write_ssv2_synthetic,
    write_video,
)

__all__ = [
    "TEMPLATES",
    "CropBox",
    "VideoReadError",
    "View",
    "apply_spatial_crop",
    "dense_clip",
    "dense_clip_pyav",
    "multi_view_indices",
    "read_frames",
    "spatial_crop_boxes",
    "ssv2_uniform_segments",
    "synthetic_clip",
    "video_info",
    "write_frame_folders",
    "write_kinetics_synthetic",
    "write_ssv2_synthetic",
    "write_video",
]
