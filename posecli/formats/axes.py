"""The one axis change shared by the exports for 3D tools (BVH, glTF, OBJ).

posecli stores 3D in the camera frame: x right, y down, z forward (metres). BVH (Blender, MotionBuilder) and
glTF 2.0 want a right-handed, Y-up world; we use x right, y up, z toward the camera, i.e. y -> -y, z -> -z.
That is a 180 degree turn about x (determinant +1), so handedness and triangle winding are kept, and the
camera sits at the origin looking down -z exactly like a Blender/OpenGL camera: a camera placed at the origin
with the video's focal length frames the export as the video did. "Up" is the camera's up: a tilted camera
gives a tilted world (posecli knows no gravity direction).
"""
from __future__ import annotations

import numpy as np

_FLIP = np.array([1.0, -1.0, -1.0])


def camera_to_y_up(points: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points to the Y-up export world (float64)."""
    return np.asarray(points, dtype=np.float64) * _FLIP
