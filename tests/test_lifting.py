"""The lifting pipeline's own steps: frame-rate resampling and test-time flip augmentation."""
import numpy as np
import torch

from posecli import joints
from posecli.lifting.pipeline import _interp_input, _lift_with_flip, _lift_with_tta, interp_frames, resample_times
from posecli.models.sps_lifter import LifterConfig, SPSLifter


def test_lifting_resamples_to_the_model_rate_and_back():
    t = np.arange(0, 61) / 60.0  # one second at 60 fps
    grid = resample_times(t, 30.0)
    assert len(grid) == 31 and grid[-1] == t[-1]
    x = np.zeros((61, 17, 3), np.float32)
    x[:, :, 0] = t[:, None]  # x coordinate = time, seen everywhere but joint 3 at frames 10-19
    x[:, :, 2] = 1.0
    x[10:20, 3] = 0.0
    r = _interp_input(x, t, grid)
    np.testing.assert_allclose(r[:, 0, 0], grid, atol=1e-6)
    inside = (grid >= 10 / 60) & (grid <= 19 / 60)  # model frames that fall in the gap stay missing
    assert (r[inside, 3] == 0).all()
    np.testing.assert_allclose(r[~inside, 3, 0], grid[~inside], atol=1e-6)
    back = interp_frames(r[:, :, :1], grid, t)
    np.testing.assert_allclose(back[:, 0, 0], t, atol=1e-6)


def test_flip_augmented_lifting_is_mirror_equivariant():
    torch.manual_seed(0)
    model = SPSLifter(LifterConfig(dim=32, regressor_hidden=32)).eval()
    x = np.random.default_rng(0).normal(size=(40, 17, 3)).astype(np.float32)
    x[..., 2] = 1.0
    mirrored = x[:, joints.COCO17.flip_permutation] * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    a = _lift_with_flip(model, x, 16, "cpu")
    b = _lift_with_flip(model, mirrored, 16, "cpu")
    expect = a["joints"][:, joints.H36M17.flip_permutation] * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(b["joints"], expect, atol=1e-5)
    np.testing.assert_allclose(b["camera"], a["camera"] * np.array([1.0, -1.0, 1.0]), atol=1e-5)


class _TurnWithTheImage(torch.nn.Module):
    """A stand-in lifter that turns exactly with its input: every joint at the unit direction from the hips to
    the shoulders, the up along it too (z = 0). Scale- and mirror-consistent, as the roll augmentation assumes."""

    receptive_field = 1

    class config:
        up_head = True

    def forward(self, x):
        c = joints.COCO17.joints
        sh = (x[..., c.index("left_shoulder"), :2] + x[..., c.index("right_shoulder"), :2]) / 2
        hp = (x[..., c.index("left_hip"), :2] + x[..., c.index("right_hip"), :2]) / 2
        d = sh - hp
        d = d / (d.norm(dim=-1, keepdim=True) + 1e-12)
        v = torch.cat([d, torch.zeros_like(d[..., :1])], -1)
        return {"joints": v[..., None, :].expand(*v.shape[:-1], 17, 3), "camera": torch.ones(*v.shape[:-1], 3),
                "up": v}


def test_roll_augmented_lifting_turns_each_copy_back():
    """A lifter that turns with the image gives the same answer whatever copies are averaged; turning a copy
    back the wrong way would put it 20 degrees off and move the average."""
    x = np.random.default_rng(1).normal(0, 0.3, (12, 17, 3)).astype(np.float32)
    x[..., 2] = 1.0
    x[3, :, :] = 0.0  # a frame where nothing was seen stays finite
    model = _TurnWithTheImage()
    plain = _lift_with_tta(model, x, 1, "cpu", rolls=())
    turned = _lift_with_tta(model, x, 1, "cpu", rolls=(-10.0, 10.0))
    seen = np.arange(12) != 3
    np.testing.assert_allclose(turned["joints"][seen], plain["joints"][seen], atol=1e-5)
    np.testing.assert_allclose(turned["up"][seen], plain["up"][seen], atol=1e-5)
    assert np.isfinite(turned["joints"]).all()
    one_way = _lift_with_tta(model, x, 1, "cpu", rolls=(10.0,))
    np.testing.assert_allclose(one_way["joints"][seen], plain["joints"][seen], atol=1e-5)


def test_blending_with_the_detectors_3d():
    """Similarity-aligned average of the lifter's joints and the detector's own 3D (lifting.fusion)."""
    from scipy.spatial.transform import Rotation

    from posecli.lifting.fusion import blend_detector_3d
    from posecli.metrics import procrustes_align

    rng = np.random.default_rng(0)
    rel = rng.normal(0, 0.3, (4, 17, 3)).astype(np.float32)
    rel -= rel[:, :1]
    rot = Rotation.from_euler("xyz", [20, -40, 10], degrees=True).as_matrix()
    conf = np.ones((4, 17), np.float32)
    # the same pose seen in another frame, at another scale: nothing to change
    same = 1.7 * rel @ rot.T + [0.3, -1.0, 2.0]
    np.testing.assert_allclose(blend_detector_3d(rel, same, conf, "h36m17"), rel, atol=1e-5)
    # another pose: the average of the two once the detector's is moved onto the lifter's, pelvis at 0
    other = rel + rng.normal(0, 0.05, rel.shape)
    det = 0.9 * other @ rot.T + [1.0, 0.0, 0.0]
    det[2] = np.nan  # a frame the detector missed keeps the lifter's joints
    out = blend_detector_3d(rel, det, conf, "h36m17", weight=0.25)
    ok = [0, 1, 3]
    expect = 0.75 * rel[ok] + 0.25 * procrustes_align(det[ok].astype(np.float64), rel[ok].astype(np.float64))
    np.testing.assert_allclose(out[ok], expect - expect[:, :1], atol=1e-5)
    np.testing.assert_array_equal(out[2], rel[2])
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)
    gap = np.linalg.norm(out - rel, axis=-1)[ok].mean()
    assert 0.003 < gap < 0.05  # moved a quarter of the way, not nowhere, not all the way
    np.testing.assert_array_equal(blend_detector_3d(rel, det, conf, "h36m17", weight=0.0), rel)


def test_detector_3d_is_smoothed_within_runs_of_frames():
    from posecli.lifting.fusion import blend_detector_3d, smooth_runs

    rng = np.random.default_rng(1)
    times = np.r_[np.arange(40), np.arange(60, 100)] / 30.0  # a gap: two runs
    clean = np.sin(times)[:, None, None] * np.ones((1, 17, 3))
    noisy = clean + rng.normal(0, 0.02, clean.shape)
    out = smooth_runs(noisy, times, 0.05)
    assert np.abs(out - clean).mean() < 0.6 * np.abs(noisy - clean).mean()  # less noise
    step = np.r_[np.zeros(40), np.ones(40)][:, None, None] * np.ones((1, 17, 3))
    np.testing.assert_array_equal(smooth_runs(step, times, 0.05), step)  # nothing leaks across the gap
    # in the blend: a jittering detector around the lifter's pose moves the output less from frame to frame
    rel = np.repeat(rng.normal(0, 0.3, (1, 17, 3)), 80, 0).astype(np.float32)
    rel -= rel[:, :1]
    det = rel + rng.normal(0, 0.03, rel.shape)
    jump = lambda p: np.abs(np.diff(p, axis=0)).mean()  # noqa: E731
    conf = np.ones((80, 17), np.float32)
    assert jump(blend_detector_3d(rel, det, conf, "h36m17", times=times)) < 0.5 * jump(
        blend_detector_3d(rel, det, conf, "h36m17"))
