"""VideoPose3D-style NPZ: ``positions_2d[video][action] = [array per camera]`` and
``positions_3d[subject][action] = (N, J, 3)`` with a ``metadata`` dict (layout_name, keypoints_symmetry, ...).

These files are pickled dictionaries. posecli reads them with a restricted unpickler (``checks.load_npz``) that
rebuilds only dicts, lists, strings, numbers and numpy arrays and never looks up or calls anything else named
in the file, so a crafted file cannot run code (VideoPose3D's own ``allow_pickle=True`` loading can).

Writing follows ``prepare_data_2d_custom.py``: one array per track covering the track's first to last frame,
gaps filled by linear interpolation (VideoPose3D cannot take missing joints); each track becomes its own
"video" key, ``<source>`` for a single track and ``<source>#<id>`` otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import SchemaError
from ..poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track
from .checks import index, load_npz, need, numeric, optional_number

ACTION = "custom"
# VideoPose3D keeps these 17 of the 32 Human3.6M joints (common/h36m_dataset.py).
H36M32_TO_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
_LAYOUTS = {"coco": "coco17", "h36m": "h36m17"}


def _interpolate(frames: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense (first..last frame) array with missing joints/frames filled linearly per joint coordinate."""
    full = np.arange(frames[0], frames[-1] + 1)
    out = np.empty((len(full), *pts.shape[1:]), dtype=np.float32)
    for j in range(pts.shape[1]):
        for d in range(pts.shape[2]):
            ok = np.isfinite(pts[:, j, d])
            out[:, j, d] = np.interp(full, frames[ok], pts[ok, j, d]) if ok.any() else 0.0
    return full, out


def write_vp3d(poses: Poses, path: str | Path) -> None:
    poses.validate()
    name = Path(poses.source).name if poses.source else "video"
    pos2d: dict[str, dict[str, list[np.ndarray]]] = {}
    pos3d: dict[str, dict[str, np.ndarray]] = {}
    video_meta: dict[str, dict[str, Any]] = {}
    layout = None
    for t in poses.tracks:
        if not len(t):
            continue
        key = name if len(poses.tracks) == 1 else f"{name}#{t.id}"
        video_meta[key] = {"w": poses.width, "h": poses.height, "fps": poses.fps, "start_frame": int(t.frames[0])}
        if KEYPOINTS_2D in t.keypoints:
            kp = t.keypoints[KEYPOINTS_2D]
            target = "coco17" if kp.joint_set != "h36m17" else "h36m17"
            pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, target)
            pts[conf <= 0] = np.nan
            pos2d[key] = {ACTION: [_interpolate(t.frames, pts)[1]]}
            layout = target
        if KEYPOINTS_3D in t.keypoints:
            kp = t.keypoints[KEYPOINTS_3D]
            pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "h36m17")
            pts[conf <= 0] = np.nan
            pos3d[key] = {ACTION: _interpolate(t.frames, pts)[1]}
    if not pos2d and not pos3d:
        raise SchemaError("nothing to export: no keypoints2d or keypoints3d layer in any track")
    js = joints.get(layout or "h36m17")
    left, right = js.symmetry
    metadata = {"layout_name": {"coco17": "coco", "h36m17": "h36m"}[js.name], "num_joints": len(js),
                "keypoints_symmetry": [left, right], "video_metadata": video_meta}
    arrays: dict[str, Any] = {"metadata": metadata}
    if pos2d:
        arrays["positions_2d"] = pos2d
    if pos3d:
        arrays["positions_3d"] = pos3d
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def is_vp3d(keys: set[str]) -> bool:
    return bool(keys & {"positions_2d", "positions_3d"})


def _unpacked(a: np.ndarray) -> object:
    """A 0-d object array (how np.savez stores a dict) as the object; any other array as it is."""
    return a.item() if a.dtype == object and a.ndim == 0 else a


def read_vp3d(path: str | Path, fps: float | None = None) -> Poses:
    """Each (video or subject, action, camera) entry becomes one track, its origin kept in ``attrs``."""
    data = {k: _unpacked(v) for k, v in load_npz(path, objects=True).items()}
    meta = data.get("metadata")
    meta = {} if meta is None else meta
    need(isinstance(meta, dict), "'metadata' is not a dictionary", path)
    vmeta = meta.get("video_metadata", {})
    need(isinstance(vmeta, dict) and all(isinstance(v, dict) for v in vmeta.values()),
         "'video_metadata' is not a dictionary of dictionaries", path)
    layout_name = meta.get("layout_name", "coco")
    need(isinstance(layout_name, str), "'layout_name' is not a string", path)
    layout = _LAYOUTS.get(layout_name, "coco17")
    first = next(iter(vmeta.values()), {})
    rate = fps or optional_number(first.get("fps"), "video_metadata fps", path) or 50.0  # Human3.6M's rate
    poses = Poses(fps=float(rate), width=optional_number(first.get("w"), "video_metadata w", path, integer=True),
                  height=optional_number(first.get("h"), "video_metadata h", path, integer=True),
                  meta={"imported_from": "videopose3d"})
    entries: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
    for key, dim in (("positions_2d", 2), ("positions_3d", 3)):
        subjects = data.get(key)
        subjects = {} if subjects is None else subjects
        need(isinstance(subjects, dict) and all(isinstance(a, dict) for a in subjects.values()),
             f"{key} is not a dictionary of actions", path, "VideoPose3D layout: positions_2d[video][action]")
        for subject, actions in subjects.items():
            for action, arr in actions.items():
                cams = arr if isinstance(arr, list) else [arr]
                for cam, a in enumerate(cams):
                    a = numeric(a, f"{key}[{str(subject)[:30]!r}][{str(action)[:30]!r}]", path)
                    entries.setdefault((subject, action, cam), {})[KEYPOINTS_2D if dim == 2 else KEYPOINTS_3D] = a
    for tid, ((subject, action, cam), layers) in enumerate(sorted(entries.items(), key=lambda e: str(e[0]))):
        n = min(len(a) if a.ndim else 0 for a in layers.values())
        start = index(vmeta.get(subject, {}).get("start_frame", 0), "start_frame", path)
        frames = np.arange(start, start + n)
        kps = {}
        for lname, a in layers.items():
            dim = 2 if lname == KEYPOINTS_2D else 3
            js = "h36m17" if dim == 3 else layout
            if a.ndim == 3 and dim == 3 and a.shape[1] == 32:
                a = a[:, H36M32_TO_17]
            if a.ndim != 3 or a.shape[1] != len(joints.get(js)) or a.shape[2] != dim:
                raise SchemaError(f"{str(subject)[:30]!r}/{str(action)[:30]!r}: array of shape {a.shape} does not fit "
                                  f"{js} in {dim}D", path=path)
            kps[lname] = Keypoints(js, np.asarray(a, dtype=np.float32)[:n])
        poses.tracks.append(Track(tid, frames, frames / rate, kps,
                                  attrs={"subject": str(subject), "action": str(action), "camera": cam}))
    return poses.validate()
