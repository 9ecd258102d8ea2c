"""The amodal paper's view-invariant pose representation (seed 000, Sec. 3.1) on H36M-17, and its inverse.

global (world, Y up) -> canonical: subtract the pelvis, rotate about the vertical so that the hips' direction
(right hip -> left hip, projected on the ground) is +X (the person then faces +Z), and give every bone the
canonical skeleton's length, keeping its direction. The inverse needs what was removed (pelvis, azimuth, the
person's own bone lengths: ``CanonicalInfo``); without the lengths it returns the canonical-size skeleton.

Choices the paper leaves open (spec, "Pose representation"):
- Joint set: H36M-17 (posecli's 3D joint set); canonical bone lengths = medians over posecli's CMU mocap
  (metres, so canonical poses read as metres of a 1.7 m person). The azimuth is measured on the hip vector
  itself (the paper uses its ground-plane normal; the two differ by a constant 90 degrees).
- No Akhter & Black local Gram-Schmidt frames for end-limb joints: the models output bone *directions* that
  forward kinematics turns into joints (``posecli.models.amodal.forward_kinematics``), which already fixes
  bone lengths, and losses are taken on joints.
- Camera-frame poses (x right, y down, z forward) are made Y-up by a 180-degree turn about x
  (:func:`camera_to_upright`); a pitched camera's vertical is then not gravity, which only the view head
  (:mod:`posecli.models.amodal`) needs to know about.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import joints

H36M = joints.get("h36m17")
PARENTS = np.array(H36M.parents)
PELVIS, LEFT_HIP, RIGHT_HIP = (H36M.index(n) for n in ("pelvis", "left_hip", "right_hip"))
BONE_CHILDREN = np.array([j for j, p in enumerate(H36M.parents) if p >= 0])  # 16 bones, named by child
_LENGTHS = {"right_hip": 0.097, "right_knee": 0.477, "right_ankle": 0.498, "spine": 0.284, "thorax": 0.274,
            "neck_nose": 0.110, "head": 0.173, "right_shoulder": 0.195, "right_elbow": 0.252,
            "right_wrist": 0.257}
CANONICAL_LENGTHS = np.array([_LENGTHS[H36M.joints[j].replace("left_", "right_")] for j in BONE_CHILDREN],
                             dtype=np.float32)


@dataclass
class CanonicalInfo:
    pelvis: np.ndarray  # (..., 3) world position of the pelvis
    azimuth: np.ndarray  # (...,) radians: rotation about +Y that was removed
    lengths: np.ndarray  # (..., 16) the person's own bone lengths (order of BONE_CHILDREN)


def rotation_y(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about +Y; applied to (x, 0, z) it turns the angle atan2(z, x) back by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def azimuth(points: np.ndarray) -> np.ndarray:
    """(..., 17, 3) Y-up joints -> (...,) angle of the right->left hip vector in the ground (x, z) plane."""
    hip = points[..., LEFT_HIP, :] - points[..., RIGHT_HIP, :]
    return np.arctan2(hip[..., 2], hip[..., 0])


def bone_lengths(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[..., BONE_CHILDREN, :] - points[..., PARENTS[BONE_CHILDREN], :], axis=-1)


def set_bone_lengths(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Keep every bone's direction, give it ``lengths`` (..., 16); the pelvis stays where it is."""
    out = np.array(points, dtype=np.float64, copy=True)
    for b, j in enumerate(BONE_CHILDREN):  # H36M parents precede their children
        p = PARENTS[j]
        v = points[..., j, :] - points[..., p, :]
        n = np.linalg.norm(v, axis=-1, keepdims=True)
        out[..., j, :] = out[..., p, :] + v / np.maximum(n, 1e-9) * lengths[..., b, None]
    return out


def canonicalize(points: np.ndarray) -> tuple[np.ndarray, CanonicalInfo]:
    """(..., 17, 3) world joints, Y up -> (canonical joints (..., 17, 3) float32, what was removed)."""
    points = np.asarray(points, dtype=np.float64)
    pelvis = points[..., PELVIS, :]
    gamma = azimuth(points)
    rel = np.einsum("...ij,...kj->...ki", rotation_y(gamma), points - pelvis[..., None, :])
    info = CanonicalInfo(pelvis, gamma, bone_lengths(points))
    return set_bone_lengths(rel, np.broadcast_to(CANONICAL_LENGTHS, info.lengths.shape)).astype(np.float32), info


def uncanonicalize(canonical: np.ndarray, info: CanonicalInfo, own_lengths: bool = True) -> np.ndarray:
    """Inverse of :func:`canonicalize` (``own_lengths=False``: keep the canonical skeleton's size)."""
    x = np.asarray(canonical, dtype=np.float64)
    if own_lengths:
        x = set_bone_lengths(x, info.lengths)
    world = np.einsum("...ij,...kj->...ki", rotation_y(-np.asarray(info.azimuth)), x)
    return world + np.asarray(info.pelvis)[..., None, :]


def camera_to_upright(points: np.ndarray) -> np.ndarray:
    """Camera frame (y down, z forward) -> Y up (a proper rotation: 180 degrees about x). Self-inverse."""
    return np.asarray(points) * np.array([1.0, -1.0, -1.0], dtype=np.asarray(points).dtype)
