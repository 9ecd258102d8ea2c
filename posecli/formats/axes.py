"""The one axis change shared by the exports for 3D tools (BVH, glTF, OBJ).

posecli stores 3D in the camera frame: x right, y down, z forward (metres). BVH (Blender, MotionBuilder) and
glTF 2.0 want a right-handed, Y-up world; we use x right, y up, z toward the camera, i.e. y -> -y, z -> -z.
That is a 180 degree turn about x (determinant +1), so handedness and triangle winding are kept, and the
camera sits at the origin looking down -z exactly like a Blender/OpenGL camera: a camera placed at the origin
with the video's focal length frames the export as the video did.

When ``estimate`` found the gravity direction (the file's meta ``world``, ``lifting.world``), :func:`y_up` uses
it instead: the same axes made level (x right and z towards the camera, both horizontal), the floor at y = 0
under the person, so a person filmed by a tilted camera stands upright in Blender. Without it, "up" is the
camera's up and a tilted camera gives a tilted world.
"""
from __future__ import annotations

import numpy as np

_FLIP = np.array([1.0, -1.0, -1.0])


def camera_to_y_up(points: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points to the Y-up export world (float64)."""
    return np.asarray(points, dtype=np.float64) * _FLIP


def y_up(points: np.ndarray, meta: dict | None, track_id: int, frames: np.ndarray | None = None) -> np.ndarray:
    """(..., 3) camera-frame points to the Y-up export world: ``estimate``'s upright world frame (gravity, the
    track's floor at y = 0) when ``meta`` has one, else :func:`camera_to_y_up`. An edited video has one such frame
    per shot (``world["shots"]``, each with its first and last frame): ``frames`` (the video frame of each
    leading row of ``points``) picks it row by row; rows outside every shot, or without ``frames``, get
    :func:`camera_to_y_up`."""
    world = (meta or {}).get("world") or {}
    if "shots" in world:
        out = camera_to_y_up(points)
        if frames is None:
            return out
        frames = np.asarray(frames)
        for shot in world["shots"]:
            rows = (frames >= shot["first_frame"]) & (frames <= shot["last_frame"])
            if rows.any():
                out[rows] = _levelled(np.asarray(points)[rows], shot, track_id)
        return out
    if "rotation" not in world:
        return camera_to_y_up(points)
    return _levelled(points, world, track_id)


def _levelled(points: np.ndarray, world: dict, track_id: int) -> np.ndarray:
    out = np.asarray(points, dtype=np.float64) @ np.asarray(world["rotation"], np.float64).T
    out[..., 1] += float(world.get("floor_below_camera_m", {}).get(str(track_id), 0.0))
    return out


# OpenSim / Pose2Sim TRC axes from the Y-up world above: X forward (away from the camera), Y up, Z right.
TRC_FROM_Y_UP = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
