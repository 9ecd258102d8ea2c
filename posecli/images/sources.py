"""Data specs -> person samples for the crop cache (:mod:`posecli.images.cache`).

- ``synth:DIR``: ``posecli synth`` renders; exact 3D (``joints_world_h36m17``, Y-up world), crop squares from the
  projected COCO-17 keypoints (all of them, hidden ones too, so a crop frames the whole body). Each rendered
  body is a subject (its own phenotype and clothes); a clip is a group (synchronised views).
- ``h36m:ROOT``: Human3.6M in either layout users have (:mod:`posecli.images.h36m`).
- ``multiview:DIR``: synchronised videos of the user's own, no labels: one folder per take holding one video
  per camera (or a ``videos/`` folder in it, Pose2Sim's layout); a folder of videos is one take. People are
  found by ``posecli track`` (one person per take: the longest track), crops from its COCO keypoints, frames
  paired across cameras by index (the videos must start together, as Pose2Sim's do after synchronisation).

Crop squares come from COCO-17 keypoints wherever they exist so that crops at training time and at
inference (``estimate --model mcss``, boxes from the tracker's keypoints) are framed by the same rule.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .cache import FrameSample
from .crops import square_from_points

KINDS = ("synth", "h36m", "multiview")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
MIN_KEYPOINTS = 8  # a person with fewer COCO keypoints in the image gives no crop (mostly outside the frame)


def parse_spec(spec: str) -> tuple[str, Path]:
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        raise InputError(f"data spec {spec!r} is not KIND:PATH", f"use one of {', '.join(k + ':DIR' for k in KINDS)}")
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("does not exist", f"give an existing folder after {kind}:", p)
    return kind, p


def synth_samples(root: Path, every: int = 1, clips: list[str] | None = None) -> Iterator[FrameSample]:
    from ..formats import read_poses
    from ..poses import KEYPOINTS_2D
    from ..video import read_frames

    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise InputError("has no manifest.json (not a posecli synth dataset)", "make one with posecli synth", root)
    manifest = json.loads(manifest_path.read_text())
    for clip in manifest["clips"]:
        if clips is not None and clip["name"] not in clips:
            continue
        for view in clip["views"]:
            poses = read_poses(root / view["poses"])
            tracks = [(t, t.keypoints[KEYPOINTS_2D]) for t in poses.tracks]
            for frame in read_frames(root / view["video"], every=every):
                for track, kp in tracks:
                    row = np.flatnonzero(track.frames == frame.index)
                    if not len(row):
                        continue
                    r = int(row[0])
                    inside = np.asarray(track.arrays["visibility_coco17"][r]) >= 1
                    if inside.sum() < MIN_KEYPOINTS:
                        continue
                    square = square_from_points(kp.points[r])
                    if square is None:
                        continue
                    yield FrameSample(f"{root.name}/{clip['name']}", f"{root.name}/{clip['name']}/p{track.id}",
                                      view["name"], frame.index, frame.image, square,
                                      np.asarray(track.arrays["joints_world_h36m17"][r], np.float32), frame.time)


def takes(root: Path) -> list[tuple[str, list[Path]]]:
    """(take name, its videos) for a multiview folder (module docstring)."""
    def videos_in(d: Path) -> list[Path]:
        d = d / "videos" if (d / "videos").is_dir() else d
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)

    found = [(root.name, videos_in(root))] if videos_in(root) else []
    if not found:
        for d in sorted(p for p in root.rglob("*") if p.is_dir() and p.name != "videos"):
            v = videos_in(d)
            if len(v) >= 2:
                found.append((str(d.relative_to(root)), v))
    found = [(n, v) for n, v in found if len(v) >= 2]
    if not found:
        raise InputError("holds no take with two or more synchronised videos",
                         "give a folder with one subfolder per take, one video per camera in each", root)
    return found


def multiview_samples(root: Path, every: int = 1) -> Iterator[FrameSample]:
    from ..poses import KEYPOINTS_2D
    from ..track.backends import BlazePoseBackend
    from ..track.pipeline import TrackOptions, track_video
    from ..video import read_frames

    for take, videos in takes(root):
        for video in videos:
            tracked = track_video(video, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, every=every))
            if not tracked.tracks:
                continue
            track = tracked.tracks[0]
            kp = track.keypoints[KEYPOINTS_2D]
            rows = {int(f): i for i, f in enumerate(track.frames)}
            for frame in read_frames(video, every=every):
                r = rows.get(frame.index)
                if r is None or (kp.confidence[r] > 0.3).sum() < MIN_KEYPOINTS:
                    continue
                square = square_from_points(np.where((kp.confidence[r] > 0.3)[:, None], kp.points[r], np.nan))
                if square is not None:
                    yield FrameSample(take, take, video.stem, frame.index, frame.image, square, None, frame.time)


def samples(spec: str, every: int = 1, subjects: list[str] | None = None) -> Iterator[FrameSample]:
    kind, path = parse_spec(spec)
    if kind == "synth":
        return synth_samples(path, every)
    if kind == "multiview":
        return multiview_samples(path, every)
    from .h36m import h36m_samples

    return h36m_samples(path, subjects or ["S1", "S5", "S6", "S7", "S8", "S9", "S11"], every)


def build_cache(spec: str, out: Path, size: int, every: int = 1, subjects: list[str] | None = None) -> Path:
    from ..console import progress
    from .cache import write_cache

    extra = {"every": every, **({"fps": 50.0} if spec.startswith("h36m:") else {})}  # Human3.6M: 50 Hz
    with progress(f"crops {spec}", None, "crops") as advance:
        return write_cache(samples(spec, every, subjects), out, size, spec, extra, advance)
