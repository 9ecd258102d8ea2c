"""posecli's own files: a versioned NPZ (no pickles, so loading is safe) and the same content as JSON.

NPZ layout: ``schema`` and ``version`` scalars, ``header`` (a JSON string: file fields, meta, and per track its
id, attrs and the names/joint sets of its layers), and one array per per-frame field under
``tracks/<id>/frames``, ``tracks/<id>/times``, ``tracks/<id>/keypoints/<layer>/points|confidence``,
``tracks/<id>/arrays/<name>``, plus ``camera/<key>``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import SchemaError
from ..poses import SCHEMA, SCHEMA_VERSION, Keypoints, Poses, Track
from .checks import index, load_npz, need, numeric, optional_number

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
    return from_npz_arrays(load_npz(path), path)  # never unpickles: object arrays are refused


def _file_fields(d: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """fps, width, height, num_frames, source and meta of a header, each of the type the model needs."""
    out = {"fps": optional_number(d.get("fps"), "fps", path)}
    for k in ("width", "height", "num_frames"):
        out[k] = optional_number(d.get(k), k, path, integer=True)
    need(d.get("source") is None or isinstance(d.get("source"), str), "source is not a string", path)
    need(isinstance(d.get("meta") or {}, dict), "meta is not a dictionary", path)
    out["source"], out["meta"] = d.get("source"), d.get("meta") or {}
    return out


def _scalar(data: dict[str, np.ndarray], key: str, kind: str, path: str | Path) -> Any:
    a = data[key]
    need(a.ndim == 0 and a.dtype.kind in kind, f"{key!r} is not a single {'string' if kind == 'U' else 'integer'} "
         f"(found {a.dtype} of shape {a.shape})", path)
    return a.item()


def from_npz_arrays(data: dict[str, np.ndarray], path: str | Path) -> Poses:
    if not is_native_npz(set(data)):
        raise SchemaError(f"not a posecli pose file (keys: {', '.join(sorted(data)[:8]) or 'none'})",
                          "give an NPZ written by posecli, or a VideoPose3D NPZ with positions_2d/positions_3d",
                          path)
    if str(data["schema"]) != SCHEMA:
        raise SchemaError(f"schema is {str(data['schema'])[:40]!r}, expected {SCHEMA!r}", path=path)
    if "version" not in data:
        raise SchemaError("pose file has no 'version'", "the file is damaged or was edited by hand", path)
    version = _scalar(data, "version", "iu", path)
    if version > SCHEMA_VERSION:
        raise SchemaError(f"schema version {version} is newer than this posecli understands ({SCHEMA_VERSION})",
                          "upgrade posecli", path)
    try:
        header = json.loads(_scalar(data, "header", "U", path))
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"malformed header ({type(exc).__name__}: {str(exc)[:80]})", path=path) from None
    need(isinstance(header, dict) and isinstance(header.get("tracks"), list), "header has no list of tracks", path)

    def array(key: str, what: str, kinds: str = "biuf") -> np.ndarray:
        if key not in data:
            raise SchemaError(f"pose file is missing {key!r}", "the file is damaged or was edited by hand", path)
        return numeric(data[key], what, path, kinds)

    camera = {k.split("/", 1)[1]: array(k, f"camera {k.split('/', 1)[1]!r}") for k in data if k.startswith("camera/")}
    poses = Poses(tracks=[], **_file_fields(header, path), camera=camera)
    for th in header["tracks"]:
        need(isinstance(th, dict) and isinstance(th.get("keypoints"), dict) and isinstance(th.get("arrays"), list)
             and all(isinstance(js, dict) for js in th["keypoints"].values()), "a track header is malformed", path)
        tid = index(th.get("id"), "track id", path)
        need(isinstance(th.get("attrs") or {}, dict), f"track {tid}: attrs is not a dictionary", path)
        pre = f"tracks/{th['id']}"
        layers = {}
        for name, js in th["keypoints"].items():
            names = js.get("joints")
            need(isinstance(js.get("joint_set"), str) and isinstance(names, list)
                 and all(isinstance(j, str) for j in names) and len(set(names)) == len(names),
                 f"track {tid}, layer {name!r}: joint set or joint names are malformed", path)
            layers[name] = Keypoints(joints.ensure(js["joint_set"], names),
                                     array(f"{pre}/keypoints/{name}/points", f"{name} points"),
                                     array(f"{pre}/keypoints/{name}/confidence", f"{name} confidence"))
        poses.tracks.append(Track(
            tid, array(f"{pre}/frames", "frames", "iu"), array(f"{pre}/times", "times"), layers,
            {str(name): array(f"{pre}/arrays/{name}", f"array {name!r}") for name in th["arrays"]},
            th.get("attrs") or {},
        ))
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
    need(isinstance(d.get("camera") or {}, dict), "camera is not a dictionary", path)
    need(isinstance(d.get("tracks"), list) and all(isinstance(t, dict) for t in d["tracks"]),
         "pose JSON has no list of tracks", path)
    try:
        poses = Poses(tracks=[], **_file_fields(d, path),
                      camera={k: np.asarray(v, dtype=np.float64) for k, v in (d.get("camera") or {}).items()})
        for t in d["tracks"]:
            layers_in, arrays_in = t.get("keypoints", {}), t.get("arrays", {})
            need(isinstance(layers_in, dict) and isinstance(arrays_in, dict)
                 and isinstance(t.get("frames"), list) and isinstance(t.get("attrs") or {}, dict)
                 and all(isinstance(v, dict) for v in (*layers_in.values(), *arrays_in.values())),
                 "a track is malformed (frames, keypoints, arrays or attrs of the wrong type)", path)
            n = len(t["frames"])
            frames = np.asarray([index(f, "a frame index", path) for f in t["frames"]], dtype=np.int64)
            layers = {}
            for k, v in t.get("keypoints", {}).items():
                names = v["joint_names"]
                need(isinstance(v["joint_set"], str) and isinstance(names, list)
                     and all(isinstance(j, str) for j in names) and len(set(names)) == len(names),
                     f"layer {k!r}: joint set or joint names are malformed", path)
                layers[k] = Keypoints(joints.ensure(v["joint_set"], names),
                                      _fromlist(v["points"], np.float32).reshape(n, -1, _dim(v, n)),
                                      _fromlist(v["confidence"], np.float32).reshape(n, -1))
            arrays = {}
            for k, v in t.get("arrays", {}).items():
                need(isinstance(v["dtype"], str) and np.dtype(v["dtype"]).kind in "biuf",
                     f"array {k!r}: dtype {str(v['dtype'])[:20]!r} is not a number type", path)
                arrays[k] = _fromlist(v["data"], v["dtype"])
            poses.tracks.append(Track(index(t["id"], "track id", path), frames, _fromlist(t["times"], np.float64),
                                      layers, arrays, t.get("attrs") or {}))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"malformed pose JSON ({type(exc).__name__}: {str(exc)[:100]})", path=path) from None
    return _validated(poses, path)


def _dim(layer: dict[str, Any], n: int) -> int:
    pts = layer["points"]
    return len(pts[0][0]) if n and pts and pts[0] else 2

