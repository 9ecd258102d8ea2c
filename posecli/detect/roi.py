"""Rotated square regions of interest (ROIs) and the crops the BlazePose models look at.

BlazePose never looks at the whole image at landmark time: it crops a rotated square around the
person so that the body is upright and fills the model input.  The ROI comes either from a detection
or from the previous frame's landmarks, using the same rule for both (mediapipe's
AlignmentPointsRectsCalculator + RectTransformationCalculator): centre on a "centre" point, turn so
that centre->scale-point points up, side = 2 * |centre - scale point| * 1.25.

Coordinate convention (matches mediapipe's OpenCV image-to-tensor converter): the ROI's corners map
to the crop's corners (0, 0) and (n, n), and OpenCV pixel *centres* sit on integer coordinates.  A
point's crop coordinate c in [0, n] therefore maps back to image pixels with
``centre + R(angle) @ ((c / n - 0.5) * size)``, which is what mediapipe's LandmarkProjection does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

ROI_SCALE = 1.25  # RectTransformationCalculator scale_x/scale_y in both pose ROI subgraphs
TARGET_ANGLE = math.pi / 2  # rotation_vector_target_angle_degrees: 90 -> centre->scale point goes up


def normalize_angle(angle: float) -> float:
    """Wrap to [-pi, pi), like mediapipe's NormalizeRadians."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


@dataclass(frozen=True)
class Roi:
    """A rotated square in image pixels: centre (cx, cy), side ``size``, rotation ``angle`` (radians).

    ``angle`` is the rotation that takes the upright crop into the image (positive = clockwise on
    screen, since image y points down).
    """

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    def crop_to_image(self, crop_size: int) -> np.ndarray:
        """2x3 matrix mapping crop pixel coordinates (0..crop_size) to image pixels."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        k = self.size / crop_size
        # image = centre + R @ (crop * k - size / 2)
        a = np.array([[c * k, -s * k], [s * k, c * k]])
        t = np.array([self.cx, self.cy]) - a @ np.array([crop_size / 2, crop_size / 2])
        return np.hstack([a, t[:, None]])

    def image_to_crop(self, crop_size: int) -> np.ndarray:
        """2x3 matrix mapping image pixels to crop pixel coordinates (inverse of crop_to_image)."""
        return invert_affine(self.crop_to_image(crop_size))

    def corners(self) -> np.ndarray:
        """(4, 2) image-pixel corners: top-left, top-right, bottom-right, bottom-left of the crop."""
        sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
        return apply_affine(self.crop_to_image(1), sq)

    def box(self) -> np.ndarray:
        """Axis-aligned xyxy box enclosing the rotated square."""
        c = self.corners()
        return np.concatenate([c.min(axis=0), c.max(axis=0)])


def invert_affine(m: np.ndarray) -> np.ndarray:
    a_inv = np.linalg.inv(m[:, :2])
    return np.hstack([a_inv, -(a_inv @ m[:, 2])[:, None]])


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ m[:, :2].T + m[:, 2]


def roi_from_points(centre, scale_point, scale: float = ROI_SCALE) -> Roi:
    """Mediapipe's alignment-point rule, shared by detections and landmarks (pixel coordinates).

    The box side is twice the centre->scale-point distance (the point lies on the circle that
    encloses the body), enlarged by ``scale``; the rotation makes centre->scale point vertical.
    """
    x0, y0 = float(centre[0]), float(centre[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    size = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    angle = normalize_angle(TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(x0, y0, size, angle)


def letterbox_roi(width: int, height: int) -> Roi:
    """The whole image padded to a centred square: what the detector sees (keep_aspect_ratio)."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def check_image(image: np.ndarray) -> np.ndarray:
    """The models' input contract: an (H, W, 3) RGB uint8 array (made C-contiguous)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


def warp_crop(image: np.ndarray, roi: Roi, crop_size: int, border: str = "replicate") -> np.ndarray:
    """Bilinear crop of ``roi`` into a (crop_size, crop_size, C) float32 array (values 0..255).

    Mirrors mediapipe's cv::warpPerspective(INTER_LINEAR) call.  ``border`` is "replicate"
    (landmark crops: mediapipe's default border mode) or "zero" (the detector's letterbox,
    BORDER_ZERO).  OpenCV (a dependency) takes ~2 ms for a rotated 256 crop of a 1080x1920 frame.
    """
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    if border not in ("replicate", "zero"):
        raise ValueError(f"unknown border mode {border!r}")
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    out = cv2.warpAffine(
        image, roi.image_to_crop(crop_size), (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=mode
    )
    return out.reshape(crop_size, crop_size, -1).astype(np.float32)
