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

