"""Shot cuts (a broadcast or an edited clip switching camera), found frame by frame as a video is read.

PySceneDetect does the work, with its defaults, on frames shrunk the way its own ``SceneManager`` shrinks them
(the long side to 256-384 pixels, bilinear). A cut needs two detectors to agree on the same frame:
- ``ContentDetector``: the mean change of hue, saturation and brightness between two frames against its
  threshold (27), at most one cut per ``MIN_SHOT_SECONDS`` (its 15 frames at 30 fps). It runs in SUPPRESS mode,
  so a cut is reported on the frame it happens, not some frames later, and ``track`` can let go of everyone
  before it follows a stale position into the new shot.
- ``HashDetector``: the frame's perceptual hash (the signs of its grey image's low DCT frequencies) differs from
  the previous frame's in at least 39.5 % of its bits, so the picture's structure changed. Without it, stage light
  changing colour and a very fast pan were taken for cuts (docs/benchmarks.md, session 28).
Where the colours change but the structure does not, the light changed (``LIGHT``): the same camera, the same
people, who all look different from that frame on. A light that fades over a second or two changes little from
one frame to the next, so each frame is also compared, by the same two detectors, with the frame
``MIN_SHOT_SECONDS`` back.

Not found as cuts: gradual transitions between shots (dissolves, fades through black) and a jump cut within one
camera's view, where the picture as a whole hardly changes.
"""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

MIN_SHOT_SECONDS = 0.5
CUT, LIGHT = "cut", "light"  # what ``CutDetector.change`` reports


class CutDetector:
    """``change(image)`` for each frame in order (RGB): ``CUT`` where a new shot starts at this frame, ``LIGHT``
    where the scene's light changed colour (at once, or over the last half second), else None."""

    def __init__(self, fps: float):
        from scenedetect.detectors import ContentDetector, HashDetector
        from scenedetect.scene_detector import FlashFilter

        self._colours = ContentDetector(min_scene_len=max(1, round(MIN_SHOT_SECONDS * fps)),
                                        filter_mode=FlashFilter.Mode.SUPPRESS)
        self._structure = HashDetector(min_scene_len=0)  # every frame judged; ContentDetector spaces the cuts
        self._fresh = (ContentDetector, HashDetector)  # made anew for each comparison with the frame back
        self._every = max(1, round(MIN_SHOT_SECONDS * fps))
        self._back: deque[np.ndarray] = deque(maxlen=self._every)  # the last shrunk frames, for a fading light
        self._last = -self._every  # the last frame reported
        self._scale: float | None = None
        self._index = 0

    def change(self, image: np.ndarray) -> str | None:
        if self._scale is None:
            from scenedetect.scene_manager import compute_downscale_factor
            self._scale = 1.0 / compute_downscale_factor(max(image.shape[:2]))
        small = cv2.cvtColor(cv2.resize(image, (0, 0), fx=self._scale, fy=self._scale,
                                        interpolation=cv2.INTER_LINEAR), cv2.COLOR_RGB2BGR)
        i, self._index = self._index, self._index + 1
        colours = i in self._colours.process_frame(i, small)
        structure = i in self._structure.process_frame(i, small)  # both see every frame: each keeps its last one
        found = (CUT if structure else LIGHT) if colours else None
        # (not against a frame reported itself: half a second after a flash, the flash frame is that frame)
        if found is None and len(self._back) == self._every and i - self._last > self._every:
            then, (content, perceptual) = self._back[0], self._fresh
            if _differ(content(min_scene_len=0), then, small) and not _differ(perceptual(min_scene_len=0), then, small):
                found = LIGHT
        self._back.append(small)
        if found is not None:
            self._last = i
        return found


def _differ(detector, before: np.ndarray, after: np.ndarray) -> bool:
    """Whether a fresh PySceneDetect detector, shown ``before`` then ``after``, reports a change at ``after``."""
    detector.process_frame(0, before)
    return 1 in detector.process_frame(1, after)
