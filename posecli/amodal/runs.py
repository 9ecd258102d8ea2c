"""Runs of frames where joints are hidden, and putting moved joints back at the skeleton's bone lengths: what the
two ways of using the frames around a gap (``bridge``: the model's residual kriged from the edges; ``matching``:
the person's own seen motion as hypotheses) share."""
from __future__ import annotations

import numpy as np

from .canonical import BONE_CHILDREN, CANONICAL_LENGTHS, PARENTS

MIN_RUN = 3  # a joint hidden only in shorter runs is a detector's isolated dropout, not an occlusion


def hidden_runs(hidden: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool -> [start, end) of each run of True."""
    h = np.concatenate([[False], np.asarray(hidden, bool), [False]])
    edges = np.flatnonzero(h[1:] != h[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def occluded(hidden: np.ndarray) -> np.ndarray:
    """(T, J) hidden -> (T, J): only the hidden runs of MIN_RUN frames or more (a detector drops every joint on
    some frame now and then; those dropouts are left to the model)."""
    out = np.zeros_like(hidden, dtype=bool)
    for j in range(hidden.shape[1]):
        for a, b in hidden_runs(hidden[:, j]):
            if b - a >= MIN_RUN:
                out[a:b, j] = True
    return out


def keep_bone_lengths(poses: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """(T, 17, 3) canonical poses, (T, 17) moved joints -> each moved joint put back at the canonical length from
    its parent, along the moved direction (parents first: H36M order), so the skeleton keeps the model's exact
    bone lengths; unmoved joints stay."""
    out = poses.copy()
    for length, j in zip(CANONICAL_LENGTHS, BONE_CHILDREN):
        rows = moved[:, j]
        if rows.any():
            v = out[rows, j] - out[rows, PARENTS[j]]
            n = np.linalg.norm(v, axis=-1, keepdims=True)
            out[rows, j] = out[rows, PARENTS[j]] + v / np.maximum(n, 1e-9) * length
    return out
