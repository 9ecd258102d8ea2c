"""The ``--side`` panel: each person's 3D skeleton turned 90 degrees about the vertical axis around its own
root and seen through the video's camera, so every person stays where they stand in the frame and shows their
profile (depth becomes left-right). The turn takes camera depth +z to image +x: the view is the one from the
camera's right-hand side (a person facing the camera is seen from their left). The panel has the frame's size;
joints that would land behind the camera are dropped.

When ``estimate`` wrote the upright world (``keypoints3d_world``), the turn is about the true vertical and the
view is level, so a person standing under a tilted camera stands upright in the panel, with a floor line
at their feet (y = 0 of the world frame); otherwise the turn is about the camera's own vertical axis.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..poses import KEYPOINTS_3D, KEYPOINTS_3D_WORLD, Track
from .bodies import root_of
from .draw import draw_skeleton, track_colour

BACKGROUND = 40
# (x, y, z) -> (z, y, -x) relative to the root: a +90 degree rotation about the camera's y (vertical) axis
TURN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], np.float32)
# world (x right, y up, z to the camera) -> a level camera on the world's +x side looking along -x, in camera
# axes (x right, y down, z forward): the same turn as TURN for a level camera
WORLD_TURN = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]], np.float32)
FLOOR_COLOUR = (150, 150, 150)


def _project(cam: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    z = cam[:, 2:3]
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = focal * cam[:, :2] / z + np.array([cx, cy], np.float32)
    uv[~(z[:, 0] > 0.05)] = np.nan
    return uv


def side_points_world(world: np.ndarray, world_root: np.ndarray, root: np.ndarray, focal: float, cx: float,
                      cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (J, 2) of upright-world ``world`` (J, 3) seen level from the side, placed at the camera-frame
    ``root``; and the two ends (2, 2) of a 2 m floor line under the person."""
    uv = _project((world - world_root) @ WORLD_TURN.T + root, focal, cx, cy)
    floor = np.array([[0.0, -world_root[1], 1.0], [0.0, -world_root[1], -1.0]], np.float32)
    return uv, _project(floor @ WORLD_TURN.T + root, focal, cx, cy)


def side_points(points: np.ndarray, root: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """Pixels (J, 2) of camera-frame ``points`` (J, 3) turned about ``root``; NaN where unprojectable."""
    return _project((points - root) @ TURN.T + root, focal, cx, cy)


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
        world = track.keypoints.get(KEYPOINTS_3D_WORLD)
        world_all = track.arrays.get("keypoints3d_world_all")
        if world is not None and world_all is not None and np.isfinite(world_all[row, 0]).all():
            uv, floor = side_points_world(world.points[row], world_all[row, 0], root, focal, cx, cy)
            if np.isfinite(floor).all():
                cv2.line(panel, tuple(int(v) for v in floor[0]), tuple(int(v) for v in floor[1]), FLOOR_COLOUR,
                         max(1, int(2 * scale)), cv2.LINE_AA)
        else:
            uv = side_points(layer.points[row], root, focal, cx, cy)
        draw_skeleton(panel, uv, layer.confidence[row], layer.joint_set, colour=track_colour(track.id),
                      label=str(track.id) if labels else None)
    return panel
