import numpy as np

from posecli.track.smoothing import one_euro


def test_reduces_jitter_on_a_still_point_and_keeps_nans():
    rng = np.random.default_rng(0)
    t = np.arange(200) / 30.0
    truth = np.full((200, 3, 2), 100.0)
    noisy = truth + rng.normal(0, 1.0, truth.shape)  # 0.5% of a 200 px person
    noisy[50:55, 1] = np.nan
    out = one_euro(noisy, t, scale=np.full(200, 200.0))
    assert np.isnan(out[50:55, 1]).all() and np.isfinite(out[50:55, 0]).all()
    err_in = np.nanstd(noisy[20:] - truth[20:])
    assert np.nanstd(out[20:] - truth[20:]) < err_in / 1.4  # MediaPipe's defaults favour low lag
    strong = one_euro(noisy, t, scale=np.full(200, 200.0), beta=5.0)
    assert np.nanstd(strong[20:] - truth[20:]) < err_in / 3


def test_follows_fast_motion_with_little_lag():
    t = np.arange(90) / 30.0
    x = np.zeros((90, 1, 2))
    x[:, 0, 0] = 400 * t  # 400 px/s, a person of 200 px crossing two body sizes per second
    out = one_euro(x, t, scale=np.full(90, 200.0))
    assert np.abs(out[30:, 0, 0] - x[30:, 0, 0]).max() < 10  # under 10 px of lag


def test_restarts_after_a_gap():
    t = np.concatenate([np.arange(10), np.arange(40, 50)]) / 30.0
    x = np.concatenate([np.zeros((10, 1, 2)), np.full((10, 1, 2), 500.0)])
    out = one_euro(x, t)
    assert out[10, 0, 0] == 500.0  # no drag from the old place
