"""An upright world frame for the lifter's camera-frame joints: Y up, the floor at y = 0.

Gravity: the lifter's up head predicts, per frame, the world's up direction in camera axes (trained on mocap
filmed by random cameras, where the truth is the camera's rotation; ``train.estimate``). A static camera has
one up direction, so the per-frame predictions of every person in the video are averaged (weighted by how
many joints the detector saw) into one unit vector. Chosen over a purely geometric estimate (the feet of
standing frames, the torso's mean direction) because it also works for people who never stand straight
(crouching, bowing, lying) and needs no floor contact; the learned head sees the whole pose and its motion.

Then the floor refines it (:func:`floor_up`): a static camera sees everyone's feet on one plane, so the lower
ankle's positions over a clip, as far as the person moved about, span directions that must be horizontal. A
person who walks across the view fixes the up direction about one axis, one who wanders fixes it fully, one
who stands still not at all; the head's direction fills in what the feet leave open (a least-squares
combination, below). A uniform error in a person's size scales all their positions from the camera and leaves
the plane's normal unchanged, so the cue survives the lifter's size ambiguity. A camera that pans (turns about
the vertical) keeps both the floor's plane and the up direction fixed in its axes; one that tilts during the
clip breaks this, as it breaks the single up direction the head's average assumes. On CMU training subjects'
projections (``docs/benchmarks.md``; with the viewing ray of ``perspective``) it took the median tilt from 4.9
to 3.2 degrees (exact 2D) and 5.5 to 3.1 (detector-like 2D); with real-footage cameras from 5.1 to 4.0 and
4.5 to 3.2.

Axes (right-handed, as glTF, Blender's import and OpenGL expect): X = the camera's right made horizontal,
Y = up, Z = horizontal, pointing from the scene back towards the camera (the camera's heading is kept: its
optical axis projects onto -Z). Origin: below the camera; the floor is placed per person at y = 0 from that
person's own feet (10th percentile of the lower ankle's height, minus :data:`ANKLE_HEIGHT`), because each
person's depth, and so their height in a shared frame, is estimated separately.
"""
from __future__ import annotations

import numpy as np

from .. import joints

# The lower ankle's height above the floor: 10th percentile over all frames of the CMU mocap (H36M-17 ankle
# joints; 1st / 10th / 50th percentiles 0.027 / 0.040 / 0.055 m).
ANKLE_HEIGHT = 0.04
_ANKLES = [joints.H36M17.index("left_ankle"), joints.H36M17.index("right_ankle")]


def average_up(ups: list[np.ndarray], weights: list[np.ndarray]) -> np.ndarray | None:
    """(3,) unit up direction from per-frame (T, 3) predictions and (T,) weights of any number of tracks."""
    num = np.zeros(3)
    for u, w in zip(ups, weights):
        u = np.asarray(u, np.float64)
        n = np.linalg.norm(u, axis=-1, keepdims=True)
        ok = np.isfinite(u).all(-1) & (n[..., 0] > 0)
        num += (np.asarray(w, np.float64)[ok, None] * u[ok] / n[ok]).sum(0)
    norm = np.linalg.norm(num)
    return num / norm if norm > 0 else None


# The floor's fit: the lower ankle's height noise floor (m), the weight of the head's direction (per rad^2 of
# tilt, against the feet's spread over their height noise) and the lifter's relative depth error (its depth
# noise lies along the viewing ray and grows with distance). Chosen on CMU training subjects' projections
# (DEPTH_NOISE 0 / 0.02 / 0.05 x HEAD_WEIGHT 10 / 30 / 100, exact and detector-like 2D, three camera samplers:
# default, real-footage, people anywhere in the frame): 0.02 / 30 better than the head alone in median and mean
# in all six and within 0.5 degrees of the best in each. The depth term was added after the bundled balance
# clip went wrong without it: a background track at 13-16 m whose depth wandered 2.6 m along its ray turned
# the frame to 30 degrees off the calibration's gravity (the head alone: 5.6; with the term: 5.1).
FLOOR_NOISE = 0.05
HEAD_WEIGHT = 30.0
DEPTH_NOISE = 0.02
MIN_FLOOR_FRAMES = 30


def floor_up(tracks: list[tuple[np.ndarray, np.ndarray]], up0: np.ndarray, iters: int = 2) -> np.ndarray:
    """(3,) up direction from the head's ``up0`` and the floor under everyone's feet.

    ``tracks``: per person (T, 17, 3) camera-frame H36M-17 joints and (T, 17) confidence. Per person, the lower
    ankle (along ``up0``) of every frame that saw it; frames more than 3 robust deviations off the plane are
    dropped (jumps, steps, a mis-lifted foot) and the plane refitted ``iters`` times. Each person adds the
    covariance of their foot positions divided by the variance off their own best plane + ``FLOOR_NOISE``^2 +
    (``DEPTH_NOISE`` x their distance)^2 (a person on stairs, jumping or far away counts for less); the result
    is the direction u minimising u' (sum of those) u + HEAD_WEIGHT * sin^2(angle(u, up0)), an eigenvector.
    People seen on fewer than ``MIN_FLOOR_FRAMES`` frames add nothing."""
    u0 = np.asarray(up0, np.float64) / np.linalg.norm(up0)
    info = HEAD_WEIGHT * (np.eye(3) - np.outer(u0, u0))
    for pts, conf in tracks:
        feet = np.asarray(pts, np.float64)[:, _ANKLES]
        seen = (np.asarray(conf)[:, _ANKLES] > 0) & np.isfinite(feet).all(-1)
        height = np.where(seen, feet @ u0, np.inf)
        lower = np.argmin(height, axis=1)
        ok = np.isfinite(height.min(axis=1))
        low = feet[np.arange(len(feet)), lower][ok]
        if len(low) < MIN_FLOOR_FRAMES:
            continue
        keep = np.ones(len(low), bool)
        for i in range(iters + 1):
            centre = low[keep].mean(axis=0)  # on the plane (a per-axis median need not be)
            d = low[keep] - centre
            cov = d.T @ d / len(d)
            # weight: spread over the scatter off the person's own best plane (not off the head's plane,
            # which would count the head's error against the feet)
            off, axes = np.linalg.eigh(cov)
            # the lifter's depth error grows with distance and lies along the viewing ray, where a line of
            # points fits any plane containing it: far people count for less (DEPTH_NOISE x their distance)
            depth_var = (DEPTH_NOISE * np.median(np.linalg.norm(low[keep], axis=1))) ** 2
            person = cov / (off[0] + FLOOR_NOISE ** 2 + depth_var)
            if i == iters:
                break
            r = (low - centre) @ axes[:, 0]
            scatter = 1.4826 * np.median(np.abs(r[keep] - np.median(r[keep])))
            keep = np.abs(r - np.median(r[keep])) < 3 * max(scatter, 0.01)
            if keep.sum() < MIN_FLOOR_FRAMES:
                break
        info = info + person
    return _smallest(info, u0)


def _smallest(m: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Unit eigenvector of the symmetric ``m`` with the smallest eigenvalue, signed to agree with ``towards``."""
    v = np.linalg.eigh(m)[1][:, 0]
    return v if v @ towards >= 0 else -v


def world_rotation(up: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking camera-frame vectors to the world axes above (rows: X, Y, Z in camera axes)."""
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    f = np.array([0.0, 0.0, 1.0]) - u[2] * u  # the optical axis made horizontal
    if np.linalg.norm(f) < 1e-6:  # looking straight up or down: any heading will do
        f = np.array([0.0, 1.0, 0.0]) - u[1] * u
    f /= np.linalg.norm(f)
    r = np.cross(f, u)  # right = forward x up (camera x for a level camera)
    return np.stack([r, u, -f])


def floor_offset(points_world: np.ndarray) -> float:
    """Height of the floor in a frame rotated by :func:`world_rotation` (before the shift), from the feet."""
    ankles = np.asarray(points_world)[:, _ANKLES, 1]
    low = np.nanmin(np.where(np.isfinite(ankles), ankles, np.nan), axis=1) if np.isfinite(ankles).any() else None
    if low is None or not np.isfinite(low).any():
        return float("nan")
    return float(np.nanpercentile(low, 10) - ANKLE_HEIGHT)


def to_world(points_cam: np.ndarray, rotation: np.ndarray, floor: float) -> np.ndarray:
    """(..., 3) camera-frame points -> world points (Y up, the floor at y = 0)."""
    out = np.einsum("ij,...j->...i", rotation, np.asarray(points_cam, np.float64))
    out[..., 1] -= floor
    return out.astype(np.float32)


def tilt_degrees(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Angle (degrees) between two up directions (any lengths)."""
    a, b = np.asarray(estimate, float), np.asarray(truth, float)
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
