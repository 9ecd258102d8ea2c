"""The lifting pipeline's own steps: frame-rate resampling and test-time flip augmentation."""
import numpy as np
import torch

from posecli import joints
from posecli.lifting.pipeline import _interp_input, _lift_with_flip, interp_frames, resample_times
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
