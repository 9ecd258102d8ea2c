"""Multi-person BlazePose: the person detector + landmark model, without mediapipe's graph runtime.

Mediapipe's own pose solution follows one person.  Here every detection gets its own ROI and its
own landmark pass, so all detected people come out.  Tracking people over frames (when to re-run
the detector, who is who) is left to the caller: :meth:`BlazePoseMulti.track_step` runs the
landmark model on given ROIs, typically ``roi_from_landmarks(previous_result)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import joints
from ..boxes import box_size, overlap_of_smaller
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
                 min_pose_score: float = 0.5, duplicate_overlap: float = DUPLICATE_OVERLAP, tiled_detection: bool = True,
                 runtime: str = "litert", device: str = "cpu", detector_weights=None):
        # Tiled detection by default: the single whole-image pass often misses the second person
        # (see PersonDetector.detect); mediapipe-identical results for the people it does find.
        self.tiled_detection = tiled_detection
        # ``runtime``: "litert" (mediapipe's own runtime, CPU) or "torch" (the port in tflite_torch, on ``device``)
        # ``detector_weights``: the detector fine-tuned by ``posecli train detector`` (None: mediapipe's own)
        self.detector = PersonDetector(num_threads, min_detection_score, runtime=runtime, device=device,
                                       weights=detector_weights)
        self.landmarks = LandmarkModel(num_threads, min_pose_score, runtime=runtime, device=device)
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
        results = self.landmarks.run_many(image, list(rois))
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


def drop_duplicates(people: list[PersonLandmarks | None], overlap: float = DUPLICATE_OVERLAP) -> list[PersonLandmarks | None]:
    """Replace by None every result that is a larger kept one seen again, or a part of it.

    Larger results are kept first. A smaller one is dropped when (a) its keypoints lie on the larger one's
    (median distance of corresponding joints, or of mirrored ones, under ``SAME_JOINTS`` of the larger's
    size: the detector fired twice on one person), or (b) it is a *part*: its box lies mostly (> ``overlap``)
    inside the larger one, it is less than ``PART_SIZE`` of its size and sits in its lower half (the
    detector, in tiles that cut a body, takes a person's legs for a whole small person). Box containment
    alone is not a duplicate: a person standing behind another often lies inside their box.
    """
    out = list(people)
    order = sorted((i for i, p in enumerate(out) if p is not None), key=lambda i: -_area(out[i].box))
    kept: list[PersonLandmarks] = []
    for i in order:
        if any(same_person(out[i], k) or is_part(out[i], k, overlap) for k in kept):
            out[i] = None
        else:
            kept.append(out[i])
    return out


SAME_JOINTS = 0.1
PART_SIZE = 0.6
_FLIP = joints.get("blazepose33").flip_permutation  # left <-> right landmark indices


def same_person(small: PersonLandmarks, big: PersonLandmarks) -> bool:
    d = np.linalg.norm(small.keypoints - big.keypoints, axis=1)
    mirrored = np.linalg.norm(small.keypoints[_FLIP] - big.keypoints, axis=1)
    return min(float(np.median(d)), float(np.median(mirrored))) < SAME_JOINTS * box_size(big.box)


def is_part(small: PersonLandmarks, big: PersonLandmarks, overlap: float = DUPLICATE_OVERLAP) -> bool:
    a, b = small.box, big.box
    smaller = box_size(a) < PART_SIZE * box_size(b)
    lower = (a[1] + a[3]) / 2 > (b[1] + b[3]) / 2
    return bool(smaller and lower and overlap_of_smaller(a, b) > overlap)


def _area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


__all__ = ["BlazePoseMulti", "drop_duplicates", "roi_from_detection", "roi_from_landmarks"]
