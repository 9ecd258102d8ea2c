"""3D pose metrics as pure numpy functions (VideoPose3D's ``loss.py`` conventions), inputs in metres.

MPJPE after root alignment; PA-MPJPE after a per-frame similarity (Procrustes: rotation, uniform scale,
translation; reflections excluded); acceleration error = mean norm of the difference of second finite
differences (per frame^2, reported in mm as Temporal HMR's code does, not mm/s^2 despite the papers' label).
"""
from __future__ import annotations

import numpy as np


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: int | None = 0) -> float:
    """Mean per-joint position error of (..., J, 3) arrays, after aligning ``root`` (None: no alignment)."""
    if root is not None:
        pred = pred - pred[..., root:root + 1, :]
        gt = gt - gt[..., root:root + 1, :]
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, root: int | None = 0) -> float:
    """MPJPE after scaling each root-aligned prediction to best fit the truth (least squares; Rhodin et al.
    2018's N-MPJPE, the metric of MCSS's tables)."""
    if root is not None:
        pred = pred - pred[..., root:root + 1, :]
        gt = gt - gt[..., root:root + 1, :]
    scale = (pred * gt).sum((-1, -2), keepdims=True) / np.maximum((pred ** 2).sum((-1, -2), keepdims=True), 1e-12)
    return mpjpe(scale * pred, gt, None)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (N, J, 3) moved onto ``gt`` by the best similarity transform per frame."""
    mu_p, mu_g = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.einsum("nji,njk->nik", p, g)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))  # no reflections
    s[:, -1] *= d
    u[:, :, -1] *= d[:, None]
    rot = np.einsum("nij,njk->nik", u, vt)
    scale = s.sum(1) / np.maximum((p ** 2).sum((1, 2)), 1e-12)
    return scale[:, None, None] * np.einsum("nji,nik->njk", p, rot) + mu_g


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean())


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Root-aligned (N, J, 3) sequences; mean || second difference of pred - that of gt ||."""
    pred = pred - pred[:, :1]
    gt = gt - gt[:, :1]
    if len(pred) < 3:
        return float("nan")
    acc = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]
    return float(np.linalg.norm(acc(pred) - acc(gt), axis=-1).mean())
