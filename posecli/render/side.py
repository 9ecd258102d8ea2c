"""The ``--side`` panel: each person's 3D skeleton turned 90 degrees about the vertical axis around its own
root and seen through the video's camera, so every person stays where they stand in the frame and shows their
profile (depth becomes left-right). The turn takes camera depth +z to image +x: the view is the one from the
camera's right-hand side (a person facing the camera is seen from their left). The panel has the frame's size;
joints that would land behind the camera are dropped.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..poses import KEYPOINTS_3D, Track
from .bodies import root_of
from .draw import draw_skeleton, track_colour

BACKGROUND = 40
# (x, y, z) -> (z, y, -x) relative to the root: a +90 degree rotation about the camera's y (vertical) axis
TURN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], np.float32)


def side_points(points: np.ndarray, root: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """Pixels (J, 2) of camera-frame ``points`` (J, 3) turned about ``root``; NaN where unprojectable."""
    turned = (points - root) @ TURN.T + root
    z = turned[:, 2:3]
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = focal * turned[:, :2] / z + np.array([cx, cy], np.float32)
    uv[~(z[:, 0] > 0.05)] = np.nan
    return uv


def side_panel(shape: tuple[int, int], tracks: list[tuple[Track, int]], focal: float, cx: float, cy: float,
               labels: bool = True) -> np.ndarray:
    """A (H, W, 3) panel with the side view of ``tracks`` (track, row) at one frame; intrinsics of the panel."""
    h, w = shape
    panel = np.full((h, w, 3), BACKGROUND, np.uint8)
    scale = h / 480
    cv2.putText(panel, "side view", (int(10 * scale), int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                (200, 200, 200), max(1, int(2 * scale)), cv2.LINE_AA)
    for track, row in tracks:
        layer = track.keypoints.get(KEYPOINTS_3D)
        root = root_of(track, row)
        if layer is None or root is None:
            continue
        uv = side_points(layer.points[row], root, focal, cx, cy)
        draw_skeleton(panel, uv, layer.confidence[row], layer.joint_set, colour=track_colour(track.id),
                      label=str(track.id) if labels else None)
    return panel
