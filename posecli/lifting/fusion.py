"""Blend the lifter's 3D with the detector's own 3D (BlazePose's world landmarks) for the same frames.

The SPS lifter sees only 2D keypoints; BlazePose's world landmarks come from the image (the paper's SPS-Net
uses image features for the same reason: depth of a raised leg is ambiguous in 2D). The two err differently,
so their average is better than either: on the Pose2Sim trial the lifter alone scores 98.3 mm PA-MPJPE,
BlazePose 98.7, the blend 90.3 (88.0 without the temporal smoothing below; docs/benchmarks.md). How:
- BlazePose-33 -> H36M-17 with the registry's map; per frame, the landmarks are moved onto the lifter's
  root-relative joints by the best similarity transform (rotation, scale, translation; so the lifter keeps
  the camera-frame orientation, the size and the root trajectory), then joint positions are averaged with
  weight ``BLEND`` on BlazePose's and re-centred on the pelvis.
- ``BLEND`` = 0.5 was chosen on renders of the *training* subjects (``posecli synth`` of CMU 001-131 without
  006, BlazePose run on them: PA-MPJPE 105.6 / 95.9 / 95.3 / 95.6 / 104.2 mm at 0 / 0.4 / 0.5 / 0.6 / 1),
  never on the held-out subject or the Pose2Sim trial.
- BlazePose's landmarks are per frame and jitter (blending raised the acceleration error on held-out renders
  from 24.9 to 37.1 mm), so the aligned landmarks are smoothed over time first: Gaussian, sigma ``SMOOTH_S``
  = 0.05 s, within runs of consecutive frames. Chosen on the training-subject renders (96 views; PA-MPJPE /
  acceleration error 90.9 / 38.1 mm unsmoothed, 90.5 / 17.3 at 0.033 s, 90.5 / 14.7 at 0.05, 91.5 / 13.5 at
  0.1, 95.5 / 13.4 at 0.2). Measured afterwards on the Pose2Sim trial: 88.0 mm unsmoothed, 90.3 at 0.05 s -
  its cam02 video, where the detector swaps left and right for 30 frames, loses 11 mm, the others gain.
- Frames where the detector gave no finite landmarks keep the lifter's joints. Tracks from other sources
  (imported 2D, other backends) have no such layer and are not blended.
"""
from __future__ import annotations

import numpy as np

from .. import joints
from ..metrics import procrustes_align

BLEND = 0.5
SMOOTH_S = 0.05  # seconds; see the module docstring


def blend_detector_3d(rel: np.ndarray, points: np.ndarray, confidence: np.ndarray, joint_set: str,
                      weight: float = BLEND, times: np.ndarray | None = None,
                      smooth_s: float = SMOOTH_S) -> np.ndarray:
    """(T, 17, 3) root-relative H36M-17 from the lifter + the detector's (T, J, 3) metric 3D of ``joint_set``
    -> the blend, root-relative (pelvis at 0). With ``times`` (T,) seconds, the aligned detector joints are
    first smoothed over time (Gaussian, sigma ``smooth_s``) within runs of consecutive frames."""
    det, _ = joints.convert(points, confidence, joint_set, "h36m17")
    ok = np.isfinite(det).all((-1, -2)) & np.isfinite(rel).all((-1, -2))
    out = np.array(rel, dtype=np.float32, copy=True)
    if weight <= 0 or not ok.any():
        return out
    aligned = procrustes_align(det[ok].astype(np.float64), rel[ok].astype(np.float64))
    if times is not None and smooth_s > 0:
        aligned = smooth_runs(aligned, np.asarray(times, np.float64)[ok], smooth_s)
    mixed = (1.0 - weight) * rel[ok] + weight * aligned
    out[ok] = mixed - mixed[:, :1]
    return out


def smooth_runs(values: np.ndarray, times: np.ndarray, sigma_s: float, linear_edges: bool = False) -> np.ndarray:
    """Gaussian smoothing over the first axis within runs of frames no more than 1.5 frame periods apart
    (a gap in the track starts a new run), sigma in seconds at the track's own frame rate. ``linear_edges``:
    remove each run's straight-line trend, smooth what is left (mirrored at the ends) and add the trend back,
    so a steady motion (a walk) is not pulled back at the ends as repeating the end frame would."""
    from scipy.ndimage import gaussian_filter1d

    if len(times) < 3:
        return values
    dt = float(np.median(np.diff(times)))
    if not dt > 0:
        return values
    cuts = np.flatnonzero(np.diff(times) > 1.5 * dt) + 1
    out = values.copy()
    for run in np.split(np.arange(len(times)), cuts):
        if len(run) > 2 and linear_edges:
            v = values[run].reshape(len(run), -1).astype(np.float64)
            k = np.arange(len(run), dtype=np.float64)
            coef = np.polyfit(k, v, 1)
            trend = np.outer(k, coef[0]) + coef[1]
            smooth = gaussian_filter1d(v - trend, sigma_s / dt, axis=0, mode="reflect") + trend
            out[run] = smooth.reshape(values[run].shape)
        elif len(run) > 2:
            out[run] = gaussian_filter1d(values[run], sigma_s / dt, axis=0, mode="nearest")
    return out
