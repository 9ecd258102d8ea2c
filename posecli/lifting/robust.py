"""Temporal robustness of ``estimate``: one wrong keypoint for one frame must not make the person jump.

Two guards, both local in time so they cost nothing on long videos:

- :func:`suppress_2d_outliers`: a keypoint that sits far from the median of its own path over the 2 frames
  before and after (more than ``OUTLIER_FRACTION`` of the person's size) disagrees with the motion; its
  confidence is set to 0, so the lifter treats it as a missed joint (it is trained on missed joints) instead
  of stretching the skeleton and the box the root depth is read from. A 5-frame median follows any monotone
  motion exactly, so fast limbs are not flagged, only isolated jumps (the detector locking onto another limb
  or the background for a frame or two).
- :func:`steady_root`: the root comes from the predicted image scale, so a frame whose box is wrong gets a
  wrong depth. A Hampel filter (median over +-3 frames, outliers beyond 3 robust standard deviations and
  ``ROOT_TOLERANCE_M`` replaced by the median), a Gaussian smoothing (sigma ``ROOT_SMOOTH_S``: a body's
  centre moves smoothly, while the estimate's depth wobbles with every pose), then the frame-to-frame motion
  is capped at ``MAX_SPEED`` (a sprinter's top speed).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from .normalize import _quiet_nan

OUTLIER_FRACTION = 0.15  # of the person's size (the longer side of the keypoints' box, median over 5 frames)
ROOT_TOLERANCE_M = 0.05
MAX_SPEED = 10.0  # m/s
ROOT_SMOOTH_S = 0.2  # Gaussian sigma, seconds: chosen on the training subjects (docs/benchmarks.md)


def suppress_2d_outliers(points: np.ndarray, confidence: np.ndarray, half: int = 2) -> np.ndarray:
    """(T, J, 2) pixels, (T, J) confidence -> confidence with the outlying detections set to 0."""
    pts = np.asarray(points, np.float64)
    conf = np.array(confidence, dtype=np.float32, copy=True)
    t = len(pts)
    if t < 2 * half + 1:
        return conf
    seen = (conf > 0) & np.isfinite(pts).all(-1)
    p = np.where(seen[..., None], pts, np.nan)
    with np.errstate(invalid="ignore"), _quiet_nan():
        size = np.nanmax(np.nanmax(p, 1) - np.nanmin(p, 1), -1)  # (T,)
        win = np.lib.stride_tricks.sliding_window_view(np.pad(p, ((half, half), (0, 0), (0, 0)), mode="edge"),
                                                       2 * half + 1, axis=0)  # (T, J, 2, W)
        med = np.nanmedian(win, axis=-1)
        count = np.isfinite(win[:, :, 0]).sum(-1)  # frames in the window that saw the joint
        size_med = np.nanmedian(np.lib.stride_tricks.sliding_window_view(
            np.pad(size, half, mode="edge"), 2 * half + 1), axis=-1)
    dev = np.linalg.norm(pts - med, axis=-1)
    bad = seen & (count >= half + 2) & (dev > OUTLIER_FRACTION * size_med[:, None])
    conf[bad] = 0.0
    return conf


def steady_root(root: np.ndarray, times: np.ndarray, half: int = 3, smooth_s: float = ROOT_SMOOTH_S) -> np.ndarray:
    """(T, 3) root trajectory -> the same with single-frame spikes removed and its speed capped."""
    r = np.array(root, dtype=np.float64, copy=True)
    if len(r) < 3:
        return r.astype(np.float32)
    med = median_filter(r, size=(2 * half + 1, 1), mode="nearest")
    mad = median_filter(np.abs(r - med), size=(2 * half + 1, 1), mode="nearest")
    spike = np.abs(r - med) > np.maximum(3 * 1.4826 * mad, ROOT_TOLERANCE_M)
    r[spike] = med[spike]
    dt = np.diff(np.asarray(times, np.float64))
    if smooth_s > 0:
        from .fusion import smooth_runs

        r = smooth_runs(r, np.asarray(times, np.float64), smooth_s, linear_edges=True)
    for i in range(1, len(r)):  # cap the step, following the path forward
        step = r[i] - r[i - 1]
        limit = MAX_SPEED * max(dt[i - 1], 1e-3)
        n = np.linalg.norm(step)
        if n > limit:
            r[i] = r[i - 1] + step * (limit / n)
    return r.astype(np.float32)

