"""An upright world frame for the lifter's camera-frame joints: Y up, the floor at y = 0.

Gravity: the lifter's up head predicts, per frame, the world's up direction in camera axes (trained on mocap
filmed by random cameras, where the truth is the camera's rotation; ``train.estimate``). A static camera has
one up direction, so the per-frame predictions of every person in the video are averaged (weighted by how
many joints the detector saw) into one unit vector. Chosen over a geometric estimate (the feet of standing
frames, the torso's mean direction) because it also works for people who never stand straight (crouching,
bowing, lying) and needs no floor contact; the learned head sees the whole pose and its motion.

Axes (right-handed, as glTF, Blender's import and OpenGL expect): X = the camera's right made horizontal,
Y = up, Z = horizontal, pointing from the scene back towards the camera (the camera's heading is kept: its
optical axis projects onto -Z). Origin: below the camera; the floor is placed per person at y = 0 from that
person's own feet (10th percentile of the lower ankle's height, minus :data:`ANKLE_HEIGHT`), because each
person's depth, and so their height in a shared frame, is estimated separately.
"""
from __future__ import annotations

import numpy as np

from .. import joints

# The lower ankle's height above the floor: 10th percentile over all frames of the CMU mocap (H36M-17 ankle
# joints; 1st / 10th / 50th percentiles 0.027 / 0.040 / 0.055 m).
ANKLE_HEIGHT = 0.04
_ANKLES = [joints.H36M17.index("left_ankle"), joints.H36M17.index("right_ankle")]


def average_up(ups: list[np.ndarray], weights: list[np.ndarray]) -> np.ndarray | None:
    """(3,) unit up direction from per-frame (T, 3) predictions and (T,) weights of any number of tracks."""
    num = np.zeros(3)
    for u, w in zip(ups, weights):
        u = np.asarray(u, np.float64)
        n = np.linalg.norm(u, axis=-1, keepdims=True)
        ok = np.isfinite(u).all(-1) & (n[..., 0] > 0)
        num += (np.asarray(w, np.float64)[ok, None] * u[ok] / n[ok]).sum(0)
    norm = np.linalg.norm(num)
    return num / norm if norm > 0 else None


def world_rotation(up: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking camera-frame vectors to the world axes above (rows: X, Y, Z in camera axes)."""
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    f = np.array([0.0, 0.0, 1.0]) - u[2] * u  # the optical axis made horizontal
    if np.linalg.norm(f) < 1e-6:  # looking straight up or down: any heading will do
        f = np.array([0.0, 1.0, 0.0]) - u[1] * u
    f /= np.linalg.norm(f)
    r = np.cross(f, u)  # right = forward x up (camera x for a level camera)
    return np.stack([r, u, -f])


def floor_offset(points_world: np.ndarray) -> float:
    """Height of the floor in a frame rotated by :func:`world_rotation` (before the shift), from the feet."""
    ankles = np.asarray(points_world)[:, _ANKLES, 1]
    low = np.nanmin(np.where(np.isfinite(ankles), ankles, np.nan), axis=1) if np.isfinite(ankles).any() else None
    if low is None or not np.isfinite(low).any():
        return float("nan")
    return float(np.nanpercentile(low, 10) - ANKLE_HEIGHT)


def to_world(points_cam: np.ndarray, rotation: np.ndarray, floor: float) -> np.ndarray:
    """(..., 3) camera-frame points -> world points (Y up, the floor at y = 0)."""
    out = np.einsum("ij,...j->...i", rotation, np.asarray(points_cam, np.float64))
    out[..., 1] -= floor
    return out.astype(np.float32)


def tilt_degrees(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Angle (degrees) between two up directions (any lengths)."""
    a, b = np.asarray(estimate, float), np.asarray(truth, float)
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
