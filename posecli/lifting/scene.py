"""The scene's vertical lines for ``estimate``'s world frame: a few frames of the source video, people masked.

I/O lives here so that :mod:`verticals` stays pure geometry. Frames come from the first ``SECONDS`` of the
tracked part of the video (a static camera sees the same scene throughout; decoding further would cost as much
as tracking it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import PoseCliError
from ..poses import BOXES, Poses
from ..video import probe, read_frames
from .verticals import line_segments, vertical_up

SECONDS = 10.0
FRAMES = 6
BOX_MARGIN = 0.1  # people's boxes enlarged by this fraction of their size on every side


def scene_verticals(poses: Poses, focal_px: float) -> Callable[[np.ndarray], tuple[np.ndarray | None, dict]] | None:
    """A function prior_up -> (up or None, info) over the source video's segments; None when the source is
    not a readable video (a pose file moved away from its video, images, stdin)."""
    source = poses.source
    if not source or not Path(source).is_file():
        return None
    try:
        info = probe(source)
        if info.kind != "video" or info.frames < 1:
            return None
        # from the first frame anyone was tracked (track --start), so that the people can be masked
        start = min((int(t.frames[0]) for t in poses.tracks if len(t)), default=0)
        end = max((int(t.frames[-1]) + 1 for t in poses.tracks if len(t)), default=info.frames)
        end = min(end, info.frames)
        if start >= end:
            return None
        span = max(1, min(end - start, int(SECONDS * info.fps)))
        step = max(1, span // FRAMES)
        frames = list(read_frames(source, start, min(end, start + step * FRAMES), step))
    except PoseCliError:
        return None
    if not frames:
        return None
    h, w = frames[0].image.shape[:2]
    segs = []
    for f in frames:
        boxes = [t.arrays[BOXES][t.frames == f.index][0] for t in poses.tracks
                 if BOXES in t.arrays and (t.frames == f.index).any()]
        b = np.array(boxes, float).reshape(-1, 4)
        if len(b):
            pad = BOX_MARGIN * (b[:, 2:] - b[:, :2])
            b = np.c_[b[:, :2] - pad, b[:, 2:] + pad]
        segs.append(line_segments(cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY), b))
    segments = np.concatenate(segs)
    k = np.array([[focal_px, 0, w / 2], [0, focal_px, h / 2], [0, 0, 1]])
    diagonal = float(np.hypot(w, h))
    return lambda prior: vertical_up(segments, k, prior, len(frames), diagonal)
