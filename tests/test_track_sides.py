"""Left/right label flips undone along a track (posecli.track.sides), and kept where the person really turned."""
from pathlib import Path

import numpy as np
import pytest

from posecli import joints
from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D
from posecli.track.sides import apply_sides, consistent_sides, make_consistent, side_pairs

BP = joints.get("blazepose33")
FLIP = BP.flip_permutation
TRIAL = (Path(__file__).resolve().parents[2] / "shared" / "data" / "multiview" / "pose2sim_session"
         / "S00_P00_SingleParticipant" / "S00_P00_T01_BalancingTrial")


def frontal(n: int, fps: float = 30.0, turn: tuple[int, int] | None = None, seed: int = 0):
    """(n, 33, 2) a person walking right across the image, facing the camera (image left = their right);
    with ``turn=(a, b)`` they turn round between frames a and b (every left/right offset shrinks through 0)."""
    from test_track_identity import skeleton
    rng = np.random.default_rng(seed)
    h = 300.0
    pts = np.empty((n, 33, 2))
    for t in range(n):
        cx = 200 + 3.0 * t
        s = skeleton(cx, 100, h)
        # skeleton() puts the left joints at -x: mirror so a frontal person's left is on the image's right
        s[:, 0] = 2 * cx - s[:, 0]
        if turn is not None:
            a, b = turn
            c = np.cos(np.pi * np.clip((t - a) / (b - a), 0, 1))
            s[:, 0] = cx + c * (s[:, 0] - cx)
        s[:, 1] += 8 * np.sin(t / 4)  # bobbing
        pts[t] = s + rng.normal(0, 1.5, s.shape)
    times = np.arange(n) / fps
    return pts, np.ones((n, 33)), times, np.full(n, h)


def test_a_whole_body_flip_is_undone_and_the_pose_comes_back():
    pts, conf, times, height = frontal(90)
    raw = pts.copy()
    raw[20:36] = raw[20:36][:, FLIP]
    body, legs = consistent_sides(raw, conf, times, height, "blazepose33")
    assert np.flatnonzero(body).tolist() == list(range(20, 36))
    assert np.array_equal(legs, body)  # the legs go with the body
    np.testing.assert_allclose(apply_sides(raw, body, legs, "blazepose33"), pts)
    # track's helper: points, confidence and a 3D layer swapped alike, and the frames changed
    world = np.concatenate([raw, np.arange(33.0)[None, :, None].repeat(90, 0)], axis=-1)
    conf[20:36, BP.index("left_wrist")] = 0.5
    p2, c2, w2, changed = make_consistent(raw, conf, times, height, "blazepose33", world)
    np.testing.assert_allclose(p2, pts)
    np.testing.assert_allclose(w2[..., :2], pts)
    assert (w2[25, :, 2] == FLIP).all() and (w2[10, :, 2] == np.arange(33)).all()
    assert c2[25, BP.index("right_wrist")] == 0.5 and c2[25, BP.index("left_wrist")] == 1.0
    assert np.array_equal(changed, body)


def test_the_longer_labelling_wins_when_the_flip_is_at_the_start():
    pts, conf, times, height = frontal(90)
    raw = pts.copy()
    raw[:25] = raw[:25][:, FLIP]  # wrong from the first frame on: nothing before it to compare with
    body, _ = consistent_sides(raw, conf, times, height, "blazepose33")
    assert np.flatnonzero(body).tolist() == list(range(25))


def test_a_legs_only_flip_is_undone_on_the_legs():
    pts, conf, times, height = frontal(60)
    _, legs_pairs = side_pairs("blazepose33")
    assert {BP.joints[i] for i in legs_pairs[:, 0]} == {"left_knee", "left_ankle", "left_heel", "left_foot_index"}
    raw = pts.copy()
    left, right = legs_pairs[:, 0], legs_pairs[:, 1]
    raw[30:34, left], raw[30:34, right] = pts[30:34, right], pts[30:34, left]
    body, legs = consistent_sides(raw, conf, times, height, "blazepose33")
    assert not body.any()
    assert np.flatnonzero(legs).tolist() == [30, 31, 32, 33]
    np.testing.assert_allclose(apply_sides(raw, body, legs, "blazepose33"), pts)


def test_a_person_who_really_turns_round_keeps_the_labels():
    pts, conf, times, height = frontal(90, turn=(30, 50))
    # at the end the person shows their back: their left is on the image's left, as the labels say
    assert (pts[-1, BP.index("left_shoulder"), 0] < pts[-1, BP.index("right_shoulder"), 0])
    body, legs = consistent_sides(pts, conf, times, height, "blazepose33")
    # labels may only change where the twins coincide (side-on, mid-turn), which moves no joint
    moved = np.linalg.norm(apply_sides(pts, body, legs, "blazepose33") - pts, axis=-1).max()
    assert moved < 0.05 * height[0], np.flatnonzero(body | legs)
    assert (body | legs).sum() <= 2


def test_unsure_joints_and_gaps_carry_no_evidence():
    pts, conf, times, height = frontal(60)
    raw = pts.copy()
    raw[30:] = raw[30:][:, FLIP]
    gap = times.copy()
    gap[30:] += 1.0  # a second without observations: the person may have turned while unseen
    body, _ = consistent_sides(raw, conf, gap, height, "blazepose33")
    assert not body.any()
    low = conf.copy()
    low[29:31] = 0.1  # the frames around the flip are unsure: no pair counts there
    body, _ = consistent_sides(raw, low, times, height, "blazepose33")
    assert not body.any()
    body, _ = consistent_sides(raw, conf, times, height, "blazepose33")
    assert body[:30].all() ^ body[30:].all()  # with evidence, the halves are made consistent (either way)


@pytest.mark.skipif(not TRIAL.is_dir(), reason="../shared/data (Pose2Sim trial) not present")
def test_the_frontal_camera_of_the_pose2sim_trial_keeps_left_and_right():
    """cam02 films the balancing person from the front; BlazePose flips its labels for about 30 frames."""
    from posecli.track.backends import BlazePoseBackend
    from posecli.track.pipeline import TrackOptions, track_video

    ref = read_poses(TRIAL / "pose-associated" / "cam02_json", fps=60).tracks[0]
    kp = ref.keypoints[KEYPOINTS_2D]
    ref_pts, _ = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
    ref_pts = ref_pts[ref.frames < 100]
    counts = {}
    for sides in (False, True):
        poses = track_video(TRIAL / "videos" / "cam02.mp4", BlazePoseBackend(max_persons=1),
                            TrackOptions(max_persons=1, sides=sides))
        t = poses.tracks[0]
        assert poses.meta["sides_kept_consistent"] is sides
        ours = t.keypoints[KEYPOINTS_2D].points[: len(ref_pts)]
        sh = [5, 6]  # COCO shoulders: which side of the image each label is on, against OpenPose
        counts[sides] = int((np.sign(ours[:, sh[0], 0] - ours[:, sh[1], 0])
                             != np.sign(ref_pts[:, sh[0], 0] - ref_pts[:, sh[1], 0])).sum())
        assert ("sides_swapped" in t.arrays) and (t.arrays["sides_swapped"].any() == sides)
    assert counts[False] >= 20 and counts[True] <= 2, counts
