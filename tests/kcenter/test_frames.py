"""K-center's frame indices and patch coordinates pinned on hand-derived values
(kami93/kcenter_video kcenter_transformer/datasets/ssv2/ssv2.py, kinetics/kinetics_mp4.py,
kinetics/decoder.py, kinetics/kinetics_patch.py), on the loader's own index functions."""

from __future__ import annotations

import numpy as np
import pytest

from reproducers.common.video.samplers import ssv2_uniform_segments
from reproducers.kcenter.data import SSV2_FRAMES, KineticsIndices, SegmentsOf32
from reproducers.kcenter.tokens import coordinates


def test_frame_indices():
    kin = KineticsIndices()({"num_frames": 300, "fps": 30.0}, train=False, rng=None,
                            clip_idx=0, num_clips=1)
    # 32 x 8 at 30 fps: clip_size 256, start 0 (val/test), step 255/31
    assert kin[:6].tolist() == [0, 8, 16, 24, 32, 41] and kin[-1] == 255 and kin.size == 32
    ss = SegmentsOf32()({"num_frames": 48}, train=False, rng=None, clip_idx=0, num_clips=1)
    assert ss.tolist() == ssv2_uniform_segments(48, 32, train=False).tolist()
    assert ss[:8].tolist() == [0, 2, 3, 5, 6, 8, 9, 11]  # seg = 47/32 = 1.46875


def test_patch_coordinates():
    coords = coordinates(32, 14).numpy()
    assert coords.shape == (32, 14, 14, 3)
    assert coords[0, 0, 0].tolist() == pytest.approx([-4.0, -np.sqrt(8), -np.sqrt(8)])
    assert coords[-1, -1, -1].tolist() == pytest.approx([4.0, np.sqrt(8), np.sqrt(8)])


def test_ssv2_frame_naming_is_the_official_one():
    assert SSV2_FRAMES.name("3", 0) == "3_000000.jpeg"
