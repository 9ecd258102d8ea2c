"""Square person crops: a box around the person's keypoints (or an xyxy box), resized with one affine warp.

Choices: the crop is a square centred on the keypoints' (or box's) extent, its side ``MARGIN`` times the
longer extent, so limbs stretched sideways stay inside and the person keeps their aspect ratio; outside the
image the crop is black (zero padding, as Human3.6M crops from the dataset boxes are). One cv2.warpAffine with
area-like smoothing (INTER_AREA is not available for warps, so a shrink by more than 2x is pre-blurred).
"""
from __future__ import annotations

import cv2
import numpy as np

MARGIN = 1.4  # crop side / longer side of the keypoints' extent: room for the training zoom (models.mcss)


def square_from_points(points: np.ndarray, margin: float = MARGIN) -> np.ndarray | None:
    """(J, 2) pixel points (NaN = none) -> (cx, cy, side), or None with fewer than two points."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    p = p[np.isfinite(p).all(1)]
    if len(p) < 2:
        return None
    lo, hi = p.min(0), p.max(0)
    side = float(max(hi - lo) * margin)
    if side <= 1.0:
        return None
    c = (lo + hi) / 2
    return np.array([c[0], c[1], side], np.float64)


def crop_matrix(square: np.ndarray, size: int) -> np.ndarray:
    """2x3 affine from image to crop coordinates, both continuous (pixel i spans [i, i + 1))."""
    cx, cy, side = (float(v) for v in square)
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]], np.float64)


def crop(image: np.ndarray, square: np.ndarray, size: int) -> np.ndarray:
    """HxWx3 uint8 image -> size x size x 3 uint8 crop of ``square`` (cx, cy, side)."""
    side = float(square[2])
    shrink = side / size
    if shrink > 2.0:  # anti-alias: a warp samples, it does not average
        sigma = 0.5 * shrink
        x0 = int(max(0, np.floor(square[0] - side / 2 - 3 * sigma)))
        y0 = int(max(0, np.floor(square[1] - side / 2 - 3 * sigma)))
        x1 = int(min(image.shape[1], np.ceil(square[0] + side / 2 + 3 * sigma)))
        y1 = int(min(image.shape[0], np.ceil(square[1] + side / 2 + 3 * sigma)))
        if x1 > x0 and y1 > y0:
            image = image.copy()
            image[y0:y1, x0:x1] = cv2.GaussianBlur(np.ascontiguousarray(image[y0:y1, x0:x1]), (0, 0), sigma)
    m = crop_matrix(square, size)
    # cv2 works on pixel indices (centre of pixel i at i, not i + 0.5): shift in, shift out
    m[:, 2] += 0.5 * m[:, :2].sum(1) - 0.5
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))

