"""Left and right kept consistent along a track: undo the landmark model's sudden left/right label flips.

BlazePose decides per frame whether it sees a person's front or back. On a frontal view it sometimes flips that
decision for a fraction of a second: every left joint takes the right joint's place and back, in one frame
(the Pose2Sim balancing trial's cam02: 30 of 100 frames). Nothing the body does looks like that: a person
who turns round moves the shoulders through each other gradually, whereas a label flip moves each joint by the
width of the body between two frames. Legs can also flip on their own (the model losing which leg is which).

So, per track, a two-state Viterbi pass (state: keep the frame's labels, or swap them) over the frames:
- transition cost: how far the labelled joints move between neighbouring frames under the two states (the
  sum over left/right pairs of the displacement, divided by the person's box height, each pair weighted by its
  keypoint confidence: every pair is a separate witness, and the face's pairs, which lie close together, say
  little); across a gap longer than ``MAX_GAP`` seconds there is no evidence;
- state cost: ``PER_SECOND`` x the frame's duration for each frame whose labels are changed, so that of two
  consistent labellings the one that agrees with the model for longer wins, and a flip is undone only where the
  motion clearly says it was one.
The body (face, shoulders, arms, hips) is decided first against the model's labels; the lower legs then against
the body's decision (a whole-body flip carries the legs with it; a legs-only flip is undone on its own).
Hand-written: it is a 2-state dynamic programme over a few arrays; no tracking package has it.
"""
from __future__ import annotations

import numpy as np

from .. import joints
from ..boxes import keypoint_heights

PER_SECOND = 0.5  # state cost, box heights per second of changed labels (chosen on renders of training subjects)
MAX_GAP = 0.25  # seconds; a longer gap between two observations carries no left/right evidence
MIN_CONF = 0.3  # a pair counts in a frame only where both twins are this confident
LEG_WORDS = ("knee", "ankle", "heel", "foot")


def side_pairs(joint_set: str) -> tuple[np.ndarray, np.ndarray]:
    """((P, 2) body pairs, (Q, 2) lower-leg pairs): (left index, right index) of each left/right twin."""
    js = joints.get(joint_set)
    left, right = js.symmetry
    legs = np.array([any(w in js.joints[i] for w in LEG_WORDS) for i in left], bool)
    pairs = np.stack([left, right], axis=1).reshape(-1, 2)
    return pairs[~legs], pairs[legs]


def _steps(points: np.ndarray, conf: np.ndarray, pairs: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T-1, 2) cost of going from frame t to t+1 with the same labels (col 0) and with one side swapped (col 1)."""
    if len(pairs) == 0 or len(points) < 2:
        return np.zeros((max(len(points) - 1, 0), 2))
    a, b = points[:, pairs[:, 0]], points[:, pairs[:, 1]]  # (T, P, 2)
    same = np.linalg.norm(a[1:] - a[:-1], axis=-1) + np.linalg.norm(b[1:] - b[:-1], axis=-1)
    cross = np.linalg.norm(a[1:] - b[:-1], axis=-1) + np.linalg.norm(b[1:] - a[:-1], axis=-1)
    c = np.minimum(conf[:, pairs[:, 0]], conf[:, pairs[:, 1]])
    w = np.minimum(c[1:], c[:-1]) * (np.minimum(c[1:], c[:-1]) >= MIN_CONF)
    ok = np.isfinite(same) & np.isfinite(cross)
    w = np.where(ok, w, 0.0)
    total = np.stack([(np.where(ok, same, 0) * w).sum(1), (np.where(ok, cross, 0) * w).sum(1)], 1)
    s = np.maximum(scale[1:], 1e-6)
    return total / s[:, None]


def _viterbi(steps: np.ndarray, unary: np.ndarray) -> np.ndarray:
    """(T,) 0/1 states minimising sum(unary[t, s_t]) + sum(steps[t, s_t != s_t+1])."""
    n = len(unary)
    cost = unary[0].copy()
    back = np.zeros((n, 2), np.int8)
    for t in range(1, n):
        same, cross = steps[t - 1]
        stay, move = cost + same, cost[::-1] + cross  # into state s from s (stay) or from 1 - s (move)
        back[t] = np.where(move < stay, 1, 0)
        cost = np.minimum(stay, move) + unary[t]
    states = np.zeros(n, np.int8)
    states[-1] = int(np.argmin(cost))
    for t in range(n - 1, 0, -1):
        states[t - 1] = states[t] ^ back[t, states[t]]
    return states


def consistent_sides(points: np.ndarray, conf: np.ndarray, times: np.ndarray, height: np.ndarray,
                     joint_set: str, per_second: float = PER_SECOND) -> tuple[np.ndarray, np.ndarray]:
    """Which frames to swap: ((T,) body, (T,) lower legs) bool, relative to the labels in ``points`` (T, J, 2)."""
    n = len(points)
    if n < 2:
        return np.zeros(n, bool), np.zeros(n, bool)
    body, legs = side_pairs(joint_set)
    dt = np.diff(times)
    gap = dt > MAX_GAP
    duration = np.minimum(np.append(dt, np.median(dt) if len(dt) else 0.0), MAX_GAP) * per_second
    steps_body = _steps(points, conf, body, height)
    steps_body[gap] = 0.0
    swap_body = _viterbi(steps_body, np.stack([np.zeros(n), duration], 1))
    carried = _apply(points, np.zeros(n, bool), swap_body.astype(bool), body, legs)  # legs as the body decided
    steps_legs = _steps(carried, conf, legs, height)
    steps_legs[gap] = 0.0
    # legs: state = swapped relative to the body's decision; changing the body's decision costs time
    swap_legs = _viterbi(steps_legs, np.stack([np.zeros(n), duration], 1))
    return swap_body.astype(bool), (swap_legs ^ swap_body).astype(bool)


def _apply(arr: np.ndarray, swap_body: np.ndarray, swap_legs: np.ndarray, body: np.ndarray,
           legs: np.ndarray) -> np.ndarray:
    out = np.array(arr, copy=True)
    for rows, pairs in ((swap_body, body), (swap_legs, legs)):
        if rows.any() and len(pairs):
            idx = np.ix_(rows, pairs[:, 0]), np.ix_(rows, pairs[:, 1])
            out[idx[0]], out[idx[1]] = arr[idx[1]], arr[idx[0]]
    return out


def apply_sides(arr: np.ndarray, swap_body: np.ndarray, swap_legs: np.ndarray, joint_set: str) -> np.ndarray:
    """``arr`` (T, J, ...) with the left/right twins of the body and of the lower legs exchanged where asked."""
    body, legs = side_pairs(joint_set)
    return _apply(arr, swap_body, swap_legs, body, legs)


def make_consistent(points: np.ndarray, conf: np.ndarray, times: np.ndarray, height: np.ndarray, joint_set: str,
                    *others: np.ndarray, per_second: float = PER_SECOND):
    """``consistent_sides`` applied: (points, conf, *others swapped alike, (T,) bool frames changed)."""
    body, legs = consistent_sides(points, conf, times, height, joint_set, per_second)
    swapped = [apply_sides(a, body, legs, joint_set) for a in (points, conf, *others)]
    return (*swapped, body | legs)


def consistent_keypoints(points: np.ndarray, conf: np.ndarray, times: np.ndarray, joint_set: str
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(points, conf) of one person's 2D sequence as ``posecli track`` hands it on: label flips undone, the
    person's size taken from the keypoints (:func:`keypoint_heights`)."""
    out = make_consistent(points, conf, times, keypoint_heights(points), joint_set)
    return out[0], out[1]
