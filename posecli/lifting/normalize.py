"""How 2D keypoints are presented to the lifter, identically in training and at run time.

Per frame, the points are centred on the hip midpoint and divided by half the larger side of the visible
points' bounding box, so the network sees the pose's shape, not where or how big the person is in the image.
The weak-perspective camera (s, tx, ty) the network predicts maps its metric root-relative joints back to
these units; ``centre`` and ``scale`` then take them to pixels, which gives the root trajectory.
Missing joints (confidence 0 or NaN) enter as (0, 0, 0).
"""
from __future__ import annotations

import numpy as np

HIPS = (11, 12)  # COCO-17 left/right hip


def normalize_2d(points: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 17, 2) pixels + (..., 17) -> ((..., 17, 3) model input, centre (..., 2), scale (...,))."""
    pts = np.asarray(points, dtype=np.float32)
    conf = np.where(np.isfinite(pts).all(-1), np.asarray(confidence, dtype=np.float32), 0.0)
    seen = conf > 0
    big = np.where(seen[..., None], pts, np.nan)
    with np.errstate(invalid="ignore"), _quiet_nan():
        lo, hi = np.nanmin(big, axis=-2), np.nanmax(big, axis=-2)
        hips_seen = seen[..., HIPS[0]] & seen[..., HIPS[1]]
        centre = np.where(hips_seen[..., None], (pts[..., HIPS[0], :] + pts[..., HIPS[1], :]) / 2,
                          np.nanmean(big, axis=-2))
        scale = np.nanmax(hi - lo, axis=-1) / 2
    empty = ~seen.any(-1)
    centre = np.where(empty[..., None], 0.0, centre).astype(np.float32)
    scale = np.where(empty | ~(scale > 1e-6), 1.0, scale).astype(np.float32)
    x = (np.nan_to_num(pts) - centre[..., None, :]) / scale[..., None, None]
    x = np.where(seen[..., None], x, 0.0)
    return np.concatenate([x, conf[..., None]], axis=-1).astype(np.float32), centre, scale


class _quiet_nan:
    """numpy warns on all-NaN slices (frames with nobody); those frames are handled explicitly above."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
