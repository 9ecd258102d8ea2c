"""Where the meshes drawn by ``render --mesh`` come from: one mesh per track and frame, camera frame, metres.

A mesh source has ``faces`` (F, 3) and ``vertices(track, row) -> (V, 3) | None`` (row = index into the track's
frames). ``BodyMeshes`` reads the body fitted by ``estimate --body`` through ``posecli.body`` (imported only when
asked for, so skeleton overlays never load a body model); ``RootSpheres`` puts a sphere at each track's root and
stands in for a body in tests and benchmarks.

Vertices are computed in chunks of ``CHUNK`` frames per track as the video reaches them and only the current
chunk is kept, so memory does not grow with the video's length (a 14k-vertex body is 165 kB per frame).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import InputError
from ..poses import KEYPOINTS_3D, Poses, Track

CHUNK = 64
BODY_KEY = "body_pose"  # the per-frame array that marks a track with a fitted body (posecli.body.fit)


class MeshSource(Protocol):
    faces: np.ndarray

    def vertices(self, track: Track, row: int) -> np.ndarray | None: ...


class BodyMeshes:
    """Body meshes from a pose file written by ``estimate --body``: tracks with ``arrays["body_pose"]``, the
    model in ``meta["body"]`` (:func:`posecli.body.body_model_of`). Tracks without a body (too short to fit) get no mesh."""

    def __init__(self, poses: Poses, path: str | None = None, device: str = "cpu"):
        from ..body import NO_BODY_FIX, body_faces, body_model_of, body_vertices

        if not any(BODY_KEY in t.arrays for t in poses.tracks):
            raise InputError(f"the pose file has no body (no track has '{BODY_KEY}')", NO_BODY_FIX, path)
        try:
            model, model_path = body_model_of(poses.meta)
        except InputError as exc:
            raise InputError(exc.problem, exc.fix, path) from None
        self._vertices_of = body_vertices
        self._device = device
        self._meta = poses.meta
        self.faces = np.asarray(body_faces(model, model_path))
        self._cache: dict[int, tuple[int, np.ndarray | None]] = {}  # track id -> (first row, (n, V, 3))

    def vertices(self, track: Track, row: int) -> np.ndarray | None:
        if BODY_KEY not in track.arrays:
            return None
        first, chunk = self._cache.get(track.id, (-1, None))
        if not 0 <= row - first < (0 if chunk is None else len(chunk)):
            first = row - row % CHUNK
            arrays = {k: v[first:first + CHUNK] for k, v in track.arrays.items()}
            chunk = np.asarray(self._vertices_of(arrays, self._meta, self._device), np.float32)
            self._cache[track.id] = (first, chunk)
        return chunk[row - first]


class RootSpheres:
    """A sphere of ``radius`` metres at each track's root (``arrays["root"]`` or the mean of its 3D joints)."""

    def __init__(self, radius: float = 0.25, subdivisions: int = 4):
        import trimesh

        sphere = trimesh.creation.icosphere(subdivisions, radius)
        self._unit = np.asarray(sphere.vertices, np.float32)
        self.faces = np.asarray(sphere.faces)

    def vertices(self, track: Track, row: int) -> np.ndarray | None:
        centre = root_of(track, row)
        return None if centre is None else self._unit + centre


def root_of(track: Track, row: int) -> np.ndarray | None:
    """The person's root (pelvis) in the camera frame at ``row``; None if unknown."""
    if "root" in track.arrays and np.isfinite(track.arrays["root"][row]).all():
        return np.asarray(track.arrays["root"][row], np.float32)
    if KEYPOINTS_3D in track.keypoints:
        points = track.keypoints[KEYPOINTS_3D].points[row]
        seen = np.isfinite(points).all(-1)
        if seen.any():
            return points[seen].mean(0)
    return None
