"""Shot cuts (a broadcast or an edited clip switching camera), found frame by frame as a video is read.

PySceneDetect's ``ContentDetector`` does the work: the mean change of hue, saturation and brightness between two
frames against its threshold. Its defaults are kept (threshold 27, and no second cut within
``MIN_SHOT_SECONDS``, its 15 frames at 30 fps), on frames shrunk the way its own ``SceneManager`` shrinks them
(the long side to 256-384 pixels, bilinear). It runs in SUPPRESS mode: a cut is reported on the frame it happens,
not some frames later, so that ``track`` can let go of everyone before it follows a stale position into the new
shot. Not found: gradual transitions (dissolves, fades) and a jump cut within one camera's view, where the picture
as a whole hardly changes.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_SHOT_SECONDS = 0.5


class CutDetector:
    """``cut(image)`` for each frame in order (RGB): True where a new shot starts at this frame."""

    def __init__(self, fps: float):
        from scenedetect.detectors import ContentDetector
        from scenedetect.scene_detector import FlashFilter

        self._detector = ContentDetector(min_scene_len=max(1, round(MIN_SHOT_SECONDS * fps)),
                                         filter_mode=FlashFilter.Mode.SUPPRESS)
        self._scale: float | None = None
        self._index = 0

    def cut(self, image: np.ndarray) -> bool:
        if self._scale is None:
            from scenedetect.scene_manager import compute_downscale_factor
            self._scale = 1.0 / compute_downscale_factor(max(image.shape[:2]))
        small = cv2.resize(image, (0, 0), fx=self._scale, fy=self._scale, interpolation=cv2.INTER_LINEAR)
        found = self._detector.process_frame(self._index, cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        self._index += 1
        return bool(found) and found[-1] == self._index - 1
