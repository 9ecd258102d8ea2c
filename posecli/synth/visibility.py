"""Per-joint visibility from the depth buffer: inside the image and not hidden by anything in front.

A joint (the centre of an elbow, a hip) lies *inside* its own body part, so comparing its depth with the
depth buffer would call every joint hidden. Instead each keypoint has an "own" surface: the vertices of the
body parts it sits in (an elbow: upper arm and forearm) that cross the camera ray through it (within
``RAY_RADIUS``) in front of it and no farther than ``reach`` from it. The nearest of those is where the ray
leaves the keypoint's own part; if the depth buffer at the keypoint's pixel is nearer than that (by more than
``EPS``), something else (another person, an occluder, another limb) is in front: hidden. Keypoints on the
skin (nose, eyes, ears, the crown) use a short reach, so the far ear is hidden by the head itself.

States follow COCO's ``v``: 0 = outside the image or behind the camera, 1 = inside but hidden, 2 = visible.
"""
from __future__ import annotations

import numpy as np

RAY_RADIUS = 0.02  # metres around the ray
EPS = 0.03  # metres: tessellation and pixel-centre slack between vertex depths and the rasterised surface
REACH = 0.3  # metres: how far an interior joint's own surface may be
SURFACE_REACH = 0.05


def own_front(points: np.ndarray, vertices: np.ndarray, own: list[np.ndarray], reach: np.ndarray) -> np.ndarray:
    """(J,) camera-frame depth where each keypoint's ray leaves its own part (its own depth if nothing of
    the part is in front). ``points`` (J, 3) and ``vertices`` (V, 3) camera frame; ``own[j]`` vertex indices."""
    front = points[:, 2].astype(np.float64).copy()
    for j, idx in enumerate(own):
        p = points[j]
        norm = np.linalg.norm(p)
        if not np.isfinite(p).all() or norm < 1e-9 or not len(idx):
            continue
        v = vertices[idx]
        d = p / norm
        along = v @ d
        off = np.linalg.norm(v - along[:, None] * d, axis=1)
        near = (off < RAY_RADIUS) & (along < norm) & (np.linalg.norm(v - p, axis=1) < reach[j])
        if near.any():
            front[j] = min(front[j], float(v[near, 2].min()))
    return front


def visibility(uv: np.ndarray, depth_of_point: np.ndarray, front: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(J,) uint8 states (0 outside, 1 hidden, 2 visible) from pixel positions ``uv`` (J, 2), the points' own
    depths (J,), their own-surface depths ``front`` (J,) and the rendered depth buffer (H, W) (0 = empty)."""
    h, w = depth.shape
    ok = np.isfinite(uv).all(-1) & (depth_of_point > 0)
    u = np.where(ok, uv[:, 0], -1)
    v = np.where(ok, uv[:, 1], -1)
    inside = ok & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    state = np.zeros(len(uv), np.uint8)
    if inside.any():
        iu, iv = u[inside].astype(int), v[inside].astype(int)
        z = depth[iv, iu]
        seen = (z <= 0) | (z >= front[inside] - EPS)
        state[inside] = np.where(seen, 2, 1)
    return state
