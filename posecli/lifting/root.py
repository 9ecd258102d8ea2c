"""Where the person is: the root (pelvis) in the camera frame from the lifted skeleton and its 2D keypoints.

The weak-perspective camera's scale turns the keypoints' box size into depth, and a box changes with the pose
(an arm raised, a leg kicked) as much as with distance, so that depth jitters from frame to frame. Here the
root-relative 3D joints X_j and their detected pixels u_j fix the translation T by perspective projection:
for each seen joint, (u - c) (Z_j + T_z) = f (X_j + T_x) per image axis, linear in T, solved by weighted
least squares over the 12 limb joints COCO-17 and H36M-17 share (confidence as weight). All joints and the
skeleton's own extent in depth enter, so a raised arm no longer moves the person. Frames with fewer than
``MIN_JOINTS`` seen joints, or a solution behind the camera, keep the weak-perspective root.
"""
from __future__ import annotations

import numpy as np

from .. import joints

MIN_JOINTS = 4
_SHARED = [n for n in joints.COCO17.joints if n in joints.H36M17.joints]  # the 12 limb joints
COCO_LIMBS = [joints.COCO17.index(n) for n in _SHARED]  # the same points in either joint set
H36M_LIMBS = [joints.H36M17.index(n) for n in _SHARED]


def root_from_correspondences(rel: np.ndarray, points: np.ndarray, confidence: np.ndarray, focal: float,
                              centre: tuple[float, float], fallback: np.ndarray) -> np.ndarray:
    """(T, 3) root: ``rel`` (T, 17, 3) H36M-17 root-relative metres (camera axes), ``points`` (T, 17, 2) and
    ``confidence`` (T, 17) COCO-17 pixels, ``focal`` px, principal point ``centre``; ``fallback`` (T, 3)."""
    X = np.asarray(rel, np.float64)[:, H36M_LIMBS]  # (T, 12, 3)
    u = np.asarray(points, np.float64)[:, COCO_LIMBS] - np.asarray(centre, np.float64)  # (T, 12, 2)
    w = np.asarray(confidence, np.float64)[:, COCO_LIMBS]
    ok = (w > 0) & np.isfinite(u).all(-1) & np.isfinite(X).all(-1)
    w = np.where(ok, w, 0.0)
    u = np.where(ok[..., None], u, 0.0)
    X = np.where(ok[..., None], X, 0.0)
    t, j = len(X), X.shape[1]
    A = np.zeros((t, j, 2, 3))
    b = np.zeros((t, j, 2))
    for axis in (0, 1):
        A[:, :, axis, axis] = focal
        A[:, :, axis, 2] = -u[..., axis]
        b[:, :, axis] = u[..., axis] * X[..., 2] - focal * X[..., axis]
    sw = np.sqrt(w)[..., None, None]
    A = (A * sw).reshape(t, 2 * j, 3)
    b = (b * sw[..., 0]).reshape(t, 2 * j)
    ata = A.transpose(0, 2, 1) @ A + 1e-9 * np.eye(3)
    atb = np.einsum("tji,tj->ti", A, b)
    root = np.linalg.solve(ata, atb[..., None])[..., 0]
    good = (ok.sum(-1) >= MIN_JOINTS) & np.isfinite(root).all(-1) & (root[:, 2] > 0.1)
    return np.where(good[:, None], root, np.asarray(fallback, np.float64)).astype(np.float32)
