"""What makes ``estimate`` generalise: the TCN baseline and SPS both train, body/speed augmentation, the upright
world frame, and the guards against one-frame spikes. All on data made here (no ../shared)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from posecli import joints
from posecli.errors import PoseCliError
from posecli.lifting.perspective import view_rotations
from posecli.lifting.pipeline import add_world_frame
from posecli.lifting.robust import MAX_SPEED, steady_root, suppress_2d_outliers
from posecli.lifting.world import ANKLE_HEIGHT, floor_up, tilt_degrees, to_world, world_rotation
from posecli.mocap.augment import (bone_factors, lean_upper_body, resample_speed, resize_body, speed_span,
                                   swing_limbs)
from posecli.mocap.dataset import MocapDataset, Sequence
from posecli.models.sps_lifter import LifterConfig, build_lifter
from posecli.models.tcn_lifter import TCNLifter, receptive_blocks
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D, KEYPOINTS_3D_WORLD, Keypoints, Track
from posecli.synth2d.cameras import look_at_rotation
from posecli.train.estimate import EstimateTrainConfig, clip_frames, train_lifter

H = joints.H36M17


def standing_pose() -> np.ndarray:
    """(17, 3) H36M-17 of a person standing at the origin, world metres, Y up, ankles ``ANKLE_HEIGHT`` up."""
    p = np.zeros((17, 3))
    y = {"pelvis": 0.95, "right_hip": 0.93, "left_hip": 0.93, "right_knee": 0.5, "left_knee": 0.5,
         "right_ankle": ANKLE_HEIGHT, "left_ankle": ANKLE_HEIGHT, "spine": 1.15, "thorax": 1.4, "neck_nose": 1.55,
         "head": 1.7, "left_shoulder": 1.42, "right_shoulder": 1.42, "left_elbow": 1.15, "right_elbow": 1.15,
         "left_wrist": 0.9, "right_wrist": 0.9}
    x = {"right_hip": -0.1, "left_hip": 0.1, "right_knee": -0.1, "left_knee": 0.1, "right_ankle": -0.1,
         "left_ankle": 0.1, "left_shoulder": 0.2, "right_shoulder": -0.2, "left_elbow": 0.25, "right_elbow": -0.25,
         "left_wrist": 0.27, "right_wrist": -0.27}
    for n in H.joints:
        p[H.index(n)] = [x.get(n, 0.0), y[n], 0.0]
    return p


def walking_dataset(frames: int = 120) -> MocapDataset:
    base = standing_pose()
    t = np.arange(frames) / 30.0
    seqs = []
    for subj in ("a", "b"):
        h = np.repeat(base[None], frames, 0)
        h[:, :, 2] += 1.2 * t[:, None]  # walking forward
        for side, sign in (("left", 1), ("right", -1)):
            for part in ("knee", "ankle"):
                h[:, H.index(f"{side}_{part}"), 2] += sign * 0.2 * np.sin(2 * np.pi * t)
        coco = np.zeros((frames, 17, 3))
        for n in joints.COCO17.joints:
            coco[:, joints.COCO17.index(n)] = h[:, H.index(n if n in H.joints else "head")]
        seqs.append(Sequence(subj, f"{subj}_01", 30.0, {"h36m17": h.astype(np.float32),
                                                         "coco17": coco.astype(np.float32)}))
    return MocapDataset(seqs)


@pytest.mark.parametrize("model", [LifterConfig(dim=32, regressor_hidden=32, up_head=True),
                                   LifterConfig(dim=32, regressor_hidden=32, up_head=True, encoder="conv"),
                                   LifterConfig(temporal="tcn", channels=32, receptive_field=9, up_head=True)])
def test_both_lifters_train_a_few_steps(model):
    data = walking_dataset()
    cfg = EstimateTrainConfig(steps=12, batch=4, length=8, lr=3e-3, augment=True, occlusion_camera=False, model=model)
    assert clip_frames(cfg) == (9 if model.temporal != "tcn" else 16)
    losses = []
    trained = train_lifter(data, cfg, on_step=lambda s, logs: losses.append(logs["l3d_mm"]))
    assert len(losses) == 12 and np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # it learns
    x = torch.zeros(1, 20, 17, 3)
    out = trained(x, pad=True) if model.temporal == "tcn" else trained(x)
    assert out["joints"].shape == (1, 20, 17, 3) and out["up"].shape == (1, 20, 3)
    torch.testing.assert_close(out["up"].norm(dim=-1), torch.ones(1, 20))


def test_tcn_receptive_field_and_padding():
    assert receptive_blocks(27) == 2 and receptive_blocks(81) == 3 and receptive_blocks(243) == 4
    with pytest.raises(ValueError):
        receptive_blocks(30)
    torch.manual_seed(0)
    m = TCNLifter(LifterConfig(temporal="tcn", channels=16, receptive_field=27)).eval()
    x = torch.randn(2, 40, 17, 3)
    valid = m(x)["joints"]
    assert valid.shape == (2, 14, 17, 3)  # 40 - 27 + 1 centre frames
    padded = m(x, pad=True)["joints"]
    assert padded.shape == (2, 40, 17, 3)
    torch.testing.assert_close(padded[:, 13:27], valid)  # the centre frames need no padding
    # frame t depends only on frames t-13 .. t+13
    y = x.clone()
    y[:, 39] += 5.0
    assert torch.equal(m(y, pad=True)["joints"][:, :26], padded[:, :26])
    assert isinstance(build_lifter(LifterConfig(temporal="tcn", channels=8, receptive_field=9)), TCNLifter)


def test_resized_bodies_stay_symmetric_on_the_floor():
    data = walking_dataset(40).sequences[0]
    h, c = data.joints["h36m17"], data.joints["coco17"]
    rng = np.random.default_rng(3)
    f = bone_factors(rng)
    for a, b in (("left_knee", "right_knee"), ("left_wrist", "right_wrist"), ("left_shoulder", "right_shoulder")):
        assert f[H.index(a)] == f[H.index(b)]
    assert (np.abs(f - 1) <= 0.1 + 1e-9).all()
    sizes = []
    for seed in range(30):
        nh, nc = resize_body(h, c, np.random.default_rng(seed))
        height = nh[0, H.index("head"), 1] - nh[0, H.index("left_ankle"), 1]
        sizes.append(height / (h[0, H.index("head"), 1] - h[0, H.index("left_ankle"), 1]))
        thigh = np.linalg.norm(nh[:, H.index("left_hip")] - nh[:, H.index("left_knee")], axis=-1)
        thigh_r = np.linalg.norm(nh[:, H.index("right_hip")] - nh[:, H.index("right_knee")], axis=-1)
        np.testing.assert_allclose(thigh, thigh_r, rtol=1e-5)
        assert nh[:, [3, 6], 1].min() == pytest.approx(h[:, [3, 6], 1].min() * 1, abs=0.03)  # feet near the floor
        # COCO limb points ride with their H36M joints
        np.testing.assert_allclose(nc[:, joints.COCO17.index("left_wrist")], nh[:, H.index("left_wrist")], atol=1e-5)
    assert 0.7 < min(sizes) < 0.9 and 1.1 < max(sizes) < 1.3


def test_leaning_tilts_the_trunk_and_keeps_the_legs():
    data = walking_dataset(40).sequences[0]
    h, c = data.joints["h36m17"].astype(np.float64), data.joints["coco17"].astype(np.float64)
    trunk = [H.index(n) for n in ("pelvis", "thorax")]
    legs = [H.index(n) for n in ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")]

    def lean_deg(x):  # angle of pelvis -> thorax from the vertical, per frame
        d = x[:, trunk[1]] - x[:, trunk[0]]
        return np.degrees(np.arccos(d[:, 1] / np.linalg.norm(d, axis=-1)))

    angles = []
    for seed in range(20):
        nh, nc = lean_upper_body(h, c, np.random.default_rng(seed))
        np.testing.assert_array_equal(nh[:, legs], h[:, legs])  # the legs and the feet on the floor stay
        np.testing.assert_array_equal(nh[:, 0], h[:, 0])
        for a, b in (("left_shoulder", "left_elbow"), ("head", "neck_nose"), ("thorax", "right_shoulder")):
            np.testing.assert_allclose(np.linalg.norm(nh[:, H.index(a)] - nh[:, H.index(b)], axis=-1),
                                       np.linalg.norm(h[:, H.index(a)] - h[:, H.index(b)], axis=-1), atol=1e-9)
        np.testing.assert_allclose(nc[:, joints.COCO17.index("left_wrist")], nh[:, H.index("left_wrist")], atol=1e-9)
        np.testing.assert_array_equal(nc[:, joints.COCO17.index("left_knee")], c[:, joints.COCO17.index("left_knee")])
        angles.append(np.abs(lean_deg(nh) - lean_deg(h)).max())
    assert max(angles) <= 30 + lean_deg(h).max() and max(angles) > 15  # up to 30 degrees more (or less) lean


def test_swinging_limbs_turns_them_with_the_body_and_keeps_their_bones():
    data = walking_dataset(40).sequences[0]
    h, c = data.joints["h36m17"].astype(np.float64), data.joints["coco17"].astype(np.float64)
    limbs = {"left_shoulder": ("left_elbow", "left_wrist"), "right_hip": ("right_knee", "right_ankle"),
             "right_shoulder": ("right_elbow", "right_wrist"), "left_hip": ("left_knee", "left_ankle")}
    trunk = [H.index(n) for n in ("pelvis", "spine", "thorax", "neck_nose", "head", "left_shoulder",
                                  "right_shoulder", "left_hip", "right_hip")]
    turned, biggest = 0, {"arm": 0.0, "leg": 0.0}
    for seed in range(30):
        nh, nc = swing_limbs(h, c, np.random.default_rng(seed))
        np.testing.assert_array_equal(nh[:, trunk], h[:, trunk])  # the trunk and the limbs' roots stay
        for root, (mid, end) in limbs.items():
            r, m, e = (H.index(n) for n in (root, mid, end))
            for a, b in ((r, m), (m, e)):  # bone lengths kept
                np.testing.assert_allclose(np.linalg.norm(nh[:, a] - nh[:, b], axis=-1),
                                           np.linalg.norm(h[:, a] - h[:, b], axis=-1), atol=1e-9)
            # one rotation in the body's frame (hips' direction, up), whatever way the person faces
            across = (h[:, H.index("right_hip")] - h[:, H.index("left_hip")]) * [1, 0, 1]
            across /= np.linalg.norm(across, axis=-1, keepdims=True)
            body = np.stack([across, np.broadcast_to([0.0, 1, 0], across.shape), np.cross(across, [0.0, 1, 0])], -1)
            u = np.einsum("tji,tkj->tki", body, h[:, [m, e]] - h[:, r:r + 1]).reshape(-1, 3)
            v = np.einsum("tji,tkj->tki", body, nh[:, [m, e]] - nh[:, r:r + 1]).reshape(-1, 3)
            if np.abs(u - v).max() < 1e-9:
                continue
            turned += 1
            w, _, vt = np.linalg.svd(v.T @ u)
            rot = w @ np.diag([1, 1, np.linalg.det(w @ vt)]) @ vt
            np.testing.assert_allclose(u @ rot.T, v, atol=1e-9)
            kind = "arm" if "shoulder" in root else "leg"
            biggest[kind] = max(biggest[kind], np.degrees(np.arccos((np.trace(rot) - 1) / 2)))
            np.testing.assert_allclose(nc[:, joints.COCO17.index(end)], nh[:, H.index(end)], atol=1e-9)
    assert 40 <= turned <= 80  # half of 120 limbs, give or take
    assert 30 < biggest["arm"] <= 45 and 15 < biggest["leg"] <= 25


def test_a_share_of_training_clips_keeps_its_exact_2d():
    """--exact-2d F: that share of clips gets the projected 2D as it is (every joint seen, no noise); the rest
    the detector-like noise; 0 draws nothing, so earlier recipes keep their random stream."""
    from posecli.train.clips import ClipSampler

    data = walking_dataset(60)

    def exact_clips(share: float, n: int = 200) -> float:
        s = ClipSampler(data, 16, seed=3, exact=share, videography=0.0)
        clips = [s.random_clip() for _ in range(n)]
        # detector-like 2D never has every joint seen at full confidence (its scores vary, some joints drop)
        return float(np.mean([c.x[..., 2].min() == 1.0 for c in clips]))

    assert exact_clips(0.0) == 0.0 and exact_clips(1.0) == 1.0
    assert 0.12 < exact_clips(0.2) < 0.28
    a = ClipSampler(data, 16, seed=3).random_clip()
    b = ClipSampler(data, 16, seed=3, exact=0.0).random_clip()
    np.testing.assert_array_equal(a.x, b.x)


def test_speed_resampling():
    x = np.arange(100, dtype=np.float64)[:, None]
    assert speed_span(10, 1.5) == 15
    np.testing.assert_allclose(resample_speed(x, 10, 1.5)[:, 0], np.arange(10) * 1.5)
    np.testing.assert_allclose(resample_speed(x, 10, 0.7)[:, 0], np.arange(10) * 0.7)


def tilted_camera(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World -> camera rotation of a camera looking down by ``pitch`` and rolled."""
    p = np.radians(pitch_deg)
    return look_at_rotation(np.array([0.0, -np.sin(p), np.cos(p)]), np.radians(roll_deg))


def test_world_frame_of_a_tilted_camera_is_upright():
    """A person standing in front of a camera pitched 35 degrees down and rolled 12: given the camera's up
    direction (what the lifter's up head predicts), keypoints3d_world stands them upright on y = 0."""
    R = tilted_camera(35, 12)
    up_true = R[:, 1]  # world +Y in camera axes
    world = standing_pose()[None].repeat(30, 0) + np.array([0.3, 0.0, 0.0])
    cam = world @ R.T + np.array([0.0, 0.5, 4.0])
    conf = np.ones((30, 17), np.float32)
    noisy_up = up_true + np.random.default_rng(0).normal(0, 0.02, (30, 3))  # per-frame predictions scatter
    t = Track(1, np.arange(30), np.arange(30) / 30, {KEYPOINTS_3D: Keypoints("h36m17", cam.astype(np.float32), conf)},
              {"keypoints3d_all": cam.astype(np.float32), "up_camera": noisy_up.astype(np.float32)}, {})
    meta = add_world_frame([t])
    assert tilt_degrees(meta["up_camera"], up_true) < 2.0
    w = t.keypoints[KEYPOINTS_3D_WORLD].points
    spine = w[:, H.index("head")] - w[:, 0]
    assert np.degrees(np.arccos(spine[:, 1] / np.linalg.norm(spine, axis=-1))).max() < 2.0  # upright
    assert np.abs(w[:, [3, 6], 1] - ANKLE_HEIGHT).max() < 0.02  # feet on the floor
    # the origin lies below the camera; the person in front of it is at negative z, at the true horizontal distance
    centre = -R.T @ np.array([0.0, 0.5, 4.0])
    true_dist = np.linalg.norm((world[0, 0] - centre)[[0, 2]])
    assert (w[:, 0, 2] < -2).all()
    np.testing.assert_allclose(np.linalg.norm(w[:, 0, [0, 2]], axis=-1), true_dist, rtol=0.02)
    rot = world_rotation(up_true)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(to_world(np.zeros((1, 3)), rot, 0.0), 0.0, atol=1e-7)


def _rotate_towards(u: np.ndarray, axis: np.ndarray, deg: float) -> np.ndarray:
    """``u`` turned by ``deg`` about ``axis`` (Rodrigues)."""
    k = axis / np.linalg.norm(axis)
    a = np.radians(deg)
    return u * np.cos(a) + np.cross(k, u) * np.sin(a) + k * (k @ u) * (1 - np.cos(a))


def test_the_floor_under_the_feet_corrects_the_heads_up():
    """A camera pitched 25 degrees down and rolled 10 films people on a floor. The up head is 9 degrees off (a
    pitch error, the usual one). Someone wandering about the floor lets the feet set the up direction; someone
    walking across the view fixes it about one axis only; someone standing still leaves the head's direction."""
    rng = np.random.default_rng(3)
    R = tilted_camera(25, 10)
    up_true = R[:, 1]
    head = _rotate_towards(up_true, R[:, 0], 9.0)  # world X in camera axes: a pitch error
    assert tilt_degrees(head, up_true) == pytest.approx(9.0, abs=1e-6)

    def person(path_xz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(path_xz)
        world = standing_pose()[None].repeat(n, 0)
        step = np.sin(np.arange(n) / 5.0)  # feet lift in turn, 12 cm at most
        world[:, H.index("left_ankle"), 1] += 0.12 * np.clip(step, 0, None)
        world[:, H.index("right_ankle"), 1] += 0.12 * np.clip(-step, 0, None)
        world[..., [0, 2]] += path_xz[:, None]
        cam = world @ R.T + np.array([0.0, 0.8, 5.0]) + rng.normal(0, 0.02, world.shape)  # 2 cm lifting noise
        return cam, np.ones((n, 17), np.float32)

    t = np.arange(150) / 30.0
    wander = np.stack([1.5 * np.sin(1.3 * t), 1.5 * np.cos(1.3 * t)], 1)  # a 3 m circle
    assert tilt_degrees(floor_up([person(wander)], head), up_true) < 3.0
    # a walk across the view (along world X) only fixes the up direction about the viewing axis...
    across = np.stack([np.linspace(-2, 2, 150), np.zeros(150)], 1)
    rolled = _rotate_towards(up_true, R[:, 2], 8.0)  # a roll error: the walk's direction catches it
    assert tilt_degrees(floor_up([person(across)], rolled), up_true) < 2.0
    # ...while a pitch error, about the walking direction itself, stays (the feet cannot see it)
    assert tilt_degrees(floor_up([person(across)], head), up_true) > 7.0
    # standing still, or seen on too few frames: the head's direction, unchanged
    still, _ = person(np.zeros((150, 2)))
    assert tilt_degrees(floor_up([person(np.zeros((150, 2)))], head), head) < 1.0
    assert tilt_degrees(floor_up([person(wander[:20])], head), head) < 1e-6
    # two people: one wandering, one on stairs (feet 40 cm up and down) that counts for little
    stairs_pts, stairs_conf = person(np.stack([np.linspace(-1, 1, 150), np.linspace(0, 3, 150)], 1))
    stairs_pts = stairs_pts + np.outer(0.4 * np.sign(np.sin(np.arange(150) / 7.0)), up_true)[:, None]
    assert tilt_degrees(floor_up([person(wander), (stairs_pts, stairs_conf)], head), up_true) < 3.0
    # a far-away person (14 m) whose depth the lifter gets wrong by up to 5 %, frame to frame: their feet
    # smear along the viewing ray, which no plane can tell from a walk; they barely move the head's direction
    far, far_conf = person(np.zeros((150, 2)))
    far = far + np.array([0.0, 0.0, 9.0])
    far = far * (1 + 0.05 * np.sin(np.arange(150) / 9.0))[:, None, None]  # the whole body slides along its ray
    assert tilt_degrees(floor_up([(far, far_conf)], head), head) < 2.0
    assert tilt_degrees(floor_up([person(wander), (far, far_conf)], head), up_true) < 3.5
    # unseen ankles are not used: all of them hidden leaves the head's direction
    pts, conf = person(wander)
    conf[:, [H.index("left_ankle"), H.index("right_ankle")]] = 0
    assert tilt_degrees(floor_up([(pts, conf)], head), head) < 1e-6


def test_one_wrong_keypoint_does_not_move_the_person():
    rng = np.random.default_rng(0)
    t = np.arange(60) / 30.0
    pts = np.repeat((standing_pose()[:, :2] * [300, -300] + [500, 700])[None], 60, 0)[:, :17]
    pts[:, :, 0] += 400 * t[:, None]  # fast horizontal motion (13 px per frame) is not an outlier
    pts += rng.normal(0, 1.0, pts.shape)
    conf = np.ones((60, 17), np.float32)
    bad = pts.copy()
    bad[30, 15] += [150, 90]  # one ankle jumps a third of the body away for one frame
    out = suppress_2d_outliers(bad, conf)
    assert out[30, 15] == 0 and out.sum() == 60 * 17 - 1
    assert suppress_2d_outliers(pts, conf).min() == 1  # nothing flagged on clean motion
    root = np.stack([0.4 * t, np.zeros(60), 4 + 0.1 * t], 1)
    spiky = root.copy()
    spiky[20, 2] += 0.28  # the depth jumps 28 cm for one frame
    spiky[40:, 0] += 2.0  # and a 2 m teleport at frame 40
    fixed = steady_root(spiky, t, smooth_s=0.0)
    assert np.abs(fixed[20] - root[20]).max() < 0.01
    assert (np.linalg.norm(np.diff(fixed, axis=0), axis=-1) <= MAX_SPEED / 30 + 1e-6).all()
    assert np.abs(steady_root(spiky, t)[20] - root[20]).max() < 0.01  # with the default smoothing too
    np.testing.assert_allclose(steady_root(root, t), root, atol=1e-5)  # steady motion untouched, ends included
    wobbly = root + np.stack([np.zeros(60), np.zeros(60), 0.1 * (-1.0) ** np.arange(60)], 1)  # depth +-10 cm
    err = np.abs(steady_root(wobbly, t) - root).max(-1)
    assert err[10:-10].max() < 0.01 and err.max() < 0.05  # the ends see the wobble from one side only


def test_frames_that_saw_nobody_do_not_drag_the_root():
    """A person hidden for 0.8 s in the middle of 3 s: those frames' roots are whatever the camera model gives
    for no keypoints (hundreds of metres off in a held-out render). estimate interpolates them from the frames
    that saw the person, so the rest of the track lands where it lands without the gap; left in, the robust
    filter's speed cap follows them far away."""
    from posecli.lifting.pipeline import lift_track

    torch.manual_seed(0)
    model = build_lifter(LifterConfig(temporal="tcn", channels=16, receptive_field=9, up_head=True)).eval()
    coco, _ = joints.convert(standing_pose(), np.ones(17), "h36m17", "coco17")
    coco = np.where(np.isfinite(coco), coco, standing_pose()[[10]])
    t = np.arange(90) / 30.0
    pix = (coco[:, :2] * [150.0, -150.0] + [200.0, 350.0]).astype(np.float32)[None].repeat(90, 0)
    pix[..., 0] += (60 * t)[:, None].astype(np.float32)  # walking across the image
    seen = np.ones((90, 17), np.float32)
    hidden = seen.copy()
    hidden[30:54] = 0.0

    def root(conf):
        pts = np.where(conf[..., None] > 0, pix, np.nan).astype(np.float32)
        track = Track(1, np.arange(90), t, {KEYPOINTS_2D: Keypoints("coco17", pts, conf)})
        with torch.inference_mode():
            return lift_track(model, track, 9, 640, 480, focal=500.0, model_fps=30.0).arrays["root"]

    whole, gap = root(seen), root(hidden)
    far = np.r_[0:20, 64:90]  # frames away from the gap's edges (the smoothing sees the gap near them)
    assert np.linalg.norm(gap[far] - whole[far], axis=-1).max() < 0.1
    assert np.linalg.norm(gap - whole, axis=-1).max() < 1.0  # inside the gap too: between its neighbours


def test_one_body_per_track():
    from posecli.lifting.bones import constant_bones

    rng = np.random.default_rng(0)
    pose = standing_pose() - standing_pose()[:1]
    frames = np.repeat(pose[None], 20, 0)
    # each frame's bones stretched by its own factor (what a per-frame lifter does), directions kept
    factors = rng.uniform(0.9, 1.1, (20, 17))
    jittered = frames.copy()
    for j, p in enumerate(H.parents):
        if p >= 0:
            jittered[:, j] = jittered[:, p] + factors[:, j, None] * (frames[:, j] - frames[:, p])
    fixed = constant_bones(jittered)
    for j, p in enumerate(H.parents):
        if p >= 0:
            length = np.linalg.norm(fixed[:, j] - fixed[:, p], axis=-1)
            assert np.ptp(length) < 1e-9  # one length per bone
            true = np.linalg.norm(pose[j] - pose[p])
            assert abs(length[0] - true) < 0.1 * true + 1e-9
    assert np.abs(fixed - frames).mean() < np.abs(jittered - frames).mean()


def test_left_and_right_bones_get_one_length():
    from posecli.lifting.bones import constant_bones

    pose = standing_pose() - standing_pose()[:1]
    lk, la, rk, ra = (H.index(n) for n in ("left_knee", "left_ankle", "right_knee", "right_ankle"))
    frames = np.repeat(pose[None], 10, 0)
    # the lifter's left shin 20 % short on every frame, its right shin as it is
    short = frames.copy()
    short[:, la] = short[:, lk] + 0.8 * (frames[:, la] - frames[:, lk])
    shin = np.linalg.norm(pose[ra] - pose[rk])
    assert abs(np.linalg.norm(pose[la] - pose[lk]) - shin) < 1e-9  # the test pose is symmetric
    for symmetric, left, right in ((True, 0.9 * shin, 0.9 * shin), (False, 0.8 * shin, shin)):
        out = constant_bones(short, symmetric=symmetric)
        assert np.allclose(np.linalg.norm(out[:, la] - out[:, lk], axis=-1), left)
        assert np.allclose(np.linalg.norm(out[:, ra] - out[:, rk], axis=-1), right)
    # the default is the symmetric body (what estimate uses); the spine has no twin and keeps its own length
    out = constant_bones(short)
    np.testing.assert_allclose(out, constant_bones(short, symmetric=True))
    sp, th = H.index("spine"), H.index("thorax")
    assert np.allclose(out[:, th] - out[:, sp], short[:, th] - short[:, sp])


def test_limbs_pulled_towards_their_keypoints():
    from posecli.lifting.reproject import PULL, pull_to_keypoints

    pose = standing_pose() - standing_pose()[:1]
    pose[:, 1] *= -1  # camera frame: y down
    points = np.repeat((pose + [0.0, 0.0, 4.0])[None], 10, 0)
    focal, centre = 1000.0, (500.0, 500.0)
    uv = focal * points[..., :2] / points[..., 2:] + centre  # (T, 17) in H36M order
    coco = np.zeros((10, 17, 2))
    for n in joints.COCO17.joints:
        coco[:, joints.COCO17.index(n)] = uv[:, H.index(n if n in H.joints else "head")]
    wrist = joints.COCO17.index("left_wrist")
    coco[:, wrist, 0] += 100  # the detected wrist is 100 px (0.4 m at 4 m) right of the lifted one
    conf = np.ones((10, 17))
    out = pull_to_keypoints(points, coco, conf, focal, centre, np.arange(10) / 30)
    moved = out[:, H.index("left_wrist")] - points[:, H.index("left_wrist")]
    np.testing.assert_allclose(moved, np.repeat([[PULL * 0.4, 0.0, 0.0]], 10, 0), atol=1e-6)  # depth kept
    others = [i for i in range(17) if i != H.index("left_wrist")]
    np.testing.assert_allclose(out[:, others], points[:, others], atol=1e-6)
    conf[:, wrist] = 0.3  # an unsure keypoint moves nothing
    np.testing.assert_allclose(pull_to_keypoints(points, coco, conf, focal, centre, np.arange(10) / 30), points,
                               atol=1e-6)


def test_tcn_runs_long_sequences_in_pieces_with_the_same_result():
    from posecli.lifting.windows import run_lifter

    torch.manual_seed(0)
    m = TCNLifter(LifterConfig(temporal="tcn", channels=16, receptive_field=27, up_head=True)).eval()
    x = np.random.default_rng(0).normal(size=(100, 17, 3)).astype(np.float32)
    whole = m(torch.as_tensor(x[None]), pad=True)
    pieces = run_lifter(m, x, 32, chunk=7)
    for k in ("joints", "camera", "up"):
        np.testing.assert_allclose(pieces[k], whole[k][0].detach().numpy(), atol=1e-5)


def test_keypoint_dropout_follows_the_batch_to_its_device():
    """SPS's occlusion term draws its mask on the CPU generator (same runs on every device) and must move
    it to the batch's device: a CUDA batch failed with 'Tensor on device cpu is not on the expected device'.
    The meta device stands in for CUDA here."""
    import torch

    from posecli.train.estimate import drop_keypoints

    gen = torch.Generator().manual_seed(0)
    assert drop_keypoints(torch.ones(2, 3, 17, 3, device="meta"), gen).device.type == "meta"
    out = drop_keypoints(torch.ones(2, 3, 17, 3), torch.Generator().manual_seed(0))
    dropped = (out == 0).all(-1).sum(-1)
    assert ((dropped >= 3) & (dropped <= 5)).all()


def test_view_rotation_takes_the_optical_axis_onto_the_persons_ray():
    centre = np.array([[320.0, 240.0], [620.0, 240.0], [100.0, 450.0], [0.0, 0.0]])
    rot = view_rotations(centre, (320.0, 240.0), 500.0, seen=np.array([True, True, True, False]))
    np.testing.assert_allclose(rot[0], np.eye(3), atol=1e-12)  # at the principal point: nothing to turn
    np.testing.assert_allclose(rot[3], np.eye(3))  # a frame with nobody seen
    for r, c in zip(rot[1:3], centre[1:3]):
        ray = np.array([(c[0] - 320) / 500, (c[1] - 240) / 500, 1.0])
        np.testing.assert_allclose(r @ [0.0, 0.0, 1.0], ray / np.linalg.norm(ray), atol=1e-12)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    # 300 px right of centre at f = 500: 31 degrees about the camera's y axis, nothing about x
    assert np.degrees(np.arccos(rot[1][2, 2])) == pytest.approx(np.degrees(np.arctan(300 / 500)))
    np.testing.assert_allclose(rot[1] @ [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_an_off_centre_person_is_lifted_in_the_cameras_axes():
    """The lifter sees the same normalised 2D wherever the person stands; estimate turns its joints and up
    direction by the person's viewing ray, so the same pose 200 px right of centre comes out turned by that
    ray, and the centred one as the lifter gave it."""
    from posecli.lifting.pipeline import lift_track

    torch.manual_seed(0)
    model = build_lifter(LifterConfig(temporal="tcn", channels=16, receptive_field=9, up_head=True)).eval()
    coco, _ = joints.convert(standing_pose(), np.ones(17), "h36m17", "coco17")
    coco = np.where(np.isfinite(coco), coco, standing_pose()[[10]])
    pix = (coco[:, :2] * [200.0, -200.0] + [320.0, 400.0]).astype(np.float32)[None].repeat(20, 0)
    pix += np.random.default_rng(0).normal(0, 1.0, pix.shape).astype(np.float32)
    conf = np.ones((20, 17), np.float32)
    hips = pix[:, [11, 12]].mean(1)

    def lift(shift):
        track = Track(1, np.arange(20), np.arange(20) / 30, {KEYPOINTS_2D: Keypoints("coco17", pix + shift, conf)})
        with torch.inference_mode():
            return lift_track(model, track, 9, 640, 480, focal=500.0, model_fps=30.0, robust=False)

    centred = lift(np.array([320.0, 240.0]) - hips.mean(0))  # the hips at the principal point
    off = lift(np.array([520.0, 240.0]) - hips.mean(0))  # the same pose 200 px to the right
    ray = view_rotations(off.keypoints[KEYPOINTS_2D].points[:, [11, 12]].mean(1), (320.0, 240.0), 500.0)
    turn = ray @ np.swapaxes(view_rotations(centred.keypoints[KEYPOINTS_2D].points[:, [11, 12]].mean(1),
                                            (320.0, 240.0), 500.0), 1, 2)
    assert np.degrees(np.arccos(turn[:, 2, 2])).min() > 20  # atan(200 / 500) = 21.8 degrees
    np.testing.assert_allclose(off.arrays["up_camera"], np.einsum("tij,tj->ti", turn, centred.arrays["up_camera"]),
                               atol=1e-5)
    rel_c = centred.arrays["keypoints3d_all"] - centred.arrays["root"][:, None]
    rel_o = off.arrays["keypoints3d_all"] - off.arrays["root"][:, None]
    # the 12 limb joints are then pulled towards their own rays: compare the rest (pelvis, spine, thorax, head)
    torso = [0, 7, 8, 9, 10]
    np.testing.assert_allclose(rel_o[:, torso], np.einsum("tij,tkj->tki", turn, rel_c[:, torso]), atol=2e-3)


def _lifter_file(folder, name: str, seed: int, up_head: bool = True):
    from dataclasses import asdict

    from posecli.train.weights import save_weights

    torch.manual_seed(seed)
    cfg = LifterConfig(temporal="tcn", channels=16, receptive_field=9, up_head=up_head)
    path = folder / f"{name}.safetensors"
    save_weights(build_lifter(cfg).eval(), path, {"model": "TCNLifter",
                                                   "config": {"model": asdict(cfg), "length": 8}})
    return path


def test_a_separate_gravity_model_gives_the_world_frame(tmp_path):
    """``estimate_poses(up_weights=...)``: the joints are the lifter's, the world's up is the gravity model's
    (its up head's average over the track, through the same viewing-ray turn), and the meta says which."""
    from posecli.lifting.pipeline import estimate_poses, load_lifter, up_from_model
    from posecli.lifting.world import average_up
    from posecli.poses import Poses

    lifter, gravity = _lifter_file(tmp_path, "lifter", 0), _lifter_file(tmp_path, "gravity", 1)
    coco, _ = joints.convert(standing_pose(), np.ones(17), "h36m17", "coco17")
    coco = np.where(np.isfinite(coco), coco, standing_pose()[[10]])
    rng = np.random.default_rng(0)
    pix = (coco[:, :2] * [200.0, -200.0] + [420.0, 400.0]).astype(np.float32)[None].repeat(40, 0)
    pix += rng.normal(0, 2.0, pix.shape).astype(np.float32)
    track = Track(1, np.arange(40), np.arange(40) / 30, {KEYPOINTS_2D: Keypoints("coco17", pix, np.ones((40, 17)))})
    poses = Poses([track], 30.0, 640, 480, 40)
    own = estimate_poses(poses, lifter, focal=500.0, robust=False, up_weights=None)  # the lifter's own head
    sep = estimate_poses(poses, lifter, focal=500.0, robust=False, up_weights=gravity)
    np.testing.assert_allclose(sep.tracks[0].keypoints[KEYPOINTS_3D].points,
                               own.tracks[0].keypoints[KEYPOINTS_3D].points)  # same joints
    model, card = load_lifter(gravity)
    with torch.inference_mode():
        expected = average_up([up_from_model(model, card, track, 640, 480, focal=500.0, robust=False)],
                              [np.ones(40)])
    np.testing.assert_allclose(sep.meta["world"]["up_head"], expected, atol=1e-4)
    assert tilt_degrees(own.meta["world"]["up_head"], sep.meta["world"]["up_head"]) > 1.0  # not the lifter's
    assert sep.meta["world"]["up_model"] == "gravity.safetensors"
    assert own.meta["world"]["up_model"] == "lifter.safetensors"
    np.testing.assert_allclose(sep.tracks[0].arrays["up_camera"],
                               up_from_model(model, card, track, 640, 480, focal=500.0, robust=False), atol=1e-6)
    # the gravity path turns the up by the viewing ray as the lifter's own path does: the lifter used as its own
    # gravity model gives back its own per-frame up (the person stands 100 px right of centre: a 10-degree turn)
    lifter_model, lifter_card_ = load_lifter(lifter)
    with torch.inference_mode():
        via_gravity = up_from_model(lifter_model, lifter_card_, track, 640, 480, focal=500.0, robust=False)
    np.testing.assert_allclose(via_gravity, own.tracks[0].arrays["up_camera"], atol=1e-5)
    with pytest.raises(PoseCliError, match="no up head"):
        estimate_poses(poses, lifter, up_weights=_lifter_file(tmp_path, "headless", 2, up_head=False))


def test_estimate_takes_the_up_from_the_weights_folders_gravity_model(tmp_path, monkeypatch, capsys):
    """The CLI's default: the weights folder's ``estimate_up`` when there is one; ``--lifter-up`` the lifter's
    own head; both choices at once is one clear line and no output."""
    from posecli.cli import main
    from posecli.formats import read_poses, write_poses
    from posecli.poses import Poses

    _lifter_file(tmp_path, "estimate", 0)
    monkeypatch.setenv("POSECLI_WEIGHTS", str(tmp_path))
    coco, _ = joints.convert(standing_pose(), np.ones(17), "h36m17", "coco17")
    coco = np.where(np.isfinite(coco), coco, standing_pose()[[10]])
    pix = (coco[:, :2] * [200.0, -200.0] + [320.0, 400.0]).astype(np.float32)[None].repeat(30, 0)
    track = Track(1, np.arange(30), np.arange(30) / 30, {KEYPOINTS_2D: Keypoints("coco17", pix, np.ones((30, 17)))})
    write_poses(Poses([track], 30.0, 640, 480, 30), tmp_path / "tracks.npz")

    def run(*extra):
        out = tmp_path / "out.npz"
        out.unlink(missing_ok=True)
        code = main(["estimate", str(tmp_path / "tracks.npz"), "-o", str(out), "-q", *extra])
        return code, (read_poses(out).meta if out.exists() else None)

    assert run()[1]["world"]["up_model"] == "estimate.safetensors"  # no gravity model in the folder: the lifter's
    _lifter_file(tmp_path, "estimate_up", 1)
    assert run()[1]["world"]["up_model"] == "estimate_up.safetensors"
    assert run("--lifter-up")[1]["world"]["up_model"] == "estimate.safetensors"
    capsys.readouterr()
    code, meta = run("--lifter-up", "--up-weights", str(tmp_path / "estimate_up.safetensors"))
    assert code == 1 and meta is None and "give one of them" in capsys.readouterr().err
    code, meta = run("--up-weights", str(tmp_path / "missing.safetensors"))
    err = capsys.readouterr().err
    assert code == 1 and meta is None and "pass --up-weights FILE" in err and "posecli train estimate " in err
