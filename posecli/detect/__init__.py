"""2D keypoint models: multi-person BlazePose (mediapipe's models run directly with LiteRT)."""
from .blazepose import BlazePoseMulti, roi_from_detection
from .detector import Detection, PersonDetector
from .landmarks import LandmarkModel, PersonLandmarks, roi_from_landmarks
from .roi import Roi, roi_from_points

__all__ = [
    "BlazePoseMulti",
    "Detection",
    "LandmarkModel",
    "PersonDetector",
    "PersonLandmarks",
    "Roi",
    "roi_from_detection",
    "roi_from_landmarks",
    "roi_from_points",
]
