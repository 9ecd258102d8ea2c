"""The input most commands take: a video (tracked here with the default backend) or a pose file (read)."""
from __future__ import annotations

from pathlib import Path

from ..formats import is_pose_input, read_poses
from ..poses import Poses
from .pipes import input_file, is_stdio


def poses_from(source: Path, max_persons: int | None = None, smooth: bool = False, start: int = 0,
               end: int | None = None, every: int = 1, fps: float | None = None) -> Poses:
    """``source`` read as a pose file when it is one (``-``: from standard input), else tracked as a video or
    image folder (BlazePose)."""
    if is_stdio(source):
        with input_file(source) as piped:
            return read_poses(piped, fps=fps)
    if is_pose_input(source):
        return read_poses(source, fps=fps)
    from ..track.backends import BlazePoseBackend
    from ..track.pipeline import TrackOptions, track_video

    return track_video(source, BlazePoseBackend(max_persons=max_persons),
                       TrackOptions(start=start, end=end, every=every, fps=fps, max_persons=max_persons,
                                    smooth=smooth))
