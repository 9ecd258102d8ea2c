"""``align --video``: A and B side by side, B re-timed to A by the alignment, skeletons drawn on both.

Both videos are decoded in one streaming pass: the mapping from A's frames to B's is monotone, so B's reader
only ever moves forward (the last decoded B frame is held while the mapping stays on it). Memory stays at two
frames whatever the length.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..console import progress
from ..poses import KEYPOINTS_2D, Track
from ..render.draw import draw_skeleton, track_colour
from ..video import VideoWriter, probe, read_frames


def _pose_at(track: Track, frame: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    hit = track.row(frame)
    if hit is None or KEYPOINTS_2D not in track.keypoints:
        return None
    kp = track.keypoints[KEYPOINTS_2D]
    return kp.points[hit], kp.confidence[hit], kp.joint_set


def _draw(image: np.ndarray, track: Track, frame: int, text: str) -> np.ndarray:
    pose = _pose_at(track, frame)
    if pose is not None:
        draw_skeleton(image, *pose, colour=track_colour(track.id))
    scale = image.shape[0] / 480
    cv2.putText(image, text, (int(10 * scale), int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
    return image


def write_side_by_side(video_a: str | Path, video_b: str | Path, track_a: Track, track_b: Track,
                       b_for_a: np.ndarray, out: str | Path, height: int = 480) -> int:
    """Frames ``track_a.frames`` of A with B's frame ``b_for_a[k]`` beside each; returns frames written."""
    info_a = probe(video_a)
    frames_a = track_a.frames
    wanted_b = np.asarray(b_for_a, np.int64)
    reader_b = read_frames(video_b, start=int(wanted_b[0]))
    current_b = next(reader_b)
    written = 0
    with VideoWriter(out, fps=info_a.fps or 30.0) as writer, progress("side-by-side video", len(frames_a)) as adv:
        for fa in read_frames(video_a, start=int(frames_a[0]), end=int(frames_a[-1]) + 1):
            k = track_a.row(fa.index)
            if k is None:  # A's person not seen in this frame: no correspondence to show
                continue
            while current_b.index < wanted_b[k]:
                nxt = next(reader_b, None)
                if nxt is None:  # B ended early (a truncated file): hold its last frame
                    break
                current_b = nxt
            left = _draw(fa.image.copy(), track_a, fa.index, f"A {fa.index}")
            right = _draw(current_b.image.copy(), track_b, current_b.index, f"B {current_b.index}")
            writer.write(np.concatenate([_fit(left, height), _fit(right, height)], 1))
            written += 1
            adv()
    return written


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (max(2, round(w * height / h)), height), interpolation=cv2.INTER_AREA)
