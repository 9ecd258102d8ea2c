"""posecli's own files: a versioned NPZ (no pickles, so loading is safe) and the same content as JSON.

NPZ layout: ``schema`` and ``version`` scalars, ``header`` (a JSON string: file fields, meta, and per track its
id, attrs and the names/joint sets of its layers), and one array per per-frame field under
``tracks/<id>/frames``, ``tracks/<id>/times``, ``tracks/<id>/keypoints/<layer>/points|confidence``,
``tracks/<id>/arrays/<name>``, plus ``camera/<key>``.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import InputError, SchemaError
from ..poses import SCHEMA, SCHEMA_VERSION, Keypoints, Poses, Track

_FILE_FIELDS = ("fps", "width", "height", "num_frames", "source")


def _header(poses: Poses) -> dict[str, Any]:
    return {
        **{k: getattr(poses, k) for k in _FILE_FIELDS},
        "meta": poses.meta,
        "tracks": [{"id": t.id, "attrs": t.attrs,
                    "keypoints": {k: {"joint_set": v.joint_set, "joints": list(v.joint_names)}
                                  for k, v in t.keypoints.items()},
                    "arrays": list(t.arrays)} for t in poses.tracks],
    }


def write_npz(poses: Poses, path: str | Path) -> None:
    poses.validate()
    arrays: dict[str, np.ndarray] = {
        "schema": np.array(SCHEMA), "version": np.array(SCHEMA_VERSION),
        "header": np.array(json.dumps(_header(poses))),
    }
    for key, value in poses.camera.items():
        arrays[f"camera/{key}"] = np.asarray(value, dtype=np.float64)
    for t in poses.tracks:
        pre = f"tracks/{t.id}"
        arrays[f"{pre}/frames"] = t.frames
        arrays[f"{pre}/times"] = t.times
        for name, layer in t.keypoints.items():
            arrays[f"{pre}/keypoints/{name}/points"] = layer.points
            arrays[f"{pre}/keypoints/{name}/confidence"] = layer.confidence
        for name, arr in t.arrays.items():
            arrays[f"{pre}/arrays/{name}"] = arr
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def is_native_npz(keys: set[str]) -> bool:
    return "schema" in keys and "header" in keys


def read_npz(path: str | Path) -> Poses:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise InputError(f"not a readable NPZ file ({exc})", "check the file was fully written", path) from exc
    return from_npz_arrays(data, path)


def from_npz_arrays(data: dict[str, np.ndarray], path: str | Path) -> Poses:
    if not is_native_npz(set(data)):
        raise SchemaError(f"not a posecli pose file (keys: {', '.join(sorted(data)[:8]) or 'none'})",
                          "give an NPZ written by posecli, or a VideoPose3D NPZ with positions_2d/positions_3d",
                          path)
    if str(data["schema"]) != SCHEMA:
        raise SchemaError(f"schema is {str(data['schema'])!r}, expected {SCHEMA!r}", path=path)
    version = int(data["version"])
    if version > SCHEMA_VERSION:
        raise SchemaError(f"schema version {version} is newer than this posecli understands ({SCHEMA_VERSION})",
                          "upgrade posecli", path)
    try:
        header = json.loads(str(data["header"]))
        poses = Poses(
            tracks=[], **{k: header.get(k) for k in _FILE_FIELDS}, meta=header.get("meta") or {},
            camera={k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("camera/")},
        )
        for th in header["tracks"]:
            pre = f"tracks/{th['id']}"
            poses.tracks.append(Track(
                th["id"], data[f"{pre}/frames"], data[f"{pre}/times"],
                {name: Keypoints(joints.ensure(js["joint_set"], js["joints"]),
                                 data[f"{pre}/keypoints/{name}/points"],
                                 data[f"{pre}/keypoints/{name}/confidence"])
                 for name, js in th["keypoints"].items()},
                {name: data[f"{pre}/arrays/{name}"] for name in th["arrays"]},
                th.get("attrs") or {},
            ))
    except KeyError as exc:
        raise SchemaError(f"pose file is missing {exc}", "the file is damaged or was edited by hand", path) from None
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"malformed header ({exc})", path=path) from None
    return _validated(poses, path)


def _validated(poses: Poses, path: str | Path) -> Poses:
    try:
        return poses.validate()
    except SchemaError as exc:
        raise SchemaError(exc.problem, exc.fix, path) from None


# ---- JSON: same content, NaN written as null ----

def _tolist(a: np.ndarray) -> Any:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return np.where(np.isnan(a), None, a.astype(object)).tolist()
    return a.tolist()


def _fromlist(v: Any, dtype: Any) -> np.ndarray:
    a = np.array(v, dtype=object)
    if np.dtype(dtype).kind == "f":
        a = np.where(a == None, np.nan, a)  # noqa: E711 (elementwise comparison with None)
    return a.astype(dtype)


def to_json_dict(poses: Poses) -> dict[str, Any]:
    poses.validate()
    out = {"schema": SCHEMA, "version": SCHEMA_VERSION, **{k: getattr(poses, k) for k in _FILE_FIELDS},
           "meta": poses.meta, "camera": {k: _tolist(v) for k, v in poses.camera.items()}, "tracks": []}
    for t in poses.tracks:
        out["tracks"].append({
            "id": t.id, "attrs": t.attrs, "frames": _tolist(t.frames), "times": _tolist(t.times),
            "keypoints": {k: {"joint_set": v.joint_set, "joint_names": list(v.joint_names),
                              "points": _tolist(v.points), "confidence": _tolist(v.confidence)}
                          for k, v in t.keypoints.items()},
            "arrays": {k: {"dtype": str(v.dtype), "data": _tolist(v)} for k, v in t.arrays.items()},
        })
    return out


def write_json(poses: Poses, path: str | Path) -> None:
    text = json.dumps(to_json_dict(poses), allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def from_json_dict(d: dict[str, Any], path: str | Path) -> Poses:
    if d.get("schema") != SCHEMA:
        raise SchemaError("not a posecli pose JSON (no \"schema\": \"posecli.poses\")", path=path)
    try:
        poses = Poses(tracks=[], **{k: d.get(k) for k in _FILE_FIELDS}, meta=d.get("meta") or {},
                      camera={k: np.asarray(v, dtype=np.float64) for k, v in (d.get("camera") or {}).items()})
        for t in d["tracks"]:
            n = len(t["frames"])
            poses.tracks.append(Track(
                t["id"], np.asarray(t["frames"], dtype=np.int64), _fromlist(t["times"], np.float64),
                {k: Keypoints(joints.ensure(v["joint_set"], v["joint_names"]), _fromlist(v["points"], np.float32).reshape(n, -1, _dim(v, n)),
                              _fromlist(v["confidence"], np.float32).reshape(n, -1))
                 for k, v in t.get("keypoints", {}).items()},
                {k: _fromlist(v["data"], v["dtype"]) for k, v in t.get("arrays", {}).items()},
                t.get("attrs") or {},
            ))
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"malformed pose JSON ({type(exc).__name__}: {exc})", path=path) from None
    return _validated(poses, path)


def _dim(layer: dict[str, Any], n: int) -> int:
    pts = layer["points"]
    return len(pts[0][0]) if n and pts and pts[0] else 2

