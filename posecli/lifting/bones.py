"""One body per track: the lifter predicts every frame's bone lengths anew, but a person does not change size.

:func:`constant_bones` rebuilds each frame's skeleton from the pelvis outwards with the track's median bone
lengths, keeping every bone's direction: the same person, the same limbs, with less frame-to-frame jitter
(bone length errors no longer add to the joint error independently per frame).

With ``symmetric`` (``SYMMETRIC``, the default) each left bone and its right twin get one length, the mean of
their two medians: people are left/right symmetric to a percent or two, so a difference between the lifter's
left and right bones is its own error.
"""
from __future__ import annotations

import numpy as np

from .. import joints

SYMMETRIC = True


def constant_bones(rel: np.ndarray, joint_set: str = "h36m17", symmetric: bool | None = None) -> np.ndarray:
    """(T, J, 3) root-relative joints -> the same directions with each bone at its median length over T
    (``symmetric``, default ``SYMMETRIC``: left and right twins at the mean of their medians)."""
    js = joints.get(joint_set)
    x = np.asarray(rel, np.float64)
    parents = np.asarray(js.parents)
    child = np.flatnonzero(parents >= 0)
    bones = x[:, child] - x[:, parents[child]]  # (T, B): each bone, as the vector from its parent joint
    length = np.linalg.norm(bones, axis=-1)
    ok = np.isfinite(length) & (length > 1e-6)
    target = np.full(len(parents), np.nan)  # per joint: the median length of the bone ending there
    target[child] = [np.median(length[ok[:, b], b]) if ok[:, b].any() else np.nan for b in range(len(child))]
    if SYMMETRIC if symmetric is None else symmetric:
        # a bone's twin is the mirrored joint's bone (the root and the spine are their own twins); the mean of
        # the two that were seen
        pair = np.stack([target, target[js.flip_permutation]])
        seen = np.isfinite(pair).sum(0)
        target = np.where(seen > 0, np.nan_to_num(pair).sum(0) / np.maximum(seen, 1), np.nan)
    out = x.copy()
    for b, j in enumerate(child):  # parents come before children: each bone hangs from its rebuilt parent
        if not np.isfinite(target[j]):
            continue
        unit = np.where(ok[:, b, None], bones[:, b] / np.where(ok[:, b], length[:, b], 1.0)[:, None], 0.0)
        out[:, j] = np.where(ok[:, b, None], out[:, parents[j]] + target[j] * unit, out[:, j])
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
