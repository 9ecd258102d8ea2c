"""From the lifter's view to the real camera's: the rotation towards the person's viewing ray.

The lifter sees each frame's 2D centred on the hips and scaled (``normalize``): where the person stood in the
image is gone, so it answers as if the camera looked straight at them, and its joints and up direction are
in the axes of that virtual camera. A person off the image centre is seen along a ray turned away from the
optical axis (14 degrees is common: someone in the lower third of a phone's frame), and in the real
camera's axes the whole body, and the gravity it implies, are turned by that much. Rotating the lifter's
output by the rotation that takes the optical axis onto the ray through the hips undoes it, to first order
(as perspective crop layers do, Yu et al., CVPR 2021; the small perspective warp of the 2D is left alone).
On CMU training subjects' projections with people up to 60 % of the half-frame off-centre (median 14
degrees), MPJPE 90.9 -> 72.5 mm (exact 2D) and 112.4 -> 90.5 (detector-like), up-direction tilt 7.4 -> 5.2 and
8.9 -> 5.2 degrees; near the centre (median 7 degrees) it changes little (``docs/benchmarks.md``).
"""
from __future__ import annotations

import numpy as np


def view_rotations(centre: np.ndarray, principal: tuple[float, float], focal: float,
                   seen: np.ndarray | None = None) -> np.ndarray:
    """(T, 3, 3) rotations taking the optical axis (0, 0, 1) onto the ray through each frame's ``centre``
    (T, 2) pixels (the smallest such rotation, about the axis z x ray). Frames not ``seen``: identity."""
    c = np.asarray(centre, np.float64)
    ray = np.concatenate([(c - np.asarray(principal, np.float64)) / focal, np.ones((len(c), 1))], axis=1)
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    axis = np.stack([-ray[:, 1], ray[:, 0], np.zeros(len(ray))], axis=1)  # z x ray
    sin, cos = np.linalg.norm(axis, axis=1), ray[:, 2]
    k = np.divide(axis, sin[:, None], out=np.zeros_like(axis), where=sin[:, None] > 1e-12)
    kx = np.zeros((len(k), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 0] = -k[:, 2], k[:, 1], k[:, 2]
    kx[:, 1, 2], kx[:, 2, 0], kx[:, 2, 1] = -k[:, 0], -k[:, 1], k[:, 0]
    rot = np.eye(3) + sin[:, None, None] * kx + (1 - cos)[:, None, None] * kx @ kx  # Rodrigues
    if seen is not None:
        rot[~np.asarray(seen, bool)] = np.eye(3)
    return rot


def to_camera_axes(values: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """(T, ..., 3) vectors in the lifter's per-frame view -> the real camera's axes."""
    v = np.asarray(values)
    flat = v.reshape(len(v), -1, 3)
    return np.einsum("tij,tkj->tki", rotations, flat).reshape(v.shape).astype(v.dtype)
