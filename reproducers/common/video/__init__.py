"""Video decoding, official frame sampling and synthetic datasets for action recognition.

- :mod:`.decode`: ``read_frames`` (frame-accurate selective PyAV decoding, frame dirs),
  ``video_info``, ``VideoReadError``.
- :mod:`.samplers`: the official index formulas (SSv2 segments, Kinetics dense clips, SViT,
  kcenter, STRG) and test-time crops/views.
- :mod:`.synthetic`: tiny order-dependent datasets in the SSv2 / SSv1 / Kinetics formats.
"""

from .decode import VideoReadError, read_frames, video_info
from .samplers import (
    CropBox,
    View,
    apply_spatial_crop,
    dense_clip,
    dense_clip_pyav,
    kcenter_indices,
    kcenter_patch_coords,
    multi_view_indices,
    spatial_crop_boxes,
    ssv2_uniform_segments,
    strg_indices,
    svit_indices,
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
    "kcenter_indices",
    "kcenter_patch_coords",
    "multi_view_indices",
    "read_frames",
    "spatial_crop_boxes",
    "ssv2_uniform_segments",
    "strg_indices",
    "svit_indices",
    "synthetic_clip",
    "video_info",
    "write_frame_folders",
    "write_kinetics_synthetic",
    "write_ssv2_synthetic",
    "write_video",
]
