"""MCSS's canonical pose (seed 002, Eq. 3), in posecli's Y-up world.

Pelvis-relative joints rotated about the up axis so that the pelvis -> left hip direction, projected on the
ground, points along +X (the paper: parallel to the XZ plane of Human3.6M's Z-up world, i.e. the bone has no
component along the horizontal axis orthogonal to X). The angle is atan2 of the projected bone, so the
rotation is defined for every heading (the paper's arccos loses the sign). Unlike seed 000's canonical form
(:mod:`posecli.amodal.canonical`) bone lengths are kept: MCSS regresses the person's own skeleton.
"""
from __future__ import annotations

import numpy as np

from .. import joints
from ..amodal.canonical import rotation_y

H36M17 = joints.get("h36m17")
H36M16 = joints.get("h36m16")
_TO16 = np.array([H36M17.index(n) for n in H36M16.joints])


def to16(points17: np.ndarray) -> np.ndarray:
    return np.asarray(points17)[..., _TO16, :]


def canonical(points: np.ndarray) -> np.ndarray:
    """(..., 17 or 16, 3) Y-up world joints (H36M order) -> (..., 16, 3) canonical joints (same units)."""
    p = np.asarray(points, np.float64)
    if p.shape[-2] == 17:
        p = to16(p)
    pelvis, left_hip = H36M16.index("pelvis"), H36M16.index("left_hip")
    rel = p - p[..., pelvis:pelvis + 1, :]
    bone = rel[..., left_hip, :]
    theta = np.arctan2(bone[..., 2], bone[..., 0])
    return np.einsum("...ij,...kj->...ki", rotation_y(theta), rel)


def z_up_to_y_up(points: np.ndarray) -> np.ndarray:
    """A Z-up world (Human3.6M, Pose2Sim/OpenSim calibrations) -> Y-up, keeping handedness (-90 deg about x)."""
    p = np.asarray(points)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)
