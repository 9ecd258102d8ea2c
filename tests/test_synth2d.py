import numpy as np
import pytest

from posecli import joints
from posecli.errors import PoseCliError
from posecli.synth2d import (Camera, CameraSampler, ar1_normal, crop_windows, intrinsics, joint_sigmas,
                             look_at_rotation, occlusion_masks, person_scale, realistic_2d,
                             simulate_videography, view_angles)

# A standing COCO-17 person in world metres (Y up, floor at 0), facing +Z, so their left is +X.
STAND = np.array([
    [0.00, 1.62, 0.08], [0.03, 1.66, 0.06], [-0.03, 1.66, 0.06], [0.08, 1.64, 0.0], [-0.08, 1.64, 0.0],
    [0.19, 1.45, 0.0], [-0.19, 1.45, 0.0], [0.22, 1.17, 0.0], [-0.22, 1.17, 0.0], [0.24, 0.90, 0.05],
    [-0.24, 0.90, 0.05], [0.11, 0.95, 0.0], [-0.11, 0.95, 0.0], [0.11, 0.52, 0.02], [-0.11, 0.52, 0.02],
    [0.11, 0.08, 0.0], [-0.11, 0.08, 0.0]])
COCO = joints.get("coco17")
LEGS = [COCO.index(n) for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
HEAD = [COCO.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]


def walker(T=90, fps=30.0):
    """(T, 17, 3) a person walking 1 m along X, swinging arms and legs."""
    t = np.arange(T) / fps
    pts = np.repeat(STAND[None], T, axis=0).copy()
    pts[..., 0] += np.linspace(-0.5, 0.5, T)[:, None]
    swing = 0.25 * np.sin(2 * np.pi * 1.0 * t)[:, None]
    for side, sign in (("left", 1), ("right", -1)):
        pts[:, COCO.index(f"{side}_wrist"), 2] += sign * swing[:, 0]
        pts[:, COCO.index(f"{side}_ankle"), 2] -= sign * swing[:, 0]
        pts[:, COCO.index(f"{side}_knee"), 2] -= 0.5 * sign * swing[:, 0]
    return pts


def front_camera(d=3.0, f=1000.0, w=1280, h=720):
    """A camera at (0, 0, d) looking at the origin, image up = world up."""
    R = look_at_rotation(np.array([0.0, 0.0, -1.0]))
    return Camera(intrinsics(f, w, h), R, -R @ np.array([0.0, 0.0, d]), w, h)


# --- cameras -----------------------------------------------------------------------------------------------

def test_projection_at_known_depth():
    cam = front_camera(d=3.0, f=1000.0)
    uv, depth = cam.project(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    np.testing.assert_allclose(uv[0], [640, 360])
    np.testing.assert_allclose(uv[1], [640 + 1000 / 3, 360])  # 1 m right -> cx + f/d
    np.testing.assert_allclose(uv[2], [640, 360 - 1000 / 3])  # world up -> image up (y down)
    np.testing.assert_allclose(depth, 3.0)
    np.testing.assert_allclose(cam.center, [0, 0, 3])
    # The sampler with degenerate ranges builds the same camera.
    s = CameraSampler(azimuth=(0, 0), elevation=(0, 0), roll=(0, 0), distance=(3, 3), aim_jitter=0.0,
                      focal_mm=(36 * 1000 / 1280,) * 2, image_sizes=((1280, 720),))
    c = s.sample(np.random.default_rng(0), np.zeros(3))[0]
    np.testing.assert_allclose(c.R, cam.R, atol=1e-12)
    np.testing.assert_allclose(c.t, cam.t, atol=1e-12)
    np.testing.assert_allclose(c.K, cam.K)
    # Behind the camera: no image point.
    uv, depth = cam.project(np.array([0.0, 0.0, 5.0]))
    assert np.isnan(uv).all() and depth < 0


@pytest.mark.parametrize("jitter", [0.0, 0.1])
def test_sampler_angle_ranges(jitter):
    target = np.array([0.3, 1.0, -2.0])
    cams = CameraSampler(aim_jitter=jitter).sample_batch(np.random.default_rng(1), target, 3000)
    az, el, roll = view_angles(cams, target)
    assert az.min() >= -180 and az.max() <= 180 and az.min() < -170 and az.max() > 170
    assert el.min() >= -30 - 1e-9 and el.max() <= 30 + 1e-9 and el.min() < -28 and el.max() > 28
    assert roll.min() >= -30 - 1e-9 and roll.max() <= 30 + 1e-9 and roll.min() < -28 and roll.max() > 28
    assert ((np.linalg.norm(cams.center - target, axis=-1) >= 2.5 - 1e-9)
            & (np.linalg.norm(cams.center - target, axis=-1) <= 6.0 + 1e-9)).all()
    # Positive elevation puts the camera above the target.
    assert np.all((cams.center[:, 1] > target[1]) == (el > 0))
    # Every camera sees the person in front of it, the target near its image centre.
    uv, depth = cams.project(np.broadcast_to(STAND + target - [0, 1, 0], (3000, 17, 3)))
    assert (depth > 0).all()
    uv_t, _ = cams.project(np.broadcast_to(target, (3000, 3)))
    size = np.stack([cams.width, cams.height], -1)
    assert (np.abs(uv_t - size / 2) <= jitter * size / 2 + 1e-6).all()


def test_fit_in_frame_keeps_the_person_inside():
    clip = walker()
    target = clip[:, COCO.index("left_hip")].mean(0) / 2 + clip[:, COCO.index("right_hip")].mean(0) / 2
    cams = CameraSampler(fit_in_frame=True).sample_batch(np.random.default_rng(2), target, 300, points=clip)
    uv, depth = cams.project(np.broadcast_to(clip, (300,) + clip.shape))
    w, h = cams.width[:, None, None], cams.height[:, None, None]
    assert (depth > 0).all()
    assert ((uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)).all()
    # The tallest frame spans up to 90 % of the height; mostly in the sampled 40-90 % (less when the walk
    # across the frame, not the height, decides the distance).
    fill = (uv[..., 1].max(-1) - uv[..., 1].min(-1)).max(-1) / cams.height
    assert fill.max() <= 0.9 + 1e-3 and np.mean(fill >= 0.4 - 1e-3) > 0.5 and fill.min() > 0.1


def test_sampler_is_deterministic_and_multiview_shares_the_target():
    s = CameraSampler(fit_in_frame=True)
    clip = walker(30)
    a = s.sample(np.random.default_rng(7), clip.mean((0, 1)), 4, points=clip)
    b = s.sample(np.random.default_rng(7), clip.mean((0, 1)), 4, points=clip)
    c = s.sample(np.random.default_rng(8), clip.mean((0, 1)), 4, points=clip)
    assert len(a) == 4 and all(isinstance(x, Camera) for x in a)
    for x, y in zip(a, b):
        assert np.array_equal(x.R, y.R) and np.array_equal(x.t, y.t) and np.array_equal(x.K, y.K)
        assert (x.width, x.height) == (y.width, y.height)
    assert not np.allclose(a[0].R, c[0].R)
    # Four views of one pose at once, all aimed at the same centre: a (N, 3) per-frame centre is averaged.
    target = clip.mean((0, 1))
    s0 = CameraSampler(aim_jitter=0.0)
    views = s0.sample(np.random.default_rng(3), np.repeat(target[None], 30, 0), 4)
    for cam in views:
        uv, _ = cam.project(target)
        np.testing.assert_allclose(uv, [cam.width / 2, cam.height / 2], atol=1e-6)
    assert len({tuple(np.round(v.center, 6)) for v in views}) == 4


def test_fit_in_frame_needs_points():
    with pytest.raises(PoseCliError):
        CameraSampler(fit_in_frame=True).sample(np.random.default_rng(0), np.zeros(3))
    with pytest.raises(PoseCliError):
        CameraSampler(elevation=(-90, 30))


# --- noise ---------------------------------------------------------------------------------------------------

def clean_views(n=4000, seed=0):
    """(n, 17, 2) single-frame projections of the standing person from random views."""
    rng = np.random.default_rng(seed)
    cams = CameraSampler(fit_in_frame=True).sample_batch(rng, STAND.mean(0), n, points=STAND)
    uv, _ = cams.project(np.broadcast_to(STAND, (n, 17, 3)))
    return uv


QUIET = dict(outlier_prob=0.0, drop_prob=0.0, swap_rate=0.0)


def test_noise_magnitude_matches_the_configured_sigmas():
    uv = clean_views()
    scale = person_scale(uv)
    out, conf = realistic_2d(uv, np.random.default_rng(0), "coco17", **QUIET)
    rel = (out - uv) / scale[:, None, None]
    std = rel.std(axis=(0, 2))
    np.testing.assert_allclose(std, joint_sigmas("coco17"), rtol=0.05)
    assert std[COCO.index("left_wrist")] > std[COCO.index("left_shoulder")]
    assert std[COCO.index("left_ankle")] > std[COCO.index("left_hip")]
    out2, _ = realistic_2d(uv, np.random.default_rng(0), "coco17", sigma_scale=2.0, **QUIET)
    np.testing.assert_allclose(((out2 - uv) / scale[:, None, None]).std(axis=(0, 2)), 2 * std, rtol=1e-9)


def test_dropped_joints_are_nan_with_zero_confidence():
    uv = clean_views(2000)
    out, conf = realistic_2d(uv, np.random.default_rng(1), "coco17", drop_prob=0.1)
    missing = np.isnan(out).any(-1)
    assert np.array_equal(missing, conf == 0)
    assert np.isnan(out[missing]).all()
    assert abs(missing.mean() - 0.1) < 0.01
    assert (conf[~missing] >= 0.05).all() and (conf <= 1).all()


def test_swaps_exchange_left_and_right_exactly_in_runs():
    uv = np.repeat(clean_views(1)[:1], 3000, axis=0)
    perm = COCO.flip_permutation
    out, _ = realistic_2d(uv, np.random.default_rng(2), "coco17", sigma_scale=0.0, **{**QUIET, "swap_rate": 0.02},
                          swap_length=(5, 20))
    same = (out == uv).all((1, 2))
    flipped = (out == uv[:, perm]).all((1, 2))
    assert (same ^ flipped).all()  # every frame is exactly one or the other
    assert 0.1 < flipped.mean() < 0.5
    starts = np.flatnonzero(np.diff(flipped.astype(int)) == 1) + 1
    ends = np.flatnonzero(np.diff(flipped.astype(int)) == -1) + 1
    assert (ends[:len(starts)] - starts[:len(ends)] >= 5).all()  # runs, not single frames


def test_confidence_falls_with_error():
    uv = clean_views()
    out, conf = realistic_2d(uv, np.random.default_rng(3), "coco17", swap_rate=0.0)
    err = np.linalg.norm(out - uv, axis=-1) / person_scale(uv)[:, None]
    ok = conf > 0
    assert np.corrcoef(err[ok], conf[ok])[0, 1] < -0.5
    assert np.median(conf[ok]) > 0.8


def test_default_noise_scores_like_blazepose_full():
    uv = np.concatenate([clean_views(3000, seed=s) for s in range(2)])
    out, conf = realistic_2d(uv, np.random.default_rng(4), "coco17", swap_length=(5, 20))
    torso = np.linalg.norm(uv[:, COCO.index("left_shoulder")] - uv[:, COCO.index("right_hip")], axis=-1)
    hit = np.linalg.norm(out - uv, axis=-1) <= 0.2 * torso[:, None]  # NaN (dropped) counts as a miss
    assert 0.945 < hit.mean() < 0.97  # BlazePose Full: 95.5-96.3 % (noise.py)


def test_ar1_noise_is_correlated_over_time_with_unit_variance():
    z = ar1_normal(np.random.default_rng(5), (20000, 3), 0.8)
    assert abs(z.std() - 1) < 0.05
    lag1 = np.mean(z[1:] * z[:-1]) / np.mean(z * z)
    assert abs(lag1 - 0.8) < 0.03
    uv = np.repeat(clean_views(1)[:1], 2000, axis=0)
    out, _ = realistic_2d(uv, np.random.default_rng(6), "coco17", rho=0.9, **QUIET)
    e = out - uv
    assert np.mean(e[1:] * e[:-1]) / np.mean(e * e) > 0.85


def test_noise_is_deterministic_and_effects_draw_independently():
    uv = clean_views(200)
    a = realistic_2d(uv, np.random.default_rng(9), "coco17")
    b = realistic_2d(uv, np.random.default_rng(9), "coco17")
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))
    # Changing the drop rate leaves the jitter of the kept joints as it was.
    c, _ = realistic_2d(uv, np.random.default_rng(9), "coco17", drop_prob=0.0)
    kept = np.isfinite(a[0]).all(-1)
    assert np.array_equal(a[0][kept], c[kept])


# --- videography ------------------------------------------------------------------------------------------

def filmed(T=150, seed=0):
    clip = walker(T)
    cam = CameraSampler(fit_in_frame=True).sample(np.random.default_rng(seed), clip.mean((0, 1)), points=clip)[0]
    uv, _ = cam.project(clip)
    return uv, cam


def test_crop_window_path_is_smooth():
    uv, cam = filmed(300)
    for seed in range(5):
        _, _, A = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(seed))
        win = crop_windows(A, (cam.width, cam.height))
        path = np.concatenate([(win[:, :2] + win[:, 2:]) / 2, win[:, 2:] - win[:, :2]], -1) / cam.height
        d1, d2 = np.diff(path, axis=0), np.diff(path, n=2, axis=0)
        assert np.abs(d2).max() < 0.01  # < 1 % of the image height per frame^2
        assert np.sqrt((d2 ** 2).mean()) < 0.2 * np.sqrt((d1 ** 2).mean()) + 1e-6
        assert path[:, 2:].std() > 0 or path[:, :2].std() > 0  # it does move


def test_visibility_is_inside_the_window_and_the_image():
    uv, cam = filmed()
    seen = []
    for seed in range(10):
        new, visible, A = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(seed),
                                               zoom_range=(1.5, 3.0))
        win = crop_windows(A, (cam.width, cam.height))
        inside = ((uv >= win[:, None, :2]) & (uv <= win[:, None, 2:])).all(-1)
        in_image = ((uv >= 0) & (uv <= [cam.width, cam.height])).all(-1)
        assert np.array_equal(visible, inside & in_image)
        # The output coordinates are the window resized to the output image, hidden joints included.
        expect = (uv - win[:, None, :2]) * (cam.height / (win[:, 3] - win[:, 1]))[:, None, None]
        np.testing.assert_allclose(new, expect, atol=1e-6)
        h = np.concatenate([uv, np.ones(uv.shape[:2] + (1,))], -1)
        np.testing.assert_allclose(np.einsum("tij,tkj->tki", A, h)[..., :2], new, atol=1e-6)
        seen.append(visible.mean())
    assert min(seen) < 1.0  # a 1.5-3x zoom on a framed person truncates some joints
    # No zoom, no pan, no following: the identity, and a fit-in-frame person is fully visible.
    new, visible, A = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(0), zoom_range=(1, 1),
                                           pan_range=0.0, follow=False)
    np.testing.assert_allclose(A, np.broadcast_to(np.eye(3), A.shape), atol=1e-9)
    assert visible.all() and np.allclose(new, uv)


def test_forced_lower_body_truncation_hides_legs_keeps_head():
    for seed in range(10):
        uv, cam = filmed(90, seed=seed)
        _, visible, _ = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(seed),
                                             truncate_lower_body=1.0, joint_set="coco17", out_size=(224, 224))
        assert not visible[:, LEGS].any()
        assert visible[:, HEAD].all()
    with pytest.raises(PoseCliError):
        simulate_videography(uv, cam.width, cam.height, np.random.default_rng(0), truncate_lower_body=1.0)


def test_videography_is_deterministic():
    uv, cam = filmed()
    a = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(11), truncate_lower_body=0.5,
                             joint_set="coco17")
    b = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(11), truncate_lower_body=0.5,
                             joint_set="coco17")
    c = simulate_videography(uv, cam.width, cam.height, np.random.default_rng(12))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.allclose(a[2], c[2])


def test_occluder_hides_the_joints_behind_it():
    uv, _ = filmed()
    hidden, boxes = occlusion_masks(uv, np.random.default_rng(0), prob=1.0, size_range=(0.4, 0.4))
    inside = ((uv >= boxes[:, None, :2]) & (uv <= boxes[:, None, 2:])).all(-1)
    assert np.array_equal(hidden, inside) and hidden.any()
    none, nan_boxes = occlusion_masks(uv, np.random.default_rng(0), prob=0.0)
    assert not none.any() and np.isnan(nan_boxes).all()


def test_pipeline_from_mocap_to_detector_like_2d():
    rng = np.random.default_rng(0)
    clip = walker(60)
    cams = CameraSampler(fit_in_frame=True).sample(rng, clip.mean((0, 1)), 3, points=clip)
    for cam in cams:
        uv, _ = cam.project(clip)
        new, visible, _ = simulate_videography(uv, cam.width, cam.height, rng, out_size=(256, 256))
        noisy, conf = realistic_2d(new, rng, "coco17", rho=0.8, visible=visible)
        assert noisy.shape == (60, 17, 2) and conf.shape == (60, 17)
        if (~visible).any():  # joints cut off by the window are guessed with low confidence
            assert conf[visible].mean() > conf[~visible].mean()


def test_mirror_swaps_sides_and_flips_x():
    from posecli import joints
    from posecli.train.clips import mirror

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4, 17, 3)).astype(np.float32)
    m = mirror(pts, "h36m17")
    h = joints.H36M17
    np.testing.assert_allclose(m[:, h.index("left_knee")], pts[:, h.index("right_knee")] * [-1, 1, 1])
    np.testing.assert_allclose(mirror(m, "h36m17"), pts)


def test_glitch_mask_covers_flips_and_the_time_between():
    from posecli.mocap.dataset import Sequence
    from posecli.train.clips import glitch_mask

    pts = np.zeros((100, 17, 3), np.float32)
    seq = Sequence("005", "005_05", 30.0, {"h36m17": pts, "coco17": pts},
                   {"source_fps": 60.0, "jump_frames": [40, 50, 180]})  # source frames at 60 fps
    mask = glitch_mask(seq)
    assert mask[20:26].all() and not mask[19] and not mask[26]  # 40..50 at 60 fps -> 20..25 at 30 fps
    assert mask[90] and mask.sum() == 7  # a lone pop masks its own frame


def test_gaussian_2d_is_the_plain_error_model_at_the_rates_asked():
    from posecli.synth2d import gaussian_2d

    rng = np.random.default_rng(0)
    uv = np.zeros((4000, 17, 2))
    uv[:, :, 1] = np.linspace(100, 300, 17)  # a person 200 px tall
    out, conf = gaussian_2d(uv, rng, sigma=0.025, drop=0.05)
    gone = ~np.isfinite(out).all(-1)
    assert abs(gone.mean() - 0.05) < 0.005
    np.testing.assert_array_equal(conf, np.where(gone, 0.0, 1.0))
    err = (out - uv)[~gone]
    np.testing.assert_allclose(err.std(0), [5.0, 5.0], rtol=0.02)  # 2.5 % of 200 px, per axis
    assert abs(err.mean()) < 0.1
    # frames independent: no correlation between consecutive frames' errors
    e = (out - uv)[:, 0, 0]
    ok = np.isfinite(e[1:]) & np.isfinite(e[:-1])
    assert abs(np.corrcoef(e[1:][ok], e[:-1][ok])[0, 1]) < 0.05
