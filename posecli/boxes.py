"""Axis-aligned xyxy box geometry shared by the detector, the tracker and the backends."""
from __future__ import annotations

import warnings

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) xyxy boxes (a single (4,) box counts as N = 1)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2:] - boxes[..., :2], 0, None).prod(-1)


def box_size(box: np.ndarray) -> float:
    """The diagonal of an xyxy box: a body-size unit that does not depend on which way the person faces."""
    return float(np.hypot(box[2] - box[0], box[3] - box[1]))


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two xyxy boxes over the smaller box's area (1.0 = one inside the other)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller) if smaller > 0 else 1.0


def keypoint_heights(points: np.ndarray) -> np.ndarray:
    """(T,) vertical extent of each frame's keypoints (T, J, 2): the person's size where no box is at hand (2D
    from a file, a benchmark or a noise model rather than ``track``'s regions); frames with no extent (no joint
    or one joint seen) take the median of the others.
    """
    y = np.asarray(points, dtype=np.float64)[..., 1]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames with no joint seen
        height = np.nanmax(y, axis=1) - np.nanmin(y, axis=1)
        fill = np.nanmedian(np.where(height > 0, height, np.nan))
    return np.where(np.isfinite(height) & (height > 0), height, fill if np.isfinite(fill) else 1.0)
