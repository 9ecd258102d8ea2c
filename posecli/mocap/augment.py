"""Motion augmentation for training: other body sizes and proportions, other speeds.

Six CMU subjects are six bodies and six people's tempo; a lifter trained on them learns their size (its root
lands too far for a small person) and their speeds. These make other plausible people from the same motion:

- :func:`resize_body`: a global scale (default 0.8-1.2, about a point on the floor under the person, so the
  feet stay on the floor and the path scales with the legs) and per-bone length changes (default std 4 %,
  clipped at +-10 %), the same factor for a left bone and its right twin so the body stays symmetric. Bones
  are the H36M-17 tree; COCO-17 points move with the H36M joint they coincide with (limbs, identical in
  ``prepare``'s output) or, for the face, with the head.
- :func:`resample_speed`: the motion played 0.7-1.5x as fast (linear interpolation in time), as another
  person would perform it.
- :func:`swing_limbs`: arms and legs turned at the shoulder or hip by a fixed rotation in the body's own frame
  (arms held wider, higher or across, legs further out): the arm and leg angles CMU's six people show are a
  narrow sample of what a kick, a strike or a dance reaches (PoseAug's bone-angle augmentation, simplified).
- :func:`lean_upper_body`: the trunk, head and arms tilted about the pelvis, legs unchanged (someone leaning
  forward to balance, reaching, bowing): CMU's people keep their trunk near vertical, so a lifter learns to read
  the camera's pitch off the trunk and sees a leaning person's camera look down too steeply (the Pose2Sim
  trial's performer leans 26 degrees in the median frame). The up label is the world's and does not move.
"""
from __future__ import annotations

import numpy as np

from .. import joints

# H36M-17 bone (child joint) -> length group; a left bone and its right twin share a group.
_BONE_GROUP = {
    "right_hip": "hip", "left_hip": "hip", "right_knee": "thigh", "left_knee": "thigh",
    "right_ankle": "shin", "left_ankle": "shin", "spine": "spine", "thorax": "chest", "neck_nose": "neck",
    "head": "head", "left_shoulder": "shoulder", "right_shoulder": "shoulder", "left_elbow": "upper_arm",
    "right_elbow": "upper_arm", "left_wrist": "forearm", "right_wrist": "forearm",
}
_GROUPS = sorted(set(_BONE_GROUP.values()))
# COCO-17 point -> the H36M-17 joint whose displacement it follows.
_COCO_FOLLOWS = {
    "nose": "head", "left_eye": "head", "right_eye": "head", "left_ear": "head", "right_ear": "head",
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder", "left_elbow": "left_elbow",
    "right_elbow": "right_elbow", "left_wrist": "left_wrist", "right_wrist": "right_wrist",
    "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle",
}
_H = joints.H36M17
_FOLLOW_IDX = np.array([_H.joints.index(_COCO_FOLLOWS[n]) for n in joints.COCO17.joints])
_ANKLES = [_H.joints.index("left_ankle"), _H.joints.index("right_ankle")]


_UPPER_H36M = np.array([_H.joints.index(n) for n in ("spine", "thorax", "neck_nose", "head", "left_shoulder",
                                                     "left_elbow", "left_wrist", "right_shoulder", "right_elbow",
                                                     "right_wrist")])
_UPPER_COCO = np.array([i for i, n in enumerate(joints.COCO17.joints) if _H.joints.index(_COCO_FOLLOWS[n]) in
                        set(_UPPER_H36M.tolist())])


def _rodrigues(axis: np.ndarray, theta: float) -> np.ndarray:
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k


def lean_upper_body(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, max_deg: float = 30.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(T, 17, 3) world joints (Y up) -> the same motion with the upper body tilted about each frame's pelvis by
    one angle drawn uniformly in [0, ``max_deg``] about a horizontal axis of random direction (forward,
    backward, sideways, relative to the world: the same tilt for the whole clip)."""
    theta = np.radians(rng.uniform(0.0, max_deg))
    phi = rng.uniform(0.0, 2 * np.pi)
    rot = _rodrigues(np.array([np.cos(phi), 0.0, np.sin(phi)]), theta)
    pelvis = np.asarray(h36m, np.float64)[:, :1]
    h, c = np.asarray(h36m, np.float64).copy(), np.asarray(coco, np.float64).copy()
    h[:, _UPPER_H36M] = (h[:, _UPPER_H36M] - pelvis) @ rot.T + pelvis
    c[:, _UPPER_COCO] = (c[:, _UPPER_COCO] - pelvis) @ rot.T + pelvis
    return h.astype(np.asarray(h36m).dtype), c.astype(np.asarray(coco).dtype)


_LIMBS = [(_H.joints.index(f"{side}_{a}"), [_H.joints.index(f"{side}_{b}"), _H.joints.index(f"{side}_{c}")])
          for side in ("left", "right") for a, b, c in (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"))]
_HIPS = (_H.joints.index("left_hip"), _H.joints.index("right_hip"))


def swing_limbs(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, arm_deg: float = 45.0,
                leg_deg: float = 25.0, share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(T, 17, 3) world joints (Y up) -> the same motion with each limb, with probability ``share``, turned about
    its shoulder or hip by one rotation (axis uniform on the sphere, angle uniform up to ``arm_deg`` /
    ``leg_deg``) fixed in the body's frame (hips' direction, world up), so it turns with the person. Bone
    lengths and the elbow and knee angles are kept; COCO points move with their H36M joints."""
    h = np.asarray(h36m, np.float64)
    across = h[:, _HIPS[1]] - h[:, _HIPS[0]]
    across[:, 1] = 0.0
    across /= np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-9)
    up = np.broadcast_to([0.0, 1.0, 0.0], across.shape)
    body = np.stack([across, up, np.cross(across, up)], -1)  # (T, 3, 3): columns are the body's axes in the world
    new = h.copy()
    for (root, chain), limit in zip(_LIMBS, (arm_deg, leg_deg, arm_deg, leg_deg)):
        if rng.random() >= share:
            continue
        axis = rng.standard_normal(3)
        turn = _rodrigues(axis / np.linalg.norm(axis), np.radians(rng.uniform(0.0, limit)))
        world_turn = body @ turn @ body.transpose(0, 2, 1)  # (T, 3, 3)
        for j in chain:
            new[:, j] = h[:, root] + np.einsum("tij,tj->ti", world_turn, h[:, j] - h[:, root])
    coco_new = np.asarray(coco, np.float64) + (new - h)[:, _FOLLOW_IDX]
    return new.astype(np.asarray(h36m).dtype), coco_new.astype(np.asarray(coco).dtype)


def bone_factors(rng: np.random.Generator, sigma: float = 0.04, clip: float = 0.10) -> np.ndarray:
    """(17,) length factor of the bone ending at each H36M-17 joint (1 for the root), symmetric left/right."""
    group = dict(zip(_GROUPS, np.clip(1 + sigma * rng.standard_normal(len(_GROUPS)), 1 - clip, 1 + clip)))
    return np.array([1.0] + [group[_BONE_GROUP[n]] for n in _H.joints[1:]])


def resize_body(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator,
                scale: tuple[float, float] = (0.8, 1.2), bone_sigma: float = 0.04,
                ) -> tuple[np.ndarray, np.ndarray]:
    """(T, 17, 3) H36M-17 and COCO-17 world joints (Y up, floor y = 0) -> the same motion by another body."""
    h = np.asarray(h36m, dtype=np.float64)
    factors = bone_factors(rng, bone_sigma)
    new = h.copy()
    for j, p in enumerate(_H.parents):  # parents come before children in H36M-17's order
        if p >= 0:
            new[:, j] = new[:, p] + factors[j] * (h[:, j] - h[:, p])
    # Longer or shorter legs lift or sink the body: keep the lowest ankle where it was.
    new[..., 1] += h[:, _ANKLES, 1].min() - new[:, _ANKLES, 1].min()
    coco_new = np.asarray(coco, dtype=np.float64) + (new - h)[:, _FOLLOW_IDX]  # face rides with the head
    s = rng.uniform(*scale)
    anchor = np.array([h[:, 0, 0].mean(), 0.0, h[:, 0, 2].mean()])  # on the floor under the person
    return ((anchor + s * (new - anchor)).astype(h36m.dtype),
            (anchor + s * (coco_new - anchor)).astype(coco.dtype))


def speed_span(length: int, speed: float) -> int:
    """Source frames needed for ``length`` output frames played ``speed`` times as fast."""
    return int(np.ceil((length - 1) * speed)) + 1


def resample_speed(points: np.ndarray, length: int, speed: float) -> np.ndarray:
    """(S, ...) source frames -> (length, ...) frames at ``speed`` x the original tempo (linear in time).

    ``points`` must hold at least :func:`speed_span` frames; extra frames are ignored."""
    t = np.minimum(np.arange(length) * speed, len(points) - 1)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, len(points) - 1)
    w = (t - lo).reshape(-1, *[1] * (points.ndim - 1))
    return ((1 - w) * points[lo] + w * points[hi]).astype(points.dtype)
