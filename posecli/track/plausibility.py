"""Frames where a track's 2D skeleton cannot be its person: merged with someone else, or collapsed.

When two people overlap, the landmark model on one person's region can return one skeleton spread over both
(limbs twice as long as the person's), or a crumpled one (limbs a fraction of their length); 3D lifting and
body fitting then go wrong without a sign. A person's limbs keep their length in 3D, and in 2D a limb only
shortens (foreshortening) or keeps its length from frame to frame, so the test is per frame: the median over
the limbs of (2D length / the track's typical 2D length of that limb) must lie within
[``COLLAPSED``, ``MERGED``]. The typical length is a running 90th percentile over ``WINDOW`` seconds, which
follows a person walking towards the camera while ignoring foreshortened frames.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import percentile_filter

from .. import joints

LIMBS = (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
         ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
         ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("left_shoulder", "left_hip"),
         ("right_shoulder", "right_hip"))
MERGED, COLLAPSED = 1.7, 0.35
WINDOW = 2.0  # seconds
MIN_FRAMES = 15  # shorter tracks have no typical length to compare with


def implausible_frames(points: np.ndarray, joint_set: str, fps: float) -> np.ndarray:
    """(T,) bool: frames whose skeleton is merged with another person's or collapsed (see module doc)."""
    n = len(points)
    if n < MIN_FRAMES:
        return np.zeros(n, bool)
    js = joints.get(joint_set)
    a = np.array([js.index(x) for x, _ in LIMBS])
    b = np.array([js.index(y) for _, y in LIMBS])
    length = np.linalg.norm(points[:, a] - points[:, b], axis=-1)  # (T, limbs)
    length = np.where(np.isfinite(length), length, np.nan)
    filled = np.where(np.isnan(length), np.nanmedian(length, axis=0, keepdims=True), length)
    size = max(3, int(round(WINDOW * fps)) | 1)
    typical = percentile_filter(filled, 90, size=(size, 1), mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.nanmedian(length / typical, axis=1)
    return np.isfinite(ratio) & ((ratio > MERGED) | (ratio < COLLAPSED))


def frame_ranges(frames: np.ndarray) -> str:
    """'120-126, 140' for a sorted array of frame indices."""
    parts, start = [], None
    for i, f in enumerate(frames):
        if start is None:
            start = f
        if i + 1 == len(frames) or frames[i + 1] != f + 1:
            parts.append(f"{start}" if start == f else f"{start}-{f}")
            start = None
    return ", ".join(parts)
