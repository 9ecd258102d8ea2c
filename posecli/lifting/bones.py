"""One body per track: the lifter predicts every frame's bone lengths anew, but a person does not change size.

:func:`constant_bones` rebuilds each frame's skeleton from the pelvis outwards with the track's median bone
lengths, keeping every bone's direction: the same person, the same limbs, with less frame-to-frame jitter
(bone length errors no longer add to the joint error independently per frame).
"""
from __future__ import annotations

import numpy as np

from .. import joints


def constant_bones(rel: np.ndarray, joint_set: str = "h36m17") -> np.ndarray:
    """(T, J, 3) root-relative joints -> the same directions with each bone at its median length over T."""
    js = joints.get(joint_set)
    x = np.asarray(rel, np.float64)
    out = x.copy()
    for j, p in enumerate(js.parents):  # parents come before children
        if p < 0:
            continue
        bone = x[:, j] - x[:, p]
        length = np.linalg.norm(bone, axis=-1)
        ok = np.isfinite(length) & (length > 1e-6)
        if not ok.any():
            continue
        target = np.median(length[ok])
        unit = np.where(ok[:, None], bone / np.where(ok, length, 1.0)[:, None], 0.0)
        out[:, j] = np.where(ok[:, None], out[:, p] + target * unit, out[:, j])
    return out.astype(np.asarray(rel).dtype)


# Segments between the 12 limb joints (the points ``lifting.root`` places a skeleton by): limbs, the torso's
# sides and its widths. Head and spine bones are left out: they do not enter the placement, and lifters
# differ in how they split the trunk between them.
_SEGMENTS = [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
             for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"),
                          ("hip", "shoulder"))] + [("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")]


def body_size(rel: np.ndarray, joint_set: str = "h36m17") -> float:
    """Sum of the median lengths over frames of the segments between the limb joints (metres): one number for
    how big a body is, as far as its placement by the limb joints' pixels goes."""
    js = joints.get(joint_set)
    x = np.asarray(rel, np.float64)
    total = 0.0
    for a, b in _SEGMENTS:
        length = np.linalg.norm(x[:, js.index(a)] - x[:, js.index(b)], axis=-1)
        length = length[np.isfinite(length)]
        total += float(np.median(length)) if len(length) else 0.0
    return total
