"""Mesh export: a track's body mesh as Wavefront OBJ (one frame) or glTF 2.0 binary (the whole sequence).

Choices:

* Coordinates: the Y-up export world of ``axes.y_up`` (glTF's convention: Y up, metres,
  right-handed; x right, z toward the camera, the camera at the origin; levelled with the floor at y = 0
  when ``estimate`` found gravity), the same world as the BVH export, so
  a BVH and a GLB of one track line up in Blender. OBJ has no convention; the same world is used.
* Meshes: the body ``estimate --body`` fitted (``meta["body"]``), read through
  ``render.bodies.BodyMeshes`` so that the renderer and the exports share one reading of a pose file's body.
* OBJ: one frame (``frame``: a video frame index of the track; default its first), written by trimesh.
* GLB: trimesh writes static scenes only (no animations), so the file is assembled here with numpy, json and
  struct. One mesh whose base is the first frame and one morph target per frame (POSITION displacements from
  the base, float32; target 0 is all zero so that base + target k = frame k), ``mesh.extras.targetNames``
  ``frame_<video frame>`` (Blender names its shape keys from them), and one animation whose ``weights`` channel
  steps (STEP interpolation) from target to target at the frames' times (seconds from the track's first
  frame). The keyframes x targets weight table is one-hot, so it is a sparse accessor over zeros (T stored
  values instead of T squared; sparse accessors are core glTF 2.0).
* No normals: glTF viewers compute them when absent; morphing normals too would double the file.
* Size: ~12 bytes per vertex per frame (an Anny or SMPL body: 80-170 kB a frame); a warning names the size
  above 200 MB, and GLB's 32-bit lengths cap a file at 4 GiB (an error says so before writing).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import atomic_path, check_writable
from ..console import progress, warn
from ..errors import PoseCliError
from ..poses import Poses, Track
from .axes import y_up
from .layers import one_track

if TYPE_CHECKING:
    from ..render.bodies import MeshSource

_GLB_MAGIC, _GLB_VERSION = 0x46546C67, 2  # b"glTF"
_CHUNK_JSON, _CHUNK_BIN = 0x4E4F534A, 0x004E4942  # b"JSON", b"BIN\0"
_FLOAT, _UINT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
WARN_BYTES = 200 * 2**20
_MAX_BYTES = 2**32 - 1


def obj_text(vertices: np.ndarray, faces: np.ndarray) -> str:
    """Wavefront OBJ of one mesh (vertices (V, 3), triangles (F, 3)), vertex order kept."""
    import trimesh  # a few hundred ms to import; only mesh exports need it

    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), process=False)
    return mesh.export(file_type="obj", include_normals=False, include_texture=False)


def glb_size(n_frames: int, n_vertices: int, n_faces: int) -> int:
    """Bytes of the binary chunk ``glb_bytes`` writes (the JSON adds a few kB plus ~30 bytes a frame)."""
    return 12 * n_vertices * (n_frames + 1) + 12 * n_faces + 12 * n_frames


def glb_bytes(vertices: np.ndarray, faces: np.ndarray, times: np.ndarray,
              target_names: list[str] | None = None) -> bytes:
    """glTF 2.0 binary of a morph-target animation: vertices (T, V, 3), triangles (F, 3), times (T,) seconds."""
    verts = np.asarray(vertices, dtype=np.float32)
    tris = np.ascontiguousarray(faces, dtype=np.uint32)
    times = np.asarray(times, dtype=np.float32)
    n_frames, n_verts = verts.shape[:2]
    if verts.ndim != 3 or verts.shape[2] != 3 or not n_frames or tris.ndim != 2 or tris.shape[1] != 3:
        raise PoseCliError(f"mesh arrays have shapes {verts.shape} and {tris.shape}",
                           "expected vertices (T, V, 3) and triangles (F, 3)")
    if times.shape != (n_frames,) or (np.diff(times) <= 0).any():
        raise PoseCliError("mesh frame times must be one strictly increasing time per frame")
    if tris.size and tris.max() >= n_verts:
        raise PoseCliError(f"mesh faces index vertex {int(tris.max())} of {n_verts}")
    base = verts[0]
    targets = verts - base  # (T, V, 3): target k brings the base to frame k
    blobs: list[bytes] = []
    views: list[dict] = []
    accessors: list[dict] = []

    def view(data: np.ndarray, target: int | None = None, stride: int | None = None) -> int:
        raw = np.ascontiguousarray(data).tobytes()
        entry = {"buffer": 0, "byteOffset": sum(len(b) for b in blobs), "byteLength": len(raw)}
        if target is not None:
            entry["target"] = target
        if stride is not None:
            entry["byteStride"] = stride
        blobs.append(raw + b"\0" * (-len(raw) % 4))
        views.append(entry)
        return len(views) - 1

    def accessor(**fields) -> int:
        accessors.append(fields)
        return len(accessors) - 1

    def bounds(a: np.ndarray) -> dict:
        return {"min": a.min(0).tolist(), "max": a.max(0).tolist()}

    position = accessor(bufferView=view(base, _ARRAY_BUFFER), componentType=_FLOAT, count=n_verts, type="VEC3",
                        **bounds(base))
    indices = accessor(bufferView=view(tris.reshape(-1), _ELEMENT_ARRAY_BUFFER), componentType=_UINT,
                       count=int(tris.size), type="SCALAR")
    # Several attribute accessors share one view, which the spec allows only with an explicit byteStride.
    target_view = view(targets, _ARRAY_BUFFER, stride=12)
    morphs = [accessor(bufferView=target_view, byteOffset=12 * n_verts * k, componentType=_FLOAT, count=n_verts,
                       type="VEC3", **bounds(targets[k])) for k in range(n_frames)]
    keys = accessor(bufferView=view(times), componentType=_FLOAT, count=n_frames, type="SCALAR",
                    min=[float(times[0])], max=[float(times[-1])])
    hot = np.arange(n_frames, dtype=np.uint32) * (n_frames + 1)  # row k, column k of the (T, T) weights
    weights = accessor(componentType=_FLOAT, count=n_frames * n_frames, type="SCALAR",
                       sparse={"count": n_frames,
                               "indices": {"bufferView": view(hot), "componentType": _UINT},
                               "values": {"bufferView": view(np.ones(n_frames, np.float32))}})
    names = target_names or [f"frame_{k}" for k in range(n_frames)]
    doc = {
        "asset": {"version": "2.0", "generator": "posecli"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "body"}],
        "meshes": [{"name": "body",
                    "primitives": [{"attributes": {"POSITION": position}, "indices": indices, "mode": 4,
                                    "targets": [{"POSITION": m} for m in morphs]}],
                    "weights": [0.0] * n_frames,
                    "extras": {"targetNames": names}}],
        "animations": [{"name": "motion",
                        "samplers": [{"input": keys, "output": weights, "interpolation": "STEP"}],
                        "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}]}],
        "buffers": [{"byteLength": sum(len(b) for b in blobs)}],
        "bufferViews": views,
        "accessors": accessors,
    }
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary = b"".join(blobs)
    total = 12 + 8 + len(text) + 8 + len(binary)
    if total > _MAX_BYTES:
        raise PoseCliError(f"the GLB would be {total / 2**30:.1f} GiB, over the format's 4 GiB limit",
                           "export part of the track (posecli can cut a pose file by frames) or use --to obj")
    return b"".join([struct.pack("<III", _GLB_MAGIC, _GLB_VERSION, total),
                     struct.pack("<II", len(text), _CHUNK_JSON), text,
                     struct.pack("<II", len(binary), _CHUNK_BIN), binary])


def write_mesh(poses: Poses, path: str | Path, fmt: str, track_id: int | None = None, frame: int | None = None,
               source: MeshSource | None = None) -> None:
    """``fmt`` "obj": the track's body mesh at video frame ``frame`` (default: the track's first frame);
    "glb": the whole track as a morph animation. ``source`` gives the meshes (default: the body that
    ``estimate --body`` fitted, through ``render.bodies.BodyMeshes``; tests pass a stand-in)."""
    track = one_track(poses.validate(), track_id, fmt.upper())
    if not len(track):
        raise PoseCliError(f"track {track.id} has no frames", "choose another track with --track")
    check_writable(path)
    if source is None:
        from ..render.bodies import BodyMeshes  # the one place that knows how a pose file holds a body

        source = BodyMeshes(poses)
    if fmt == "obj":
        row = 0 if frame is None else track.row(frame)
        if row is None:
            raise PoseCliError(f"track {track.id} was not seen in frame {frame}",
                               f"give a frame between {int(track.frames[0])} and {int(track.frames[-1])} "
                               "where it was (posecli info lists them)")
        text = obj_text(y_up(_vertices(source, track, row)[None], poses.meta, track.id, track.frames[[row]])[0],
                        source.faces)
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        return
    first = _vertices(source, track, 0)
    size = glb_size(len(track), len(first), len(source.faces))
    if size > WARN_BYTES:
        warn(f"the GLB will be about {size / 2**20:.0f} MB ({len(track)} frames x {len(first)} vertices); "
             "viewers and Blender may be slow to load it")
    vertices = np.empty((len(track), *first.shape), np.float32)
    vertices[0] = first
    with progress("body meshes", len(track)) as advance:
        advance()  # frame 0, computed above for the size estimate
        for row in range(1, len(track)):
            vertices[row] = _vertices(source, track, row)
            advance()
    data = glb_bytes(y_up(vertices, poses.meta, track.id, track.frames), source.faces, track.times - track.times[0],
                     [f"frame_{int(f)}" for f in track.frames])
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _vertices(source: MeshSource, track: Track, row: int) -> np.ndarray:
    v = source.vertices(track, row)
    if v is None:
        raise PoseCliError(f"track {track.id} has no body mesh in frame {int(track.frames[row])}",
                           "choose another track with --track, or run posecli estimate --body anny again")
    return np.asarray(v, np.float32)


__all__ = ["glb_bytes", "glb_size", "obj_text", "write_mesh"]
