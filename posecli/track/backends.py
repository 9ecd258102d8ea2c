"""2D pose backends behind one interface: a frame in, the people in it out (as tracker observations).

``blazepose``: multi-person, BlazePose's detector and landmark models run directly (posecli.detect), following
each person with a landmark-derived ROI between detector runs, as MediaPipe does for one person.
``mediapipe-single``: MediaPipe's legacy Pose solution (one person, its own smoothing), kept as a reference.
A user-supplied model (e.g. an RTMPose ONNX file) plugs in by subclassing ``PoseBackend``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import PoseCliError
from ..boxes import box_iou
from .association import Observation


@dataclass
class Person:
    """What a backend knows about one person in one frame (the ``payload`` of an Observation)."""

    keypoints: np.ndarray  # (J, 2) pixels
    confidence: np.ndarray  # (J,)
    presence: np.ndarray | None = None  # (J,) probability the joint is inside the frame
    world: np.ndarray | None = None  # (J, 3) metres, hip-centred (BlazePose world landmarks)
    score: float = 1.0

    @property
    def box(self) -> np.ndarray:
        return np.concatenate([self.keypoints.min(0), self.keypoints.max(0)])

    def observation(self) -> Observation:
        return Observation(self.box, self.keypoints, self.confidence, self)


class PoseBackend(ABC):
    name: str = ""
    joint_set: str = "blazepose33"

    @abstractmethod
    def persons(self, image: np.ndarray) -> list[Person]:
        """Everyone in this frame. Frames arrive in order; backends may keep state between them."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        pass


class BlazePoseBackend(PoseBackend):
    """Multi-person BlazePose. The detector runs every ``detect_every`` frames and whenever a followed person
    is lost; in between, each person's ROI comes from their landmarks in the previous frame."""

    name = "blazepose"

    def __init__(self, detect_every: int = 10, max_persons: int | None = None, min_pose_score: float = 0.5):
        from ..detect import BlazePoseMulti

        self.model = BlazePoseMulti(min_pose_score=min_pose_score)
        self.detect_every = max(1, detect_every)
        self.max_persons = max_persons
        self._rois: list = []
        self._since_detection = 0

    def persons(self, image: np.ndarray) -> list[Person]:
        from ..detect import roi_from_detection, roi_from_landmarks
        from ..detect.blazepose import drop_duplicates

        followed = [p for p in self.model.track_step(image, self._rois, max_persons=self.max_persons) if p]
        lost = len(followed) < len(self._rois)
        self._since_detection += 1
        full = self.max_persons is not None and len(followed) >= self.max_persons
        if not full and (lost or not followed or self._since_detection >= self.detect_every):
            self._since_detection = 0
            detections = self.model.detector.detect(image, tiled=self.model.tiled_detection)
            known = np.array([p.box for p in followed]).reshape(-1, 4)
            # Skip detections of people already followed: their landmarks would only be deduplicated.
            fresh = [roi_from_detection(d) for d in detections
                     if not len(known) or box_iou(d.body_box[None], known).max() < 0.3]
            new = [p for p in self.model.track_step(image, fresh) if p]
            if new:
                # A fresh ROI can still land on someone already followed: keep one pose per person.
                followed = [p for p in drop_duplicates(followed + new, self.model.duplicate_overlap) if p]
                followed = followed[: self.max_persons]
        self._rois = [roi_from_landmarks(p) for p in followed]
        return [Person(p.keypoints, p.visibility, p.presence, p.world, p.score) for p in followed]


class MediapipeSingleBackend(PoseBackend):
    """MediaPipe's legacy one-person Pose solution in video mode (model_complexity=1, the bundled model)."""

    name = "mediapipe-single"

    def __init__(self, smooth: bool = True):
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise PoseCliError(f"mediapipe cannot be imported ({exc})", "pip install mediapipe==0.10.14") from exc
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=smooth)

    def persons(self, image: np.ndarray) -> list[Person]:
        res = self._pose.process(np.ascontiguousarray(image))
        if res.pose_landmarks is None:
            return []
        h, w = image.shape[:2]
        lm = np.array([(p.x * w, p.y * h, p.visibility, p.presence) for p in res.pose_landmarks.landmark])
        world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark])
        return [Person(lm[:, :2], lm[:, 2].astype(np.float32), lm[:, 3].astype(np.float32), world)]

    def close(self) -> None:
        self._pose.close()


BACKENDS = {"blazepose": BlazePoseBackend, "mediapipe-single": MediapipeSingleBackend}
