"""What a person looks like, for telling people apart: colour histograms of the torso and of the legs.

Used by the tracker (``association``) to break ties when boxes overlap (two people crossing), to refuse a
pose that has slid onto someone else, and offline to re-identify a person who comes back after an occlusion
or from outside the frame. Why colour histograms and not a learned re-identification embedding: no offline
re-ID weights ship with any package we may use, clothing colour is what separates people in the footage our
users film (sports, dance, lab trials), and a histogram of a keypoint-shaped region costs ~0.2 ms.

Regions come from the keypoints: the torso quadrilateral (shoulders, hips) shrunk by 25 % towards its
centre, and the legs as strips along hip-knee-ankle, a tenth of the leg's length wide (the hull of the legs
would be mostly the background between them), so that background stays out. Pixels are binned in HSV: 12 hue bins x 2 saturation bins for coloured pixels
and 4 brightness bins for grey ones (black, grey and white shirts differ only there); each region's
histogram sums to 1. Similarity is the Bhattacharyya coefficient (1 = same distribution), averaged over the
regions both descriptions have.
"""
from __future__ import annotations

import cv2
import numpy as np

from .. import joints

HUE_BINS, SAT_BINS, GREY_BINS = 12, 2, 4
REGION_BINS = HUE_BINS * SAT_BINS + GREY_BINS
MIN_PIXELS = 40  # fewer pixels in a region: no histogram (a person far away or seen edge-on)
# A region's pixels are sampled on a grid fine enough to leave about this many in its box: a torso filling a
# 1080p frame has ~50,000, and its histogram from every pixel cost ~1 ms a person a frame (15 % of `track`'s time
# on pose2sim_multi/cam01) for the same 28 bins (docs/benchmarks.md, session 27).
SAMPLED_PIXELS = 4000
SHRINK = 0.25
MIN_VISIBILITY = 0.5
GREY_SATURATION = 60  # OpenCV's S in 0..255: below it hue is noise
DARK_VALUE = 40

REGIONS = {
    "torso": ("left_shoulder", "right_shoulder", "right_hip", "left_hip"),
    "legs": ("left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle"),
}
LEG_WIDTH = 0.1  # of the leg's length


def region_indices(joint_set: str) -> list[np.ndarray]:
    js = joints.get(joint_set)
    return [np.array([js.index(n) for n in names]) for names in REGIONS.values()]


def describe(image: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, joint_set: str) -> np.ndarray:
    """(regions, REGION_BINS) histograms of an RGB uint8 image; a region's row is NaN where it is not seen."""
    h, w = image.shape[:2]
    out = np.full((len(REGIONS), REGION_BINS), np.nan, np.float32)
    for r, idx in enumerate(region_indices(joint_set)):
        pts, conf = keypoints[idx], confidence[idx]
        if not np.isfinite(pts).all() or (conf < MIN_VISIBILITY).sum() > len(idx) // 2:
            continue
        legs = r == 1
        if not legs:
            centre = pts.mean(0)
            pts = centre + (pts - centre) * (1 - SHRINK)
        x0, y0 = np.floor(np.clip(pts.min(0), 0, [w - 1, h - 1])).astype(int)
        x1, y1 = np.ceil(np.clip(pts.max(0), 0, [w - 1, h - 1])).astype(int) + 1
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.round(pts - [x0, y0]).astype(np.int32)
        if legs:
            length = np.linalg.norm(np.diff(pts.reshape(2, 3, 2), axis=1), axis=-1).sum(1).mean()
            cv2.polylines(mask, [local[:3], local[3:]], False, 1, thickness=max(2, int(LEG_WIDTH * length)))
        else:
            cv2.fillConvexPoly(mask, cv2.convexHull(local), 1)
        if mask.sum() < MIN_PIXELS:
            continue
        step = max(1, int(np.sqrt(mask.size / SAMPLED_PIXELS)))
        patch = np.ascontiguousarray(image[y0:y1:step, x0:x1:step])
        hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)[mask[::step, ::step] > 0]
        out[r] = _histogram(hsv)
    return out


def _histogram(hsv: np.ndarray) -> np.ndarray:
    """(N, 3) OpenCV HSV pixels (H 0..179) -> REGION_BINS normalised counts."""
    hue, sat, val = hsv[:, 0].astype(int), hsv[:, 1].astype(int), hsv[:, 2].astype(int)
    grey = (sat < GREY_SATURATION) | (val < DARK_VALUE)
    coloured = np.bincount(((hue[~grey] * HUE_BINS) // 180) * SAT_BINS + (sat[~grey] * SAT_BINS) // 256,
                           minlength=HUE_BINS * SAT_BINS)
    greys = np.bincount((val[grey] * GREY_BINS) // 256, minlength=GREY_BINS)
    hist = np.concatenate([coloured, greys]).astype(np.float32)
    return hist / max(hist.sum(), 1.0)


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Mean Bhattacharyya coefficient over the regions both have; None when they share none."""
    if a is None or b is None:
        return None
    both = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if not both.any():
        return None
    return float(np.sqrt(a[both] * b[both]).sum(1).mean())


def blend(model: np.ndarray | None, new: np.ndarray, rate: float) -> np.ndarray:
    """Running appearance model: ``rate`` of the new description per region seen (regions not seen keep theirs)."""
    if model is None:
        return new.copy()
    out = model.copy()
    seen = np.isfinite(new).all(1)
    fresh = seen & ~np.isfinite(model).all(1)
    out[fresh] = new[fresh]
    both = seen & ~fresh
    out[both] = (1 - rate) * model[both] + rate * new[both]
    return out
