"""Pull the lifted limbs towards their keypoints, so the 3D lands where the person is in the image.

The lifter sees normalised 2D and returns a plausible body; its wrists and ankles need not project onto the
detected ones (overhead and wide arms were ~15 % of body height off, so fitted meshes overshot the hands).
Each of the 12 limb joints COCO-17 and H36M-17 share (confidence >= 0.5) keeps its depth and moves
``PULL`` of the way, sideways, towards the ray through its keypoint; the move is smoothed over time
(Gaussian, ``PULL_SMOOTH_S``) so detector jitter does not become 3D jitter. Chosen on the training subjects'
projections (the TCN lifter; MPJPE / PA-MPJPE / acceleration, mm): exact 2D 81.2 / 57.4 / 7.2 without,
76.4 / 53.7 / 7.1 with; detector-like 2D 93.9 / 67.3 / 25.1 without, 91.1 / 64.9 / 25.1 with (a full pull,
1.0, unsmoothed: 78.0 / 55.2 and 98.7 / 72.8 / 43.4 - the detector's noise comes through).
"""
from __future__ import annotations

import numpy as np

from .fusion import smooth_runs
from .root import COCO_LIMBS, H36M_LIMBS

PULL = 0.5
PULL_SMOOTH_S = 0.1
MIN_CONFIDENCE = 0.5


def pull_to_keypoints(points: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, focal: float,
                      centre: tuple[float, float], times: np.ndarray, weight: float = PULL,
                      smooth_s: float = PULL_SMOOTH_S) -> np.ndarray:
    """(T, 17, 3) H36M-17 camera-frame joints, (T, 17, 2) COCO-17 pixels + (T, 17) confidence -> joints."""
    out = np.array(points, dtype=np.float64, copy=True)
    u = np.asarray(keypoints, np.float64)[:, COCO_LIMBS]
    ok = (np.asarray(confidence)[:, COCO_LIMBS] >= MIN_CONFIDENCE) & np.isfinite(u).all(-1)
    z = out[:, H36M_LIMBS, 2]
    ok &= np.isfinite(z) & (z > 0)
    target = (np.nan_to_num(u) - np.asarray(centre, np.float64)) * z[..., None] / focal
    move = np.where(ok[..., None], weight * (target - out[:, H36M_LIMBS, :2]), 0.0)
    if smooth_s > 0 and len(move) > 2:
        move = smooth_runs(move, np.asarray(times, np.float64), smooth_s)
    out[:, H36M_LIMBS, :2] += np.nan_to_num(move)
    return out.astype(np.asarray(points).dtype)
