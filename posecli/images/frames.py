"""Whole frames of single-camera videos for CSS (seed 001), stored in the crop cache (:mod:`.cache`).

CSS's detector looks at the whole frame, so a "crop" here is the whole frame letterboxed into a square (black
bars above and below a landscape frame; :func:`frame_square`), resized to the cache's size. Each video (one
camera of one clip) is a *group*: CSS pairs frames by time within one video and composites reconstructions over
that video's background (:func:`backgrounds`), so a static camera per group is assumed, as in the paper.

- ``synth:DIR``: ``posecli synth`` renders (static cameras: made without ``--follow``); one person per clip (the
  first track); ``pose`` is the **camera-frame** H36M-17 skeleton in metres (x right, y down, z forward; the
  paper's target: pelvis-centred camera coordinates), from the renders' ``keypoints3d_all``.
- ``videos:DIR``: any folder of the user's videos (searched recursively, so Pose2Sim's ``videos/`` folders
  work); unlabelled; the subject is named after the video's file.

The cache's meta says ``"content": "frames"`` and ``"pose_frame": "camera"`` so a person-crop cache (MCSS) and a
frame cache are never mixed up.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .cache import CropSet, FrameSample
from .sources import VIDEO_SUFFIXES

KINDS = ("synth", "videos")
CONTENT = "frames"


def frame_square(width: int, height: int) -> np.ndarray:
    """The square (cx, cy, side) that holds the whole frame: its longer side, centred (letterbox)."""
    return np.array([width / 2.0, height / 2.0, float(max(width, height))])


def parse_frames_spec(spec: str) -> tuple[str, Path]:
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        raise InputError(f"data spec {spec!r} is not KIND:PATH",
                         "use synth:DIR (posecli synth renders) or videos:DIR (a folder of your videos)")
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("does not exist", f"give an existing folder or video after {kind}:", p)
    return kind, p


def synth_frames(root: Path, every: int = 1) -> Iterator[FrameSample]:
    from ..formats import read_poses
    from ..video import read_frames

    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise InputError("has no manifest.json (not a posecli synth dataset)", "make one with posecli synth", root)
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("options", {}).get("follow"):
        raise InputError("was rendered with --follow (moving cameras)",
                         "CSS needs static cameras for its background: render without --follow", root)
    for clip in manifest["clips"]:
        for view in clip["views"]:
            poses = read_poses(root / view["poses"])
            track = poses.tracks[0] if poses.tracks else None
            rows = {} if track is None else {int(f): i for i, f in enumerate(track.frames)}
            group = f"{root.name}/{clip['name']}/{view['name']}"
            subject = f"{root.name}/{clip['name']}/p{track.id if track else 0}"
            for frame in read_frames(root / view["video"], every=every):
                r = rows.get(frame.index)
                pose = None if r is None else np.asarray(track.arrays["keypoints3d_all"][r], np.float32)
                h, w = frame.image.shape[:2]
                yield FrameSample(group, subject, view["name"], frame.index, frame.image, frame_square(w, h), pose,
                                  frame.time)


def video_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() in VIDEO_SUFFIXES else []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def user_frames(root: Path, every: int = 1) -> Iterator[FrameSample]:
    from ..video import read_frames

    videos = video_files(root)
    if not videos:
        raise InputError("holds no videos", f"give a folder with videos ({', '.join(VIDEO_SUFFIXES)})", root)
    for video in videos:
        name = str(video.relative_to(root)) if root.is_dir() else video.name
        for frame in read_frames(video, every=every):
            h, w = frame.image.shape[:2]
            yield FrameSample(name, Path(name).stem, name, frame.index, frame.image, frame_square(w, h), None,
                              frame.time)


def frame_samples(spec: str, every: int = 1) -> Iterator[FrameSample]:
    kind, path = parse_frames_spec(spec)
    return synth_frames(path, every) if kind == "synth" else user_frames(path, every)


def build_frame_cache(spec: str, out: Path, size: int, every: int = 1) -> Path:
    from ..console import progress
    from .cache import write_cache

    extra = {"every": every, "content": CONTENT, "pose_frame": "camera"}
    with progress(f"frames {spec}", None, "frames") as advance:
        return write_cache(frame_samples(spec, every), out, size, spec, extra, advance)


def check_frames(cs: CropSet, path) -> CropSet:
    if cs.meta.get("content") != CONTENT:
        raise InputError("is a person-crop cache (MCSS), not a frame cache",
                         "build a frame cache with posecli train css --data SPEC --cache DIR", path)
    return cs


def backgrounds(cs: CropSet, samples: int = 64, seed: int = 0) -> np.ndarray:
    """(G, S, S, 3) uint8: the per-pixel median of up to ``samples`` frames of each group (the paper's background
    for static cameras; a person who moves leaves the median, one who stands still for most frames stays)."""
    rng = np.random.default_rng(seed)
    groups = len(cs.meta["groups"])
    out = np.zeros((groups, cs.size, cs.size, 3), np.uint8)
    for g in range(groups):
        rows = np.flatnonzero(cs.group == g)
        if not len(rows):
            continue
        if len(rows) > samples:
            rows = np.sort(rng.choice(rows, samples, replace=False))
        out[g] = np.median(np.asarray(cs.crops[rows]), axis=0).astype(np.uint8)
    return out
