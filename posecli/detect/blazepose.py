"""Multi-person BlazePose: the person detector + landmark model, without mediapipe's graph runtime.

Mediapipe's own pose solution follows one person.  Here every detection gets its own ROI and its
own landmark pass, so all detected people come out.  Tracking people over frames (when to re-run
the detector, who is who) is left to the caller: :meth:`BlazePoseMulti.track_step` runs the
landmark model on given ROIs, typically ``roi_from_landmarks(previous_result)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .detector import Detection, PersonDetector
from .landmarks import LandmarkModel, PersonLandmarks, roi_from_landmarks
from .models import DEFAULT_THREADS
from .roi import Roi, roi_from_points

# A landmark result whose keypoint box lies this much inside a larger one is the same person seen
# twice (see drop_duplicates).  Two real people rarely overlap this much in 2D; if they do, the
# smaller one is lost for that frame.
DUPLICATE_OVERLAP = 0.7


def roi_from_detection(detection: Detection) -> Roi:
    """Landmark ROI from a detection's hip centre (kp 0) and body-scale point (kp 1)."""
    return roi_from_points(detection.keypoints[0], detection.keypoints[1])


class BlazePoseMulti:
    """Detect -> ROI -> landmarks for every person in a frame."""

    def __init__(self, num_threads: int = DEFAULT_THREADS, min_detection_score: float = 0.5,
                 min_pose_score: float = 0.5, duplicate_overlap: float = DUPLICATE_OVERLAP, tiled_detection: bool = True):
        # Tiled detection by default: the single whole-image pass often misses the second person
        # (see PersonDetector.detect); mediapipe-identical results for the people it does find.
        self.tiled_detection = tiled_detection
        self.detector = PersonDetector(num_threads=num_threads, min_score=min_detection_score)
        self.landmarks = LandmarkModel(num_threads=num_threads, min_score=min_pose_score)
        self.duplicate_overlap = duplicate_overlap

    def process(self, image: np.ndarray, max_persons: int | None = None) -> list[PersonLandmarks]:
        """All people in one frame, in detection order (at most ``max_persons``).

        Detection order: whole-image detections by score, then those only the tiles found.
        """
        detections = self.detector.detect(image, tiled=self.tiled_detection)
        rois = [roi_from_detection(d) for d in detections]
        return [p for p in self.track_step(image, rois, max_persons=max_persons) if p is not None]

    def track_step(self, image: np.ndarray, rois: Sequence[Roi], dedupe: bool = True,
                   max_persons: int | None = None) -> list[PersonLandmarks | None]:
        """Landmarks on the given ROIs without the detector; result ``i`` belongs to ``rois[i]``.

        An entry is None when the pose flag there is below threshold, or (``dedupe``) when it
        duplicates another result (see :func:`drop_duplicates`), or when ``max_persons`` earlier
        entries are already filled.
        """
        results = [self.landmarks.run(image, roi) for roi in rois]
        if dedupe:
            results = drop_duplicates(results, self.duplicate_overlap)
        if max_persons is not None:
            filled = 0
            for i, person in enumerate(results):
                if person is not None:
                    filled += 1
                    if filled > max_persons:
                        results[i] = None
        return results


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two xyxy boxes over the smaller box's area (1.0 = one inside the other)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller) if smaller > 0 else 1.0


def drop_duplicates(people: list[PersonLandmarks | None], overlap: float = DUPLICATE_OVERLAP) -> list[PersonLandmarks | None]:
    """Replace by None every result whose keypoint box lies mostly (> ``overlap``) inside a larger kept one.

    Why "inside" and not IoU: besides firing twice on one person, the detector (in tiles that cut
    a body) can take a person's legs for a whole small person; that pose lies inside the real one
    with a small IoU.  Larger boxes are kept first, so the whole person wins over the part.
    """
    out = list(people)
    order = sorted((i for i, p in enumerate(out) if p is not None), key=lambda i: -_area(out[i].box))
    kept: list[np.ndarray] = []
    for i in order:
        box = out[i].box
        if any(overlap_of_smaller(box, k) > overlap for k in kept):
            out[i] = None
        else:
            kept.append(box)
    return out


def _area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


__all__ = ["BlazePoseMulti", "drop_duplicates", "roi_from_detection", "roi_from_landmarks"]
