"""The shipped lifter on real footage: plausible bodies on the bundled clip, and (with ../shared) an accuracy
floor against the triangulated markers of the Pose2Sim trial, so a broken retrain cannot ship silently."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posecli import joints
from posecli.formats import read_poses
from posecli.lifting.pipeline import estimate_poses
from posecli.metrics import pa_mpjpe
from posecli.poses import KEYPOINTS_3D, KEYPOINTS_3D_WORLD
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.weights_registry import weight_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "balance_cam01.mp4"
LIMBS = [f"{s}_{p}" for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist") for s in ("left", "right")]


@pytest.fixture(scope="module")
def lifted():
    poses = track_video(EXAMPLE, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, end=60))
    return estimate_poses(poses, weight_path("estimate"))


@pytest.mark.parametrize("name, held_out", [("estimate", ["006", "131"]), ("estimate_sps", ["006"]),
                                            ("estimate_up", ["006", "131"])])
def test_card_describes_the_file(name, held_out):
    card = json.loads((ROOT / "weights" / f"{name}.json").read_text())
    assert card["command"].startswith("posecli train estimate") and card["split"]["val_subjects"] == held_out
    assert card["metrics"]["held_out_detector_like_2d"]["pa_mpjpe_mm"] < 100
    assert card["file"] == f"{name}.safetensors" and (ROOT / "weights" / card["file"]).stat().st_size < 26e6


def test_plausible_body_on_the_bundled_clip(lifted):
    t = lifted.tracks[0]
    pts = t.arrays["keypoints3d_all"]
    h = joints.H36M17
    thigh = np.linalg.norm(pts[:, h.index("left_hip")] - pts[:, h.index("left_knee")], axis=-1)
    assert 0.3 < np.median(thigh) < 0.6  # metres
    # Upright in the camera frame (y down): head above pelvis, ankles below it.
    assert (pts[:, h.index("head"), 1] < pts[:, 0, 1]).all() and (pts[:, h.index("left_ankle"), 1] > pts[:, 0, 1]).all()
    assert (t.arrays["root"][:, 2] > 0.5).all() and (t.arrays["root"][:, 2] < 20).all()
    # Upright in the world frame (y up): the head above the pelvis above the ankles, the feet near y = 0,
    # and the world's up within 40 degrees of the camera's -y (this calibrated camera's is 26 degrees off it)
    w = t.arrays["keypoints3d_world_all"]
    assert (w[:, h.index("head"), 1] > w[:, 0, 1]).all() and (w[:, 0, 1] > w[:, h.index("right_ankle"), 1]).all()
    assert np.abs(np.percentile(w[:, [3, 6], 1].min(1), 10) - 0.04) < 0.01
    up = np.asarray(lifted.meta["world"]["up_camera"])
    assert np.degrees(np.arccos(-up[1])) < 40

def test_accuracy_against_triangulated_markers(lifted, shared_data):
    trc = read_poses(shared_data / "multiview/pose2sim_session/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial"
                     "/pose-3d/S00_P00_T01_BalancingTrial_0-100.trc")
    gl = trc.tracks[0].keypoints[KEYPOINTS_3D]
    gt = gl.points[:, [joints.get(gl.joint_set).index(n) for n in LIMBS]]
    t = lifted.tracks[0]
    limbs = [joints.H36M17.index(n) for n in LIMBS]
    err = pa_mpjpe(t.arrays["keypoints3d_all"][:, limbs], gt[t.frames])
    lifter = pa_mpjpe(t.arrays["keypoints3d_lifter"][:, limbs], gt[t.frames])
    bp = t.keypoints["blazepose_world"]
    blaze = pa_mpjpe(bp.points[:, [joints.get(bp.joint_set).index(n) for n in LIMBS]], gt[t.frames])
    assert lifter < 0.13, f"lifter PA-MPJPE {1000 * lifter:.0f} mm on cam01 (docs/benchmarks.md has the figures)"
    # estimate's output (blended with BlazePose's 3D) beats both of its parts on this clip
    assert err < min(lifter, blaze) - 0.003, (err, lifter, blaze)


def test_upright_world_against_the_calibration(lifted, shared_data):
    """The world's up on the bundled clip (cam01 of the calibrated Pose2Sim session, first 60 frames) against the
    calibration's gravity. The body's up (the shipped gravity model + the floor; 8.0 degrees, 12.0 with the
    lifter's own head, session 13) is replaced by the room's vertical lines (3.3 degrees, session 14), so neither
    a broken gravity model nor a broken vanishing point can ship silently."""
    from posecli.lifting.world import tilt_degrees
    from posecli.synth.rig import read_calibration

    calib = {c.name.replace("_", ""): c for c in read_calibration(
        shared_data / "multiview/pose2sim_session/S00_Calibration/Calib_qualisys.toml")}
    gravity = calib["cam01"].R[0][:, 1]
    world = lifted.meta["world"]
    assert world["up_model"] == "estimate_up.safetensors"
    body = tilt_degrees(world["up_body"], gravity)
    assert body < 10.0, f"the body's up is {body:.1f} degrees off the calibration's gravity"
    assert world["up_source"] == "scene verticals" and world["verticals"]["inliers"] >= 8
    tilt = tilt_degrees(world["up_camera"], gravity)
    assert tilt < 5.0, f"tilt {tilt:.1f} degrees against the calibration's gravity"


@pytest.mark.parametrize("name", ["estimate", "estimate_sps"])
def test_shipped_lifter_reproduces_its_card(shared_data, name):
    """The shipped (fp16) weights on the held-out subjects give the card's exact-2D figures."""
    from posecli.lifting.pipeline import load_lifter
    from posecli.mocap.sources import load_mocap
    from posecli.train.estimate import evaluate_lifter

    model, card = load_lifter(weight_path(name))
    _, val = load_mocap(f"cmu:{shared_data / 'mocap'}").split(card["split"]["val_subjects"])
    res = evaluate_lifter(model, val, card["config"]["length"], clean=True)
    expected = card["metrics"]["held_out_exact_2d"]
    assert res["frames"] == expected["frames"] == card["split"]["val_frames"]
    for k in ("mpjpe_mm", "pa_mpjpe_mm", "accel_mm"):
        assert res[k] == pytest.approx(expected[k], abs=1.0), k


def test_lifter_option_picks_the_shipped_sps_weights(tmp_path, capsys):
    from posecli.cli import main

    code = main(["estimate", str(EXAMPLE), "--lifter", "sps", "--end", "10", "-o", str(tmp_path / "s.npz"), "-q"])
    assert code == 0, capsys.readouterr().err
    p = read_poses(tmp_path / "s.npz")
    # SPS has no up head: the upright frame comes from the shipped gravity model, as for every lifter
    assert p.meta["model"] == "estimate_sps.safetensors" and p.meta["world"]["up_model"] == "estimate_up.safetensors"
    assert "keypoints3d_world" in p.tracks[0].keypoints and "keypoints3d" in p.tracks[0].keypoints
    code = main(["estimate", str(EXAMPLE), "--lifter", "sps", "--lifter-up", "--end", "10", "-o",
                 str(tmp_path / "n.npz"), "-q"])
    assert code == 0 and "world" not in read_poses(tmp_path / "n.npz").meta  # its own head: none
    code = main(["estimate", str(EXAMPLE), "--lifter", "vp3d", "-o", str(tmp_path / "x.npz")])
    assert code == 2 and not (tmp_path / "x.npz").exists()


def test_a_track_kept_across_a_shot_cut_is_lifted_shot_by_shot():
    """`track` may keep a person's ID across a shot cut; the cameras differ on each side, so the lifter's windows,
    the root's path and the bones are found per shot: the first shot's 3D is what lifting that shot alone gives."""
    from dataclasses import replace

    poses = track_video(EXAMPLE, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, end=40))
    track = poses.tracks[0]
    edited = replace(poses, meta={**poses.meta, "shot_cuts": [20]})
    alone = replace(poses, tracks=[track.subset(track.frames < 20)])
    both = estimate_poses(edited, weight_path("estimate"), verticals=False).tracks[0]
    first = estimate_poses(alone, weight_path("estimate"), verticals=False).tracks[0]
    assert len(both) == len(track) and np.array_equal(both.frames, track.frames)
    n = len(first)
    np.testing.assert_allclose(both.keypoints[KEYPOINTS_3D].points[:n], first.keypoints[KEYPOINTS_3D].points,
                               atol=1e-5)
    np.testing.assert_allclose(both.arrays["root"][:n], first.arrays["root"], atol=1e-5)
    whole = estimate_poses(poses, weight_path("estimate"), verticals=False).tracks[0]  # no cut: one piece
    assert not np.allclose(whole.arrays["root"][:n], first.arrays["root"], atol=1e-5)
    # the upright world too: one per shot (each shot its own camera), the first shot's as it alone gives it
    edited_out = estimate_poses(edited, weight_path("estimate"), verticals=False)
    shots = edited_out.meta["world"]["shots"]
    assert [(w["first_frame"], w["last_frame"]) for w in shots] == [(0, 19), (20, int(track.frames[-1]))]
    alone_out = estimate_poses(alone, weight_path("estimate"), verticals=False)
    np.testing.assert_allclose(shots[0]["rotation"], alone_out.meta["world"]["rotation"], atol=1e-5)
    np.testing.assert_allclose(edited_out.tracks[0].keypoints[KEYPOINTS_3D_WORLD].points[:n],
                               alone_out.tracks[0].keypoints[KEYPOINTS_3D_WORLD].points, atol=1e-4)
