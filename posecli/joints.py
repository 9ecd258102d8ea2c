"""The joint-set registry: every joint order posecli reads or writes, and the maps between them.

One place for joint orders (notes/formats.md) so that no module hard-codes indices. Names are lower-case
snake case; left/right symmetry is derived from the ``left_``/``right_`` prefixes, so a new joint set gets its
flip permutation for free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .errors import PoseCliError


@dataclass(frozen=True)
class JointSet:
    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...] | None = None  # kinematic tree, -1 for the root
    edges: tuple[tuple[int, int], ...] = field(default=())  # drawn bones; defaults to the tree
    description: str = ""

    def __post_init__(self) -> None:
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"joint set {self.name} has duplicate names")
        if self.parents is not None:
            if len(self.parents) != len(self.joints):
                raise ValueError(f"joint set {self.name}: parents length differs from joints")
            if not self.edges:
                object.__setattr__(self, "edges", tuple((p, j) for j, p in enumerate(self.parents) if p >= 0))

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise PoseCliError(f"joint set {self.name} has no joint {joint!r}") from None

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps every left joint with its right twin (for mirroring a pose)."""
        perm = np.arange(len(self.joints))
        for i, name in enumerate(self.joints):
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if name.startswith(a):
                    twin = b + name[len(a):]
                    if twin in self.joints:
                        perm[i] = self.joints.index(twin)
        return perm

    @property
    def symmetry(self) -> tuple[list[int], list[int]]:
        """(left indices, right indices) in matching order, as VideoPose3D's ``keypoints_symmetry``."""
        perm = self.flip_permutation
        left = [i for i, n in enumerate(self.joints) if n.startswith("left_") and perm[i] != i]
        return left, [int(perm[i]) for i in left]


_SIDES = ("left", "right")


def _lr(*parts: str) -> list[str]:
    return [f"{side}_{p}" for p in parts for side in _SIDES]


COCO17 = JointSet(
    "coco17",
    ("nose", *_lr("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")),
    description="COCO keypoints (left = odd indices); posecli's 2D detector output",
    edges=((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
           (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)),
)

H36M17 = JointSet(
    "h36m17",
    ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine",
     "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
     "right_elbow", "right_wrist"),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    description="Human3.6M 17 joints in VideoPose3D order; posecli's 3D output",
)

# Human3.6M-17 without 'neck_nose': the 16 joints of Martinez et al. and of MCSS's pose head (seed 002)
H36M16 = JointSet(
    "h36m16",
    tuple(j for j in H36M17.joints if j != "neck_nose"),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14),
    description="Human3.6M 16 joints (H36M-17 without neck_nose); MCSS's output",
)

BLAZEPOSE33 = JointSet(
    "blazepose33",
    ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "left_mouth", "right_mouth",
     *_lr("shoulder", "elbow", "wrist", "pinky", "index", "thumb", "hip", "knee", "ankle", "heel",
          "foot_index")),
    description="MediaPipe BlazePose landmarks (odd = left from 11 on)",
    edges=((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
           (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
           (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30),
           (29, 31), (30, 32), (27, 31), (28, 32)),
)

SMPL24 = JointSet(
    "smpl24",
    ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
     "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
     "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand",
     "right_hand"),
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21),
    description="SMPL body joints (axis-angle pose is 24x3)",
)

BODY25B = JointSet(
    "body25b",
    (*COCO17.joints, "neck", "head_top", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
     "right_small_toe", "right_heel"),
    description="OpenPose BODY_25B (COCO-17 first, then neck, head top, feet); Pose2Sim's default",
    edges=(*COCO17.edges, (17, 18), (17, 5), (17, 6), (15, 19), (19, 20), (15, 21), (16, 22), (22, 23), (16, 24)),
)

_REGISTRY: dict[str, JointSet] = {js.name: js for js in (COCO17, H36M17, H36M16, BLAZEPOSE33, SMPL24, BODY25B)}


def register(joint_set: JointSet) -> JointSet:
    """Add a joint set (e.g. a user's rig); re-registering the same definition is a no-op."""
    known = _REGISTRY.get(joint_set.name)
    if known is not None and known.joints != joint_set.joints:
        raise PoseCliError(f"joint set {joint_set.name!r} is already registered with other joints")
    _REGISTRY[joint_set.name] = joint_set
    return joint_set


def ensure(name: str, joint_names: list[str] | tuple[str, ...]) -> str:
    """Name of a joint set with exactly these joints, registering it if unknown (files carry their names)."""
    known = _REGISTRY.get(name)
    if known is None:
        register(JointSet(name, tuple(joint_names)))
    elif known.joints != tuple(joint_names):
        raise PoseCliError(f"joint set {name!r} in the file lists other joints than posecli's {name}")
    return name


def find(joint_names: list[str] | tuple[str, ...], fallback: str) -> str:
    """The registered joint set with exactly these joints in this order, else a new one named ``fallback``."""
    for js in _REGISTRY.values():
        if js.joints == tuple(joint_names):
            return js.name
    return ensure(fallback, joint_names)


def get(name: str) -> JointSet:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PoseCliError(f"unknown joint set {name!r}", f"known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


# Maps: target joint -> the source joints whose mean gives it. A target absent here has no counterpart and
# comes out missing (NaN, confidence 0). Means of two joints are approximations (e.g. the H36M pelvis from
# the two hips; the thorax from the shoulders); they are the usual ones in 2D->3D lifting code.
_COCO_FROM_BLAZE = {n: [n] for n in COCO17.joints}
_H36M_FROM_COCO = {
    "pelvis": ["left_hip", "right_hip"],
    **{f"{s}_{p}": [f"{s}_{p}"] for s in _SIDES for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")},
    "spine": ["left_hip", "right_hip", "left_shoulder", "right_shoulder"],
    "thorax": ["left_shoulder", "right_shoulder"],
    "neck_nose": ["nose"],
    "head": ["left_ear", "right_ear"],
}
_COCO_FROM_H36M = {
    "nose": ["neck_nose"],
    **{f"{s}_{p}": [f"{s}_{p}"] for s in _SIDES for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")},
}
_H36M_FROM_SMPL = {
    "pelvis": ["pelvis"],
    **{f"{s}_{p}": [f"{s}_{p}"] for s in _SIDES for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")},
    "spine": ["spine1", "spine2"],
    "thorax": ["spine3", "neck"],
    "neck_nose": ["neck"],
    "head": ["head"],
}
_SMPL_FROM_H36M = {
    "pelvis": ["pelvis"],
    **{f"{s}_{p}": [f"{s}_{p}"] for s in _SIDES for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")},
    "neck": ["neck_nose"],
    "head": ["head"],
}

_H36M17_FROM_16 = {**{n: [n] for n in H36M16.joints}, "neck_nose": ["thorax", "head"]}  # midway: a guess

_MAPS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("h36m17", "h36m16"): {n: [n] for n in H36M16.joints},
    ("h36m16", "h36m17"): _H36M17_FROM_16,
    ("blazepose33", "coco17"): _COCO_FROM_BLAZE,
    ("body25b", "coco17"): _COCO_FROM_BLAZE,  # BODY_25B starts with COCO-17 under the same names
    ("blazepose33", "h36m17"): _H36M_FROM_COCO,  # BlazePose keeps COCO's joint names
    ("coco17", "h36m17"): _H36M_FROM_COCO,
    ("h36m17", "coco17"): _COCO_FROM_H36M,
    ("smpl24", "h36m17"): _H36M_FROM_SMPL,
    ("h36m17", "smpl24"): _SMPL_FROM_H36M,
    ("smpl24", "coco17"): {k: v for k, v in _COCO_FROM_H36M.items() if k != "nose"},
}


@cache
def mapping_matrix(src: str, dst: str) -> np.ndarray:
    """(J_dst, J_src) averaging weights; an all-zero row marks a target joint the source cannot give."""
    s, d = get(src), get(dst)
    if src == dst:
        return np.eye(len(s), dtype=np.float32)
    table = _MAPS.get((src, dst))
    if table is None:
        raise PoseCliError(f"no joint map from {src} to {dst}",
                           f"maps exist for: {', '.join(f'{a}->{b}' for a, b in sorted(_MAPS))}")
    m = np.zeros((len(d), len(s)), dtype=np.float32)
    for target, sources in table.items():
        for name in sources:
            m[d.index(target), s.index(name)] = 1.0 / len(sources)
    m.setflags(write=False)
    return m


def convert(points: np.ndarray, confidence: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Map keypoints (..., J_src, D) and confidences (..., J_src) to another joint set.

    A target joint built from several sources takes the lowest of their confidences, and is missing
    (NaN, 0) when any source is missing, so an averaged joint is never silently pulled toward one side.
    """
    m = mapping_matrix(src, dst)
    used = m > 0
    pts = np.einsum("ds,...sk->...dk", m, np.nan_to_num(points, nan=0.0)).astype(np.float32)
    conf = np.where(used, confidence[..., None, :], np.inf).min(axis=-1)
    conf = np.where(np.isinf(conf), 0.0, conf).astype(np.float32)
    missing = np.where(used, np.isnan(points).any(-1)[..., None, :] | (confidence[..., None, :] <= 0), False).any(-1)
    missing |= ~used.any(-1)
    pts[missing] = np.nan
    conf[missing] = 0.0
    return pts, conf
