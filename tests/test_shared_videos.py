"""Integration: every real video in ../shared/data/videos probes and decodes to its true frame count."""
from __future__ import annotations

import pytest

from posecli.video import probe, read_frames

EXPECTED_FRAMES = {"pose2sim_single": 100, "pose2sim_multi": 100, "sports2d": 230}


@pytest.fixture
def videos_dir(shared_data):
    path = shared_data / "videos"
    if not path.is_dir():
        pytest.skip("../shared/data/videos not found: integration data absent")
    return path


def test_every_shared_video_decodes_fully(videos_dir):
    videos = sorted(videos_dir.glob("*/*.mp4"))
    assert videos, f"no .mp4 under {videos_dir}"
    for video in videos:
        expected = EXPECTED_FRAMES[video.parent.name]
        info = probe(video)
        decoded = 0
        for frame in read_frames(video):
            assert frame.index == decoded
            assert frame.image.shape == (info.height, info.width, 3)
            assert frame.image.flags.c_contiguous
            decoded += 1
        assert info.frames == decoded == expected, video


def test_pose2sim_single_cam02_is_vp9_portrait_60fps(videos_dir):
    info = probe(videos_dir / "pose2sim_single" / "cam02.mp4")
    assert (info.codec, info.width, info.height, info.fps) == ("vp9", 1080, 1920, 60.0)
    assert info.rotation == 0
    assert info.duration == pytest.approx(100 / 60, abs=1e-3)
