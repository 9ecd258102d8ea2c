import numpy as np

from posecli.metrics import accel_error, mpjpe, pa_mpjpe


def rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_pa_mpjpe_removes_similarity_but_mpjpe_does_not():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(5, 17, 3))
    moved = 1.7 * gt @ rotation(0.6).T + np.array([3.0, -1.0, 2.0])
    assert pa_mpjpe(moved, gt) < 1e-9
    assert mpjpe(moved, gt) > 0.5
    assert mpjpe(gt + 5.0, gt) < 1e-12  # root alignment removes translation


def test_pa_mpjpe_does_not_reflect():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(3, 17, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert pa_mpjpe(mirrored, gt) > 0.1


def test_known_mpjpe_and_accel():
    gt = np.zeros((4, 2, 3))
    pred = gt.copy()
    pred[:, 1, 0] = 0.01  # 1 cm off on the second joint
    assert abs(mpjpe(pred, gt) - 0.005) < 1e-12
    t = np.arange(6, dtype=float)
    gt = np.zeros((6, 2, 3))
    pred = gt.copy()
    pred[:, 1, 0] = t ** 2  # constant acceleration 2 per frame^2 on one joint
    assert abs(accel_error(pred, gt) - 1.0) < 1e-12  # mean over 2 joints of (2, 0)


def test_lifting_resamples_to_the_model_rate_and_back():
    from posecli.lifting.pipeline import _interp_input, interp_frames, resample_times

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
