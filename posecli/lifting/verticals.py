"""The world's up direction from the scene's vertical lines (their vanishing point), where the scene has them.

Why: the body-based up (the gravity model's head, refined by the floor under the feet, ``world``) reads gravity
off the lifted pose, so a person who leans, reaches or balances, or whom the lifter sees pitched, tilts the whole
world frame (the Pose2Sim trial: 7-17 degrees on three of four cameras, docs/benchmarks.md). Rooms, streets and
sports halls are full of lines that are vertical in the world: door frames, walls' edges, poles, window bars.
In the image they meet at one vanishing point v, and the world's up direction in camera axes is K^-1 v: a cue
that does not come from the person at all.

How (classic single-view geometry; hand-written because no maintained package finds one vanishing point from a
prior direction in a few dozen lines, and OpenCV's line segment detector does the image work):
- line segments (``cv2.createLineSegmentDetector``) in a few frames, longer than ``MIN_LENGTH`` of the image
  diagonal, within ``MAX_IMAGE_ANGLE`` of the image's vertical, off the tracked people's boxes (limbs are lines);
- RANSAC over pairs of segments: the candidate vanishing point whose direction lies within ``GATE`` degrees of
  the body's up (other families of lines, such as the floor's edges, meet elsewhere) and whose inlier segments
  (pointing at it within ``INLIER`` degrees) are longest in total; refined by least squares over the inliers;
- accepted only when at least ``MIN_LINES`` segments support it and their length adds up to ``MIN_SUPPORT``
  image diagonals per frame: a clear set of verticals, not a stray pair.
Otherwise the body's up stands. The focal length is the one the rest of ``estimate`` assumes (``--focal``, or a
phone's 26 mm-equivalent); a wrong focal moves a pitched camera's up by a few degrees (the point's distance
from the image centre is read in focal lengths). Every setting was fixed by these reasons before any
measurement: there is no training data of real scenes with known gravity, and renders have flat backgrounds.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_LENGTH = 0.03  # segments shorter than this fraction of the image diagonal are texture, not structure
MAX_IMAGE_ANGLE = 45.0  # degrees from the image's vertical: a camera rolled further is not a filming position
GATE = 20.0  # degrees between the vanishing direction and the body's up (whose errors stay well within this)
INLIER = 1.5  # degrees between a segment and the direction from its middle to the vanishing point
MIN_LINES = 8
MIN_SUPPORT = 0.5  # inlier length per frame, in image diagonals
ITERATIONS = 1000


def line_segments(gray: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 of the long, roughly vertical segments of a grey image, none inside ``boxes``
    (M, 4) xyxy (the people, slightly enlarged by the caller)."""
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    if found is None:
        return np.zeros((0, 4))
    s = found.reshape(-1, 4).astype(float)
    d = s[:, 2:] - s[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    angle = np.degrees(np.arctan2(np.abs(d[:, 0]), np.abs(d[:, 1])))
    keep = (length > MIN_LENGTH * np.hypot(*gray.shape[:2])) & (angle < MAX_IMAGE_ANGLE)
    if boxes is not None and len(boxes):
        mid = (s[:, :2] + s[:, 2:]) / 2
        inside = ((mid[:, None, 0] >= boxes[None, :, 0]) & (mid[:, None, 0] <= boxes[None, :, 2])
                  & (mid[:, None, 1] >= boxes[None, :, 1]) & (mid[:, None, 1] <= boxes[None, :, 3])).any(1)
        keep &= ~inside
    return s[keep]


def _directions(points: np.ndarray, k_inv: np.ndarray) -> np.ndarray:
    """Unit 3D directions K^-1 v of homogeneous image points (N, 3), signed to point up (image -y)."""
    d = points @ k_inv.T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return np.where(d[:, 1:2] > 0, -d, d)


def vertical_up(segments: np.ndarray, k: np.ndarray, prior_up: np.ndarray, frames: int, diagonal: float,
                seed: int = 0) -> tuple[np.ndarray | None, dict]:
    """The up direction (3,) in camera axes from the segments' vanishing point, or None; and what was found."""
    info = {"segments": int(len(segments)), "inliers": 0, "support": 0.0}
    if len(segments) < max(MIN_LINES, 2):
        return None, info
    p1 = np.c_[segments[:, :2], np.ones(len(segments))]
    p2 = np.c_[segments[:, 2:], np.ones(len(segments))]
    lines = np.cross(p1, p2)
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    mid = (segments[:, :2] + segments[:, 2:]) / 2
    length = np.hypot(*(segments[:, 2:] - segments[:, :2]).T)
    along = (segments[:, 2:] - segments[:, :2]) / length[:, None]
    k_inv = np.linalg.inv(k)
    prior = np.asarray(prior_up, float) / np.linalg.norm(prior_up)
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(segments), size=(ITERATIONS, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    cands = np.cross(lines[pairs[:, 0]], lines[pairs[:, 1]])
    ok = np.abs(cands).max(1) > 0
    cands = cands[ok]
    gate = np.degrees(np.arccos(np.clip(_directions(cands, k_inv) @ prior, -1, 1))) < GATE
    best, best_inliers = 0.0, None
    for v in cands[gate]:
        inliers = _inliers(v, mid, along)
        score = length[inliers].sum()
        if score > best:
            best, best_inliers = score, inliers
    if best_inliers is None:
        return None, info
    # least squares: the point closest to every inlier line (length-weighted)
    v = np.linalg.svd(lines[best_inliers] * length[best_inliers, None])[2][-1]
    inliers = _inliers(v, mid, along)
    up = _directions(v[None], k_inv)[0]
    info.update(inliers=int(inliers.sum()), support=round(float(length[inliers].sum() / (frames * diagonal)), 3))
    if (inliers.sum() < MIN_LINES or info["support"] < MIN_SUPPORT
            or np.degrees(np.arccos(np.clip(up @ prior, -1, 1))) >= GATE):
        return None, info
    return up, info


def _inliers(v: np.ndarray, mid: np.ndarray, along: np.ndarray) -> np.ndarray:
    if abs(v[2]) > 1e-9 * np.abs(v[:2]).max():
        to = v[:2] / v[2] - mid
    else:  # a point at infinity: every segment should run along its direction
        to = np.broadcast_to(v[:2], mid.shape)
    to = to / (np.linalg.norm(to, axis=1, keepdims=True) + 1e-12)
    return np.degrees(np.arccos(np.clip(np.abs((to * along).sum(1)), 0, 1))) < INLIER
