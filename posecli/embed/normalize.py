"""How poses are presented to Pr-VIPE (2D input) and compared (3D labels, NP-MPJPE), in one place.

2D input (the paper's "instance normalisation"): the 13 keypoints = COCO nose + the 12 COCO body joints,
translated so the hip midpoint is the origin and scaled so the largest pairwise distance among the shoulders and
hips is 0.5. Choices the paper leaves open (it ignores missing joints):
- A missing joint (NaN or confidence 0) enters as (0, 0), i.e. at the hip centre, and the model also gets a
  0/1 visibility flag per joint, so "at the hip centre" and "not seen" stay distinguishable. A flag rather than
  the detector's score: scores are calibrated differently by every detector (and ours are simulated), while
  "missing" means the same everywhere.
- One hip missing: the other one is the origin; both missing: the mean of the visible points. Fewer than two
  of the four torso joints seen: the scale comes from half the largest distance among all visible points (about
  the torso diagonal on a standing person), so a partial pose still gets a sensible size.

3D labels: H36M-17, pelvis at the origin, scaled so hip->spine->thorax is 1. That path is the *sum* of the two
segments (pelvis-spine + spine-thorax), as the reference code's 3D profile reduces its scale pairs by a sum; a
straight pelvis-thorax line would shrink with spine flexion.

NP-MPJPE: mean per-joint distance after both poses are normalised and the first is Procrustes-aligned (rotation,
scale, translation; :func:`posecli.metrics.procrustes_align`) onto the second, in the second's normalised units.
"""
from __future__ import annotations

import numpy as np

from .. import joints
from ..metrics import procrustes_align

INPUT_JOINTS = ("nose", *(f"{s}_{p}" for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
                          for s in ("left", "right")))
INPUT_INDEX = np.array([joints.COCO17.index(n) for n in INPUT_JOINTS])  # into COCO-17
NUM_INPUT = len(INPUT_JOINTS)  # 13
_HIPS = (INPUT_JOINTS.index("left_hip"), INPUT_JOINTS.index("right_hip"))
_TORSO = tuple(INPUT_JOINTS.index(f"{s}_{p}") for p in ("shoulder", "hip") for s in ("left", "right"))
TORSO_SCALE = 0.5  # the paper's max shoulder/hip pairwise distance after normalisation

_H36M = joints.H36M17
_SPINE_PATH = (_H36M.index("pelvis"), _H36M.index("spine"), _H36M.index("thorax"))


def _max_pairwise(points: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(..., J, 2), (..., J) -> (...) the largest distance between two seen points (0 if fewer than two)."""
    d = np.linalg.norm(points[..., :, None, :] - points[..., None, :, :], axis=-1)
    both = seen[..., :, None] & seen[..., None, :]
    return np.where(both, d, 0.0).max((-2, -1))


def normalize_2d(points: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 (..., 17, 2) in any units + (..., 17) -> (13 normalised points (..., 13, 2), visible (..., 13))."""
    pts = np.asarray(points, dtype=np.float64)[..., INPUT_INDEX, :]
    conf = np.asarray(confidence, dtype=np.float64)[..., INPUT_INDEX]
    seen = np.isfinite(pts).all(-1) & (conf > 0)
    pts = np.where(seen[..., None], pts, 0.0)
    count = np.maximum(seen.sum(-1, keepdims=True), 1)
    mean_seen = pts.sum(-2) / count
    lh, rh = seen[..., _HIPS[0], None], seen[..., _HIPS[1], None]
    hip_l, hip_r = pts[..., _HIPS[0], :], pts[..., _HIPS[1], :]
    centre = np.where(lh & rh, (hip_l + hip_r) / 2, np.where(lh, hip_l, np.where(rh, hip_r, mean_seen)))
    torso = _max_pairwise(pts[..., _TORSO, :], seen[..., _TORSO])
    scale = np.where(seen[..., _TORSO].sum(-1) >= 2, torso, _max_pairwise(pts, seen) / 2)
    scale = np.where(scale > 1e-9, scale, 1.0)  # a single seen point, or none: nothing to scale
    out = (pts - centre[..., None, :]) / scale[..., None, None] * TORSO_SCALE
    return np.where(seen[..., None], out, 0.0).astype(np.float32), seen


def model_input(points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """COCO-17 (..., 17, 2) + (..., 17) -> (..., 39) float32: 13 normalised (x, y), then 13 visibility flags."""
    pts, seen = normalize_2d(points, confidence)
    flat = pts.reshape(*pts.shape[:-2], 2 * NUM_INPUT)
    return np.concatenate([flat, seen.astype(np.float32)], -1)


_MIRROR = np.array([INPUT_JOINTS.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
                    for n in INPUT_JOINTS])


def mirror_input(x: np.ndarray) -> np.ndarray:
    """Model input (..., 39) of the mirror image: x negated (the hip centre stays the origin), left/right
    swapped. What the paper's chirality handling embeds: embeddings are chiral, so a pose and its mirror differ."""
    x = np.asarray(x, dtype=np.float32)
    pts = x[..., :2 * NUM_INPUT].reshape(*x.shape[:-1], NUM_INPUT, 2)[..., _MIRROR, :] * np.float32([-1, 1])
    seen = x[..., 2 * NUM_INPUT:][..., _MIRROR]
    return np.concatenate([pts.reshape(*x.shape[:-1], 2 * NUM_INPUT), seen], -1) + 0.0  # -0.0 -> 0.0


def window_indices(times: np.ndarray, window: int, fps: float) -> np.ndarray:
    """(T,) increasing frame times (s) -> (T, W) indices of the frames nearest to t + k / fps, k = -(W // 2) ..
    W // 2: the frames a temporal model sees around each frame, at the rate it was trained at whatever the
    clip's own rate; past either end of the clip, the end frame repeats (the model was trained the same way)."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        return np.zeros((0, window), np.int64)
    want = times[:, None] + (np.arange(window) - window // 2) / fps
    right = np.clip(np.searchsorted(times, want), 0, len(times) - 1)
    left = np.clip(right - 1, 0, len(times) - 1)
    return np.where(np.abs(times[left] - want) <= np.abs(times[right] - want), left, right)


def normalize_3d(points: np.ndarray) -> np.ndarray:
    """H36M-17 (..., 17, 3) -> pelvis at the origin, pelvis->spine->thorax path of length 1."""
    p = np.asarray(points, dtype=np.float64)
    p = p - p[..., :1, :]
    a, b, c = (p[..., i, :] for i in _SPINE_PATH)
    length = np.linalg.norm(b - a, axis=-1) + np.linalg.norm(c - b, axis=-1)
    return p / np.maximum(length, 1e-9)[..., None, None]


def procrustes_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Paired (N, J, D), (N, J, D) -> (N,): mean per-joint distance after aligning a[n] onto b[n] (D = 2 or 3)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    if len(a) == 0:
        return np.zeros(0)
    return np.linalg.norm(procrustes_align(a, b) - b, axis=-1).mean(-1)


def pairwise_procrustes_distances(a: np.ndarray, b: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """(N, J, D), (M, J, D) -> (N, M) Procrustes distances, ``chunk`` pairs at a time (bounded memory)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.empty((len(a), len(b)))
    rows = max(1, chunk // max(len(b), 1))
    for s in range(0, len(a), rows):
        blk = a[s:s + rows]
        pa = np.broadcast_to(blk[:, None], (len(blk), *b.shape)).reshape(-1, *b.shape[1:])
        pb = np.broadcast_to(b[None], (len(blk), *b.shape)).reshape(-1, *b.shape[1:])
        out[s:s + rows] = procrustes_distances(pa, pb).reshape(len(blk), len(b))
    return out


def np_mpjpe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Paired H36M-17 poses (N, 17, 3) (any units) -> (N,) NP-MPJPE; identical poses up to a similarity give 0."""
    return procrustes_distances(normalize_3d(a), normalize_3d(b))


def np_mpjpe_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """H36M-17 (N, 17, 3), (M, 17, 3) -> (N, M) NP-MPJPE of every pair (a[i] aligned onto b[j])."""
    return pairwise_procrustes_distances(normalize_3d(a), normalize_3d(b))
