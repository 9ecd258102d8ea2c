"""The one pose data model that flows between all commands.

A ``Poses`` holds the tracks of one video (or image sequence): per person, the frame indices and timestamps
where the person was seen, named keypoint layers (2D or 3D, each with its joint set and per-joint confidence;
NaN coordinates and confidence 0 where a joint is missing), optional per-frame arrays (boxes, embeddings, body
parameters) and free attributes. File-level fields: fps, image size, frame count, source, camera.
Layer names are conventions, not an enum, so a later command can add its own: see the constants below.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import joints
from .errors import SchemaError

SCHEMA = "posecli.poses"
SCHEMA_VERSION = 1

# Conventional layer names.
KEYPOINTS_2D = "keypoints2d"  # image pixels of the original frame, COCO-17 from the detector
KEYPOINTS_3D = "keypoints3d"  # metres, camera frame (x right, y down, z forward), H36M-17
KEYPOINTS_3D_WORLD = "keypoints3d_world"  # metres, upright: y up, floor y = 0, x right, z to the camera (lifting.world)
BOXES = "boxes"  # per-frame xyxy pixels
FILLED = "filled"  # per-frame uint8: 1 where the person was not seen, only placed between two sightings (track.gaps)
BLAZEPOSE_WORLD = "blazepose_world"  # BlazePose's own metric 3D, hip-centred, per frame (track writes it)


@dataclass
class Keypoints:
    """One keypoint layer of a track: ``points`` (T, J, D) float32 with D in {2, 3}; ``confidence`` (T, J)."""

    joint_set: str
    points: np.ndarray
    confidence: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32)
        if self.confidence is None:
            self.confidence = np.where(np.isnan(self.points).any(-1), 0.0, 1.0)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.points.shape[-1])

    @property
    def joint_names(self) -> tuple[str, ...]:
        return joints.get(self.joint_set).joints

    def subset(self, index: np.ndarray) -> Keypoints:
        return Keypoints(self.joint_set, self.points[index], self.confidence[index])

    def validate(self, where: str, n: int) -> None:
        js = joints.get(self.joint_set)
        p, c = self.points, self.confidence
        if p.ndim != 3 or p.shape[0] != n or p.shape[1] != len(js) or p.shape[2] not in (2, 3):
            raise SchemaError(f"{where}: points have shape {p.shape}, expected ({n}, {len(js)}, 2 or 3) "
                              f"for {n} frames of joint set {js.name}")
        if c.shape != p.shape[:2]:
            raise SchemaError(f"{where}: confidence has shape {c.shape}, expected {p.shape[:2]}")
        if np.isinf(p).any():
            raise SchemaError(f"{where}: {int(np.isinf(p).sum())} infinite coordinates",
                              "write NaN with confidence 0 for missing joints")
        if np.isnan(c).any() or (c < 0).any() or (c > 1).any():
            raise SchemaError(f"{where}: confidences must lie in [0, 1] (found NaN or out-of-range values)")
        bad = np.isnan(p).any(-1) & (c > 0)
        if bad.any():
            t, j = np.argwhere(bad)[0]
            raise SchemaError(f"{where}: {int(bad.sum())} joints have NaN coordinates but confidence > 0 "
                              f"(first: frame row {t}, joint {js.joints[j]})",
                              "set confidence to 0 where a joint is missing")


@dataclass
class Track:
    """One person over time. All per-frame arrays share the leading dimension T = len(frames)."""

    id: int
    frames: np.ndarray
    times: np.ndarray
    keypoints: dict[str, Keypoints] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.id = int(self.id)
        self.frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        self.times = np.asarray(self.times, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def row(self, frame: int) -> int | None:
        """Where video frame ``frame`` is among this track's frames; None if the person was not seen in it."""
        hit = int(np.searchsorted(self.frames, frame))
        return hit if hit < len(self.frames) and self.frames[hit] == frame else None

    def subset(self, index: np.ndarray) -> Track:
        """The track restricted to some of its frames (boolean mask or indices)."""
        return Track(self.id, self.frames[index], self.times[index],
                     {k: v.subset(index) for k, v in self.keypoints.items()},
                     {k: v[index] for k, v in self.arrays.items()}, copy.deepcopy(self.attrs))

    def validate(self) -> None:
        where = f"track {self.id}"
        n = len(self)
        if self.times.shape != (n,):
            raise SchemaError(f"{where}: {self.times.shape[0]} times for {n} frames")
        if n and (self.frames.min() < 0 or (np.diff(self.frames) <= 0).any()):
            raise SchemaError(f"{where}: frame indices must be non-negative and strictly increasing")
        if not np.isfinite(self.times).all():
            raise SchemaError(f"{where}: timestamps contain NaN or infinite values")
        for name, layer in self.keypoints.items():
            layer.validate(f"{where}, keypoints {name!r}", n)
        for name, arr in self.arrays.items():
            if arr.ndim == 0 or arr.shape[0] != n:
                raise SchemaError(f"{where}, array {name!r}: leading dimension {arr.shape[:1]} differs from "
                                  f"the {n} frames of the track")


def shot_index(frames, cuts) -> np.ndarray:
    """Which shot each of ``frames`` lies in (0 before the first of ``cuts``, the frames that start a new shot)."""
    return np.searchsorted(np.sort(np.asarray(cuts, dtype=np.int64)), np.asarray(frames), side="right")


def split_at(track: Track, cuts) -> list[Track]:
    """The track cut before each of ``cuts`` (e.g. a video's shot cuts), empty pieces left out; [track] if none."""
    shots = np.unique(shot := shot_index(track.frames, cuts))
    return [track.subset(shot == s) for s in shots] if len(shots) > 1 else [track]


def concat_tracks(parts: list[Track]) -> Track:
    """One track from consecutive pieces of it (``split_at``'s, after each was processed alike: same layers and
    arrays); the id and attrs are the first piece's."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    layers = {k: Keypoints(v.joint_set, np.concatenate([p.keypoints[k].points for p in parts]),
                           np.concatenate([p.keypoints[k].confidence for p in parts]))
              for k, v in first.keypoints.items()}
    arrays = {k: np.concatenate([p.arrays[k] for p in parts]) for k in first.arrays}
    return Track(first.id, np.concatenate([p.frames for p in parts]), np.concatenate([p.times for p in parts]),
                 layers, arrays, copy.deepcopy(first.attrs))


@dataclass
class Poses:
    """All tracks of one video, with what is needed to interpret their coordinates."""

    tracks: list[Track] = field(default_factory=list)
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    source: str | None = None
    camera: dict[str, np.ndarray] = field(default_factory=dict)  # K (3,3), dist (k,), R (3,3), t (3,)
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able provenance (command, version, ...)

    def track(self, track_id: int) -> Track:
        for t in self.tracks:
            if t.id == track_id:
                return t
        raise SchemaError(f"no track with id {track_id}", f"ids present: {[t.id for t in self.tracks]}")

    def validate(self) -> Poses:
        if self.fps is not None and not (np.isfinite(self.fps) and self.fps > 0):
            raise SchemaError(f"fps must be a positive number, got {self.fps}")
        for name in ("width", "height", "num_frames"):
            v = getattr(self, name)
            if v is not None and int(v) < 0:
                raise SchemaError(f"{name} must be non-negative, got {v}")
        ids = [t.id for t in self.tracks]
        if len(set(ids)) != len(ids):
            raise SchemaError(f"duplicate track ids: {ids}")
        for t in self.tracks:
            t.validate()
        for key, arr in self.camera.items():
            if not np.isfinite(np.asarray(arr, dtype=np.float64)).all():
                raise SchemaError(f"camera {key!r} contains NaN or infinite values")
        return self

    def summary(self) -> dict[str, Any]:
        """What ``posecli info`` prints for a pose file."""
        return {
            "schema": SCHEMA, "version": SCHEMA_VERSION, "fps": self.fps, "width": self.width,
            "height": self.height, "num_frames": self.num_frames, "source": self.source,
            "camera": sorted(self.camera),
            "shot_cuts": list(self.meta.get("shot_cuts") or []),  # frames starting a new shot (`track`)
            "light_changes": list(self.meta.get("light_changes") or []),  # frames where the light changed colour
            "tracks": [
                {"id": t.id, "frames": len(t),
                 "first_frame": int(t.frames[0]) if len(t) else None,
                 "last_frame": int(t.frames[-1]) if len(t) else None,
                 "joint_set": _main_joint_set(t),
                 "fields": sorted([*(f"{k} ({v.joint_set}, {v.dim}D)" for k, v in t.keypoints.items()),
                                   *t.arrays])}
                for t in self.tracks
            ],
        }


def _main_joint_set(track: Track) -> str | None:
    for name in (KEYPOINTS_2D, KEYPOINTS_3D, *track.keypoints):
        if name in track.keypoints:
            return track.keypoints[name].joint_set
    return None
