"""One-Euro filtering of keypoint tracks (Casiez et al., CHI 2012), the usual answer to jitter.

Written here rather than taken from a package: the PyPI implementations filter one scalar stream at a time in
pure Python, whereas a track needs (T, J, D) arrays with NaN gaps, real timestamps and scale normalisation.
Defaults are MediaPipe's own pose-landmark smoothing (pose_landmark_filtering.pbtxt): min_cutoff 0.05 Hz,
beta 80, derivative cutoff 1 Hz, on coordinates divided by the person's size, so the same settings work for
a person near the camera and one far away.
"""
from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


def one_euro(points: np.ndarray, times: np.ndarray, scale: np.ndarray | None = None, *,
             min_cutoff: float = 0.05, beta: float = 80.0, d_cutoff: float = 1.0,
             max_gap: float = 0.5) -> np.ndarray:
    """Filter ``points`` (T, J, D) sampled at ``times`` (T,) seconds; returns a new array.

    ``scale`` (T,) divides the coordinates before filtering (speed is then in person-sizes per second).
    A joint that is NaN in a frame stays NaN and does not update the filter; a gap longer than ``max_gap``
    seconds restarts the filter, so a person re-appearing elsewhere is not dragged from the old place.
    """
    pts = np.asarray(points, dtype=np.float64)
    out = np.full_like(pts, np.nan)
    if len(pts) == 0:
        return out.astype(points.dtype)
    s = np.ones(len(pts)) if scale is None else np.where(np.asarray(scale) > 0, scale, 1.0)
    x_prev = np.full(pts.shape[1:], np.nan)
    dx_prev = np.zeros(pts.shape[1:])
    t_prev = np.full(pts.shape[1:-1], -np.inf)  # per joint: the last time it was seen
    for i, t in enumerate(times):
        x = pts[i] / s[i]
        seen = np.isfinite(x).all(-1)
        dt = t - t_prev
        restart = seen & (~np.isfinite(x_prev).all(-1) | (dt > max_gap) | (dt <= 0))
        cont = seen & ~restart
        if cont.any():
            dtc = dt[cont][:, None]
            dx = (x[cont] - x_prev[cont]) / dtc
            a_d = _alpha(d_cutoff, dtc)
            dx_hat = a_d * dx + (1 - a_d) * dx_prev[cont]
            cutoff = min_cutoff + beta * np.linalg.norm(dx_hat, axis=-1, keepdims=True)
            a = _alpha(cutoff, dtc)
            x_prev[cont] = a * x[cont] + (1 - a) * x_prev[cont]
            dx_prev[cont] = dx_hat
        x_prev[restart] = x[restart]
        dx_prev[restart] = 0.0
        t_prev[seen] = t
        out[i][seen] = x_prev[seen] * s[i]
    return out.astype(points.dtype)
