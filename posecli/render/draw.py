"""2D skeletons drawn onto RGB frames with OpenCV: bones of the joint set's edges, left side blue, right side
orange, the middle in the track's colour, so left/right swaps are visible at a glance."""
from __future__ import annotations

import cv2
import numpy as np

from .. import joints

LEFT, RIGHT = (66, 135, 245), (245, 130, 48)  # RGB
# Distinct, colour-blind-friendly track colours (Okabe-Ito), cycled by track id.
TRACK_COLOURS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
                 (204, 121, 167))


def track_colour(track_id: int) -> tuple[int, int, int]:
    return TRACK_COLOURS[track_id % len(TRACK_COLOURS)]


def draw_skeleton(image: np.ndarray, points: np.ndarray, confidence: np.ndarray, joint_set: str,
                  colour: tuple[int, int, int] = (255, 255, 255), min_confidence: float = 0.0,
                  thickness: int | None = None, label: str | None = None) -> np.ndarray:
    """Draw one pose (J, 2) in pixels onto ``image`` (H, W, 3) RGB uint8, in place; returns the image."""
    js = joints.get(joint_set)
    h, w = image.shape[:2]
    t = thickness or max(1, round(min(h, w) / 240))
    seen = np.isfinite(points).all(-1) & (confidence > min_confidence)
    p = np.round(np.nan_to_num(points) * 16).astype(np.int32)  # 4 fractional bits: sub-pixel lines
    for a, b in js.edges:
        if seen[a] and seen[b]:
            names = js.joints[a] + js.joints[b]
            c = LEFT if "left" in names else RIGHT if "right" in names else colour
            cv2.line(image, tuple(p[a]), tuple(p[b]), c, t, cv2.LINE_AA, shift=4)
    for j in np.flatnonzero(seen):
        cv2.circle(image, tuple(p[j]), 16 * (t + 1), colour, -1, cv2.LINE_AA, shift=4)
    if label and seen.any():
        # above the topmost joint (the head when upright): a bounding-box corner can sit over another person
        x, y = points[seen][np.argmin(points[seen, 1])]
        size = 0.4 * t + 0.2
        (tw, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, size, t)
        cv2.putText(image, label, (int(x) - tw // 2, max(12, int(y) - 4 * t - 4)), cv2.FONT_HERSHEY_SIMPLEX, size,
                    colour, t, cv2.LINE_AA)
    return image
