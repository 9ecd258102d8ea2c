"""Reading and writing pose files in every format posecli speaks, chosen by name or guessed from the file."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError, PoseCliError, SchemaError
from ..poses import Poses
from . import bvh_export, coco, csv, mesh_export, native, openpose, trc, vp3d
from .checks import npz_keys

WRITE_FORMATS = {
    "npz": "posecli NPZ (default; lossless)",
    "json": "posecli JSON (same content, NaN as null)",
    "coco-json": "COCO keypoint results (2D, COCO-17)",
    "vp3d": "VideoPose3D-style NPZ (positions_2d / positions_3d)",
    "trc": "TRC markers for OpenSim / Pose2Sim (3D, one track)",
    "csv": "CSV, one row per track and frame",
    "bvh": "BVH skeleton animation for Blender and other 3D tools (3D, one track)",
    "glb": "glTF 2.0 binary: the body mesh sequence as a morph-target animation (one track)",
    "obj": "Wavefront OBJ: the body mesh of one frame (--frame; one track)",
}
_BY_SUFFIX = {".npz": "npz", ".json": "json", ".trc": "trc", ".csv": "csv"}
# Write-only formats: never read back, so they stay out of _BY_SUFFIX (is_pose_input must not claim them).
_WRITE_SUFFIX = {**_BY_SUFFIX, ".bvh": "bvh", ".glb": "glb", ".obj": "obj"}


def is_pose_input(path: str | Path) -> bool:
    """Whether a command's input is a pose file (or OpenPose folder) rather than a video or images."""
    path = Path(path)
    return (path.suffix.lower() in _BY_SUFFIX and not path.is_dir()) or openpose.looks_like_openpose(path)


def require_file(path: str | Path, what: str = "file") -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} does not exist", "check the path", path)
    if path.is_dir():
        raise InputError(f"is a directory, expected a {what}", "give a file inside it", path)
    if not path.stat().st_size:
        raise InputError(f"{what} is empty (0 bytes)", "re-create it", path)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot open ({exc.strerror})", "check permissions", path) from None
    return path


def read_poses(path: str | Path, fmt: str | None = None, fps: float | None = None) -> Poses:
    """Load any supported pose file (or an OpenPose JSON folder); the format comes from ``fmt`` or is sniffed
    from the extension and content."""
    if fmt in (None, "openpose") and openpose.looks_like_openpose(Path(path)):
        return openpose.read_openpose(path, fps)
    path = require_file(path, "pose file")
    fmt = fmt or _BY_SUFFIX.get(path.suffix.lower())
    if fmt in ("npz", "vp3d"):
        keys = npz_keys(path)
        if vp3d.is_vp3d(keys):
            return vp3d.read_vp3d(path, fps)
        return native.read_npz(path)
    if fmt in ("json", "coco-json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, ints over 4300 digits
            raise InputError(f"not valid JSON ({type(exc).__name__}: {str(exc)[:100]})",
                             "check the file was fully written (as UTF-8)", path) from None
        if coco.looks_like_coco(doc) and not (isinstance(doc, dict) and "schema" in doc):
            return coco.from_coco(doc, path, fps)
        if isinstance(doc, dict):
            return native.from_json_dict(doc, path)
        raise SchemaError("JSON is neither a posecli pose file nor COCO keypoints", path=path)
    if fmt == "trc":
        return trc.read_trc(path)
    if fmt == "csv":
        return csv.read_csv(path, fps)
    raise InputError(f"unknown pose file type {path.suffix or '(no extension)'}",
                     "give a .npz, .json, .trc or .csv file", path)


def write_poses(poses: Poses, path: str | Path, fmt: str | None = None, *, track: int | None = None,
                layer: str | None = None, frame: int | None = None) -> None:
    """Write ``poses`` as ``fmt`` (default: from the extension). ``track``/``layer`` pick what one-person and
    one-layer formats carry; ``frame`` is the video frame an OBJ holds."""
    fmt = fmt or _WRITE_SUFFIX.get(Path(path).suffix.lower())
    if frame is not None and fmt != "obj":
        raise PoseCliError("--frame applies to --to obj only", "leave it out for other formats")
    if fmt == "npz":
        native.write_npz(poses, path)
    elif fmt == "json":
        native.write_json(poses, path)
    elif fmt == "coco-json":
        coco.write_coco(poses, path, layer)
    elif fmt == "vp3d":
        vp3d.write_vp3d(poses, path)
    elif fmt == "trc":
        trc.write_trc(poses, path, track, layer)
    elif fmt == "csv":
        csv.write_csv(poses, path, layer)
    elif fmt == "bvh":
        bvh_export.write_bvh(poses, path, track, layer)
    elif fmt in ("glb", "obj"):
        mesh_export.write_mesh(poses, path, fmt, track, frame)
    else:
        raise PoseCliError(f"cannot tell the output format of {path}",
                           f"use an extension ({' '.join(_WRITE_SUFFIX)}) or --to {{{','.join(WRITE_FORMATS)}}}")


__all__ = ["WRITE_FORMATS", "is_pose_input", "read_poses", "require_file", "write_poses"]
