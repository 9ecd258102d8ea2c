"""Occlusions for training and evaluating completion: what real footage hides besides the frame's edges.

The videographic augmentation (``train.clips``) already cuts people off at the frame's edges. Real footage also
hides body parts *inside* the frame for a while: a passer-by walks in front of the legs, a table hides the lower
body, an arm goes behind the torso, a limb is missed by the detector for a few frames. The model can only learn
to bridge such a gap from the frames around it if training shows it gaps with context on both sides; without
them it treats a hidden joint the same whether it was seen a second ago or never (issue 20: the mid-clip leg gap
scored like a whole window hidden).

A mask hides one group of COCO-17 joints over one span of frames. Groups and their shares (a choice: legs
first, the commonest occlusion in the footage users film, then single limbs, whole halves and scattered
detector misses): both legs below the hips 0.3, one leg 0.15, one arm 0.15, the lower body 0.1, the upper
body 0.1, random joints (each with probability 0.3) 0.2. Span lengths are log-uniform from 3 frames to the whole
window, placed uniformly, so short flickers, gaps in the middle, clip starts and ends and whole windows all
occur; a second occluder follows with probability 0.25.

Measured (session 9, docs/benchmarks.md): trained with occluders in half the clips (and the body-size and camera
augmentation), the CPU-sized model still did not use the frames around a gap (gap / whole-window error 0.98),
and its hypotheses lost their spread; ``train amodal --occlude`` is therefore off by default. The leg error
with the legs *visible* is already 104 mm, so the model's own accuracy bounds what any context can give.
"""
from __future__ import annotations

import numpy as np

from .. import joints

_C = {n: i for i, n in enumerate(joints.COCO17.joints)}
LEGS = [_C[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
GROUPS: dict[str, list[int]] = {
    "legs": LEGS,
    "left_leg": [_C["left_knee"], _C["left_ankle"]],
    "right_leg": [_C["right_knee"], _C["right_ankle"]],
    "left_arm": [_C["left_elbow"], _C["left_wrist"]],
    "right_arm": [_C["right_elbow"], _C["right_wrist"]],
    "lower_body": [_C[n] for n in ("left_hip", "right_hip")] + LEGS,
    "upper_body": list(range(_C["right_wrist"] + 1)),  # face, shoulders, arms
}
# (group, share): one leg and one arm split their share between the two sides; "random" is scattered joints
SHARES = (("legs", 0.3), ("left_leg", 0.075), ("right_leg", 0.075), ("left_arm", 0.075), ("right_arm", 0.075),
          ("lower_body", 0.1), ("upper_body", 0.1), ("random", 0.2))
RANDOM_JOINT_P = 0.3
SECOND_OCCLUDER_P = 0.25
MIN_SPAN = 3


def random_occlusion(rng: np.random.Generator, frames: int, joints_count: int = 17) -> np.ndarray:
    """(frames, 17) bool: True where a random occluder hides a COCO-17 joint (see the module's text)."""
    hidden = np.zeros((frames, joints_count), bool)
    names, shares = zip(*SHARES)
    for _ in range(1 + int(rng.random() < SECOND_OCCLUDER_P)):
        group = names[rng.choice(len(names), p=np.asarray(shares) / sum(shares))]
        cols = (np.flatnonzero(rng.random(joints_count) < RANDOM_JOINT_P) if group == "random"
                else np.asarray(GROUPS[group]))
        lo = min(MIN_SPAN, frames)
        span = int(round(np.exp(rng.uniform(np.log(lo), np.log(frames)))))
        start = int(rng.integers(0, frames - span + 1))
        hidden[start:start + span, cols] = True
    return hidden


def leg_gap(frames: int, case: str, period: int = 90, gap: int = 30) -> np.ndarray:
    """(frames, 17) bool: knees and ankles hidden for the held-out cases of issue 20.

    ``whole``: on every frame; ``gap``: frames whose position in each ``period`` is in [gap, 2 gap) (with the
    defaults 1 s hidden with 1 s seen before and after, at 30 fps); ``end``: the last ``gap`` frames only (context
    before, none after); ``middle``: the middle half of the sequence (issue 20's outside check: a gap longer than
    the seen stretches around it)."""
    hidden = np.zeros((frames, 17), bool)
    t = np.arange(frames)
    rows = {"whole": np.ones(frames, bool), "gap": (t % period >= gap) & (t % period < 2 * gap),
            "end": t >= frames - gap, "middle": (t >= frames // 4) & (t < frames - frames // 4)}[case]
    hidden[np.ix_(rows, LEGS)] = True
    return hidden
