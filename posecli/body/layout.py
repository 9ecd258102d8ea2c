"""Compact pose parameters shared by the body models: ball joints (axis-angle) and hinges (one angle).

A body model drives only the joints that the 17 H36M keypoints can observe; every other bone stays at its rest
pose. Elbows and knees are hinges about an anatomical axis with angle limits, which is what removes the limb
twist that 3D joint positions alone cannot see: once the forearm must bend in one plane, the upper arm's roll is
fixed by where the wrist is. Ball joints get a quadratic prior towards the rest pose (weights per joint), so that
what the keypoints leave free (a straight arm's roll, a spine bend spread over several bones) stays at rest.

Rotation vectors are in the model's rest-pose axes (how each model applies them is the model's business).
Every driven bone's rotation vector is linear in the pose (``bone_map``), which gives ``pose_jacobian`` the
analytic Jacobian of the joints for the fitter's Gauss-Newton steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .device import OnDevice


@dataclass(frozen=True)
class Joint:
    """One driven joint. ``bones`` are the model's bones it rotates (a spine bend spreads equally over them)."""

    name: str
    bones: tuple[str, ...]
    kind: str = "ball"  # "ball": 3 values (axis-angle); "hinge": 1 angle about ``axis``
    axis: tuple[float, float, float] | None = None  # hinge axis (unit), positive angle = flexion
    limits: tuple[float, float] = (-np.pi, np.pi)  # hinge angle range, radians
    prior: float = 1.0  # weight of each pose value's square (ball: rotation-vector components; hinge: angle)

    @property
    def dof(self) -> int:
        return 3 if self.kind == "ball" else 1


MAX_FLEXION = np.deg2rad(150.0)
HYPEREXTENSION = np.deg2rad(5.0)


def hinge(name: str, bone: str, a: np.ndarray, b: np.ndarray, c: np.ndarray,
          towards: np.ndarray | None = None) -> Joint:
    """A hinge at ``b``, between the rest-pose segments a->b and b->c. Its axis is the normal of the rest
    pose's bend (``towards`` None: an elbow already bent at rest), or the axis that swings b->c towards
    ``towards`` (a straight limb: the shin backwards, the forearm forwards). The angle counts from the rest
    pose; the limits allow 5 degrees of hyperextension and 150 degrees of flexion from straight."""
    u, f = b - a, c - b
    u, f = u / np.linalg.norm(u), f / np.linalg.norm(f)
    axis = np.cross(u, f) if towards is None else np.cross(f, towards)
    axis = axis / np.linalg.norm(axis)
    rest_bend = float(np.arctan2(np.dot(np.cross(u, f), axis), np.dot(u, f)))
    return Joint(name, (bone,), kind="hinge", axis=tuple(float(x) for x in axis),
                 limits=(-rest_bend - HYPEREXTENSION, MAX_FLEXION - rest_bend), prior=0.01)


class PoseLayout(OnDevice):
    """Maps a flat pose vector (T, P) to per-joint rotation vectors and scores it against priors and limits."""

    def __init__(self, joints: list[Joint] | tuple[Joint, ...]):
        self.joints = tuple(joints)
        self.offsets = np.cumsum([0, *(j.dof for j in self.joints)])
        self.dim = int(self.offsets[-1])
        self._hinge_index = torch.tensor([o for j, o in zip(self.joints, self.offsets) if j.kind == "hinge"],
                                         dtype=torch.long)
        self._weights = torch.tensor([j.prior for j in self.joints for _ in range(j.dof)], dtype=torch.float32)
        # Rotation vector of every driven bone as a linear map of the pose: (C, 3, P), bones in ``bones`` order.
        self.bones = tuple(b for j in self.joints for b in j.bones)
        bone_map = torch.zeros(len(self.bones), 3, self.dim)
        c = 0
        for j, o in zip(self.joints, self.offsets):
            for _ in j.bones:
                if j.kind == "ball":
                    bone_map[c, :, o:o + 3] = torch.eye(3) / len(j.bones)
                else:
                    bone_map[c, :, o] = torch.tensor(j.axis, dtype=torch.float32) / len(j.bones)
                c += 1
        self.bone_map = bone_map
        hinges = [j for j in self.joints if j.kind == "hinge"]
        self._lo = torch.tensor([j.limits[0] for j in hinges], dtype=torch.float32)
        self._hi = torch.tensor([j.limits[1] for j in hinges], dtype=torch.float32)

    @property
    def names(self) -> list[str]:
        """One name per pose value, e.g. ``left_shoulder.x`` or ``left_elbow.flex``."""
        out = []
        for j in self.joints:
            out += [f"{j.name}.{a}" for a in "xyz"] if j.kind == "ball" else [f"{j.name}.flex"]
        return out

    def bone_rotvecs(self, pose: torch.Tensor) -> torch.Tensor:
        """(T, P) -> (T, C, 3) rotation vector of each driven bone (``bones``); a group shares its rotation."""
        return torch.einsum("cip,tp->tci", self.bone_map.to(pose), pose)

    def prior_weights(self) -> torch.Tensor:
        """(P,) weight of each pose value's square in the prior (the quadratic part of ``prior``)."""
        return self._weights.clone()

    def prior(self, pose: torch.Tensor) -> torch.Tensor:
        """(T, P) -> (T,): weighted squared rotations plus a steep penalty outside the hinge limits."""
        w = self._weights.to(pose)
        cost = (w * pose.square()).sum(-1)
        if len(self._hinge_index):
            angle = pose[:, self._hinge_index.to(pose.device)]
            lo, hi = self._lo.to(pose), self._hi.to(pose)
            cost = cost + 100.0 * (torch.relu(lo - angle).square() + torch.relu(angle - hi).square()).sum(-1)
        return cost

    def clamp_(self, pose: torch.Tensor) -> None:
        """Put hinge angles back inside their limits (after the optimiser; the prior only discourages)."""
        if len(self._hinge_index):
            idx = self._hinge_index.to(pose.device)
            pose[:, idx] = torch.maximum(torch.minimum(pose[:, idx], self._hi.to(pose)), self._lo.to(pose))


def left_jacobian(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) left Jacobians of SO(3): d exp(v) = [J(v) dv]x exp(v)."""
    theta2 = v.square().sum(-1)[..., None, None]
    theta = theta2.sqrt()
    small = theta < 1e-4
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(safe)) / safe.square())
    b = torch.where(small, 1.0 / 6.0 - theta2 / 120.0, (safe - torch.sin(safe)) / safe ** 3)
    k = skew(v)
    return torch.eye(3, dtype=v.dtype, device=v.device) + a * k + b * (k @ k)


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) with skew(a) @ b = a x b."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return torch.stack([torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1),
                        torch.stack([-y, x, zero], -1)], -2)


def pose_jacobian(layout: PoseLayout, pose: torch.Tensor, points: torch.Tensor, mix: torch.Tensor,
                  moves: torch.Tensor, pivots: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Jacobian (T, J, 3, P) of joints = mix @ points with respect to the pose, for a kinematic chain.

    points (T, Q, 3): posed points, each rigidly carried by one bone; mix (J, Q): joints as point mixtures;
    moves (C, Q): 1 where driven bone c is that bone or one of its ancestors; pivots (T, C, 3): the driven
    bones' posed heads; frames (T, C, 3, 3): the rotation taking a bone's delta axes to the model frame (its
    delta exp(v) acts in those axes, so a change dv turns everything it carries by frames @ J_l(v) dv about its
    pivot). Analytic, so that a Levenberg-Marquardt step costs about one forward pass.
    """
    v = layout.bone_rotvecs(pose)  # (T, C, 3)
    omega = frames @ left_jacobian(v) @ layout.bone_map.to(pose)  # (T, C, 3, P)
    carried = mix[None] * moves[:, None, :]  # (C, J, Q)
    lever = torch.einsum("cjq,tqd->tcjd", carried, points) - carried.sum(-1)[None, ..., None] * pivots[:, :, None]
    # d joint_j = sum_c omega_c dpose x lever_cj = -sum_c skew(lever_cj) @ omega_c dpose
    return -torch.einsum("tcjab,tcbp->tjap", skew(lever), omega)
