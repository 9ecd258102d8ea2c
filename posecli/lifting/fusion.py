"""Blend the lifter's 3D with the detector's own 3D (BlazePose's world landmarks) for the same frames.

The SPS lifter sees only 2D keypoints; BlazePose's world landmarks come from the image (the paper's SPS-Net
uses image features for the same reason: depth of a raised leg is ambiguous in 2D). The two err differently,
so their average is better than either: on the Pose2Sim trial the lifter alone scores 100.4 mm PA-MPJPE,
BlazePose 98.7, the blend 88.2 (docs/benchmarks.md). How:
- BlazePose-33 -> H36M-17 with the registry's map; per frame, the landmarks are moved onto the lifter's
  root-relative joints by the best similarity transform (rotation, scale, translation; so the lifter keeps
  the camera-frame orientation, the size and the root trajectory), then joint positions are averaged with
  weight ``BLEND`` on BlazePose's and re-centred on the pelvis.
- ``BLEND`` = 0.5 was chosen on renders of the *training* subjects (``posecli synth`` of CMU 001-131 without
  006, BlazePose run on them: PA-MPJPE 105.6 / 95.9 / 95.3 / 95.6 / 104.2 mm at 0 / 0.4 / 0.5 / 0.6 / 1),
  never on the held-out subject or the Pose2Sim trial.
- Frames where the detector gave no finite landmarks keep the lifter's joints. Tracks from other sources
  (imported 2D, other backends) have no such layer and are not blended.
"""
from __future__ import annotations

import numpy as np

from .. import joints
from ..metrics import procrustes_align

BLEND = 0.5


def blend_detector_3d(rel: np.ndarray, points: np.ndarray, confidence: np.ndarray, joint_set: str,
                      weight: float = BLEND) -> np.ndarray:
    """(T, 17, 3) root-relative H36M-17 from the lifter + the detector's (T, J, 3) metric 3D of ``joint_set``
    -> the blend, root-relative (pelvis at 0)."""
    det, _ = joints.convert(points, confidence, joint_set, "h36m17")
    ok = np.isfinite(det).all((-1, -2)) & np.isfinite(rel).all((-1, -2))
    out = np.array(rel, dtype=np.float32, copy=True)
    if weight <= 0 or not ok.any():
        return out
    aligned = procrustes_align(det[ok].astype(np.float64), rel[ok].astype(np.float64))
    mixed = (1.0 - weight) * rel[ok] + weight * aligned
    out[ok] = mixed - mixed[:, :1]
    return out
