"""Tracking on the real shared clips (skipped with a reason when ../shared/data is absent)."""
import numpy as np

from posecli.poses import BOXES
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video


def _height(track) -> float:
    b = track.arrays[BOXES]
    return float(np.median(b[:, 3] - b[:, 1]))


def test_single_person_keeps_one_id(shared_data):
    poses = track_video(shared_data / "videos/pose2sim_single/cam02.mp4", BlazePoseBackend(), TrackOptions())
    # the performer on one ID (VP9, 100 frames); anyone else found is smaller (people in the background)
    assert len(poses.tracks[0]) >= 95
    assert all(_height(t) < 0.6 * _height(poses.tracks[0]) for t in poses.tracks[1:])


def test_two_people_get_two_ids(shared_data):
    poses = track_video(shared_data / "videos/pose2sim_multi/cam01.mp4", BlazePoseBackend(), TrackOptions())
    # the man and the woman in front, and the woman standing in the background (a fifth of the frame tall)
    assert len(poses.tracks) == 3
    first, second = sorted(poses.tracks, key=_height, reverse=True)[:2]
    assert len(first) == 100 and len(second) >= 98
    # Different people: their boxes are apart in the frames they share.
    shared = np.intersect1d(first.frames, second.frames)
    c1 = first.arrays[BOXES][np.isin(first.frames, shared)]
    c2 = second.arrays[BOXES][np.isin(second.frames, shared)]
    assert np.median(np.linalg.norm((c1[:, :2] + c1[:, 2:]) / 2 - (c2[:, :2] + c2[:, 2:]) / 2, axis=1)) > 200
