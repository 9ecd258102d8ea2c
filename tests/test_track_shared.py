"""Tracking on the real shared clips (skipped with a reason when ../shared/data is absent)."""
import numpy as np

from posecli.poses import BOXES
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video


def test_single_person_keeps_one_id(shared_data):
    poses = track_video(shared_data / "videos/pose2sim_single/cam02.mp4", BlazePoseBackend(), TrackOptions())
    assert len(poses.tracks) == 1 and len(poses.tracks[0]) >= 95  # VP9, 100 frames


def test_two_people_get_two_ids(shared_data):
    poses = track_video(shared_data / "videos/pose2sim_multi/cam01.mp4", BlazePoseBackend(), TrackOptions())
    assert len(poses.tracks) == 2
    first, second = poses.tracks
    assert len(first) == 100 and len(second) >= 60
    # Different people: their boxes are apart in the frames they share.
    shared = np.intersect1d(first.frames, second.frames)
    c1 = first.arrays[BOXES][np.isin(first.frames, shared)]
    c2 = second.arrays[BOXES][np.isin(second.frames, shared)]
    assert np.median(np.linalg.norm((c1[:, :2] + c1[:, 2:]) / 2 - (c2[:, :2] + c2[:, 2:]) / 2, axis=1)) > 200
