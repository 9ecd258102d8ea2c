"""Multi-person BlazePose: the person detector + landmark model, without mediapipe's graph runtime.

Mediapipe's own pose solution follows one person.  Here every detection gets its own ROI and its
own landmark pass, so all detected people come out.  Tracking people over frames (when to re-run
the detector, who is who) is left to the caller: :meth:`BlazePoseMulti.track_step` runs the
landmark model on given ROIs, typically ``roi_from_landmarks(previous_result)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .detector import Detection, PersonDetector, box_iou
from .landmarks import LandmarkModel, PersonLandmarks, roi_from_landmarks
from .models import DEFAULT_THREADS
from .roi import Roi, roi_from_points

# Two landmark results whose keypoint boxes overlap this much are one person seen twice (the
# detector can fire on one person twice, e.g. a full-body box and a shifted one that NMS kept).
DUPLICATE_IOU = 0.5


def roi_from_detection(detection: Detection) -> Roi:
    """Landmark ROI from a detection's hip centre (kp 0) and body-scale point (kp 1)."""
    return roi_from_points(detection.keypoints[0], detection.keypoints[1])


class BlazePoseMulti:
    """Detect -> ROI -> landmarks for every person in a frame."""

    def __init__(self, num_threads: int = DEFAULT_THREADS, min_detection_score: float = 0.5,
                 min_pose_score: float = 0.5, duplicate_iou: float = DUPLICATE_IOU, tiled_detection: bool = True):
        # Tiled detection by default: the single whole-image pass often misses the second person
        # (see PersonDetector.detect); mediapipe-identical results for the people it does find.
        self.tiled_detection = tiled_detection
        self.detector = PersonDetector(num_threads=num_threads, min_score=min_detection_score)
        self.landmarks = LandmarkModel(num_threads=num_threads, min_score=min_pose_score)
        self.duplicate_iou = duplicate_iou

    def process(self, image: np.ndarray, max_persons: int | None = None) -> list[PersonLandmarks]:
        """All people in one frame, most confident detection first (at most ``max_persons``)."""
        detections = self.detector.detect(image, tiled=self.tiled_detection)
        rois = [roi_from_detection(d) for d in detections]
        people = [p for p in self.track_step(image, rois, max_persons=max_persons) if p is not None]
        return people

    def track_step(self, image: np.ndarray, rois: Sequence[Roi], dedupe: bool = True,
                   max_persons: int | None = None) -> list[PersonLandmarks | None]:
        """Landmarks on the given ROIs without the detector; result ``i`` belongs to ``rois[i]``.

        An entry is None when the pose flag there is below threshold, when (``dedupe``) its
        keypoint box overlaps an earlier ROI's kept result by more than ``duplicate_iou`` (so earlier
        ROIs win: pass the most trusted first), or once ``max_persons`` results have been kept (the
        remaining ROIs are then not run at all).
        """
        results: list[PersonLandmarks | None] = []
        kept: list[PersonLandmarks] = []
        for roi in rois:
            if max_persons is not None and len(kept) >= max_persons:
                results.append(None)
                continue
            person = self.landmarks.run(image, roi)
            if person is not None and dedupe and kept:
                if box_iou(person.box, np.array([p.box for p in kept])).max() > self.duplicate_iou:
                    person = None
            if person is not None:
                kept.append(person)
            results.append(person)
        return results


__all__ = ["BlazePoseMulti", "roi_from_detection", "roi_from_landmarks"]
