"""TRC marker files (OpenSim, Pose2Sim): tab-separated, one person, X/Y/Z per marker per frame.

Written with the joint names of the layer as marker names and blank cells for missing markers (what OpenSim
reads as gaps), in OpenSim's axes as Pose2Sim's TRC files are (Y up, X forward = away from the camera, Z right,
metres):
- a track from ``estimate`` with an upright world (``keypoints3d_world``) is written from it (the floor at
  Y = 0, gravity from the lifter);
- any other 3D layer posecli made (camera frame: x right, y down, z forward; BlazePose's world landmarks have
  the same axes) is turned so the camera's up is Y (a tilted camera gives a tilted motion);
- a layer read from a TRC file (meta ``coordinates`` "world ...") is written as it is, so TRC round-trips.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import SchemaError
from ..poses import KEYPOINTS_3D, KEYPOINTS_3D_WORLD, Keypoints, Poses, Track
from ..console import warn
from .axes import TRC_FROM_Y_UP, camera_to_y_up
from .checks import index, need
from .layers import one_track, pick_layer


TRACK_TAG = "posecli_track="


def write_trc(poses: Poses, path: str | Path, track_id: int | None = None, layer: str | None = None) -> None:
    t = one_track(poses.validate(), track_id, "TRC")
    if layer is None and KEYPOINTS_3D_WORLD in t.keypoints:
        w = t.keypoints[KEYPOINTS_3D_WORLD]
        kp = Keypoints(w.joint_set, (np.asarray(w.points, np.float64) @ TRC_FROM_Y_UP.T).astype(np.float32),
                       w.confidence)
    else:
        name, kp = pick_layer(t, 3, layer)
        if kp.dim != 3:
            raise SchemaError("TRC holds 3D markers but the chosen layer is 2D", "choose a 3D layer with --layer")
        if layer is None and name != KEYPOINTS_3D:
            warn(f"track {t.id} has no 'keypoints3d': writing its {name!r} layer ({kp.joint_set}, "
                 f"{len(kp.joint_names)} markers); run posecli estimate first for H36M-17 joints")
        if not str(poses.meta.get("coordinates", "")).startswith("world"):
            up = camera_to_y_up(kp.points) @ TRC_FROM_Y_UP.T
            kp = Keypoints(kp.joint_set, up.astype(np.float32), kp.confidence)
    rate = poses.fps or 30.0
    names = kp.joint_names
    n = len(t)
    lines = [
        # The track id rides after the file name on the first line: OpenSim keeps that line whole as its
        # "header" (checking only "PathFileType"), Pose2Sim skips it, and a read-back restores the id.
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}\t{TRACK_TAG}{t.id}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:g}\t{rate:g}\t{n}\t{len(names)}\tm\t{rate:g}\t{int(t.frames[0]) if n else 0}\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"{a}{i + 1}" for i in range(len(names)) for a in "XYZ"),
        "",
    ]
    for i in range(n):
        cells = [str(int(t.frames[i]) + 1), f"{t.times[i]:.6f}"]
        for j in range(len(names)):
            ok = kp.confidence[i, j] > 0 and np.isfinite(kp.points[i, j]).all()
            cells += [f"{v:.6f}" for v in kp.points[i, j]] if ok else ["", "", ""]
        lines.append("\t".join(cells))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _snake(marker: str) -> str:
    """Pose2Sim's ``RHip``/``LBigToe`` style to posecli's ``right_hip``/``left_big_toe``."""
    m = re.fullmatch(r"([RL])([A-Z].*)", marker)
    side = ""
    if m:
        side, marker = {"R": "right_", "L": "left_"}[m.group(1)], m.group(2)
    return side + re.sub(r"(?<!^)(?=[A-Z])", "_", marker).lower().replace(".", "_")


def read_trc(path: str | Path) -> Poses:
    path = Path(path)
    try:
        rows = path.read_text(errors="replace").splitlines()
        header = rows[2].split("\t")
        rate, n_markers, units = float(header[0]), int(header[3]), header[4].strip()
        markers = [m for m in rows[3].split("\t")[2:] if m.strip()]
    except (IndexError, ValueError) as exc:
        raise SchemaError(f"not a TRC file ({type(exc).__name__}: {exc})", "check the header lines", path) from None
    if len(markers) != n_markers:
        raise SchemaError(f"header says {n_markers} markers but names {len(markers)}", path=path)
    scale = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}.get(units.lower())
    if scale is None:
        raise SchemaError(f"unknown TRC units {units[:20]!r}", "use m, cm or mm", path)
    frames, times, pts = [], [], []
    for k, row in enumerate(rows[5:], start=6):
        cells = row.split("\t")
        if not row.strip() or not cells[0].strip():
            continue
        try:
            vals = [float(c) if c.strip() else np.nan for c in cells[2:2 + 3 * n_markers]]
            frame, time = float(cells[0]), float(cells[1])
        except (ValueError, IndexError):
            raise SchemaError(f"line {k}: frame number, time or a coordinate is not a number", path=path) from None
        frames.append(index(np.trunc(frame) if np.isfinite(frame) else frame, f"line {k}: frame number", path) - 1)
        times.append(time)
        pts.append(vals + [np.nan] * (3 * n_markers - len(vals)))
    names = [_snake(m) for m in markers]
    need(len(set(names)) == len(names), f"marker names repeat ({', '.join(markers)[:80]})", path,
         "give each marker its own name")
    p = np.asarray(pts, dtype=np.float32).reshape(len(frames), n_markers, 3) * scale
    js = joints.find(names, f"trc_{path.stem}")
    tag = re.search(rf"\t{TRACK_TAG}(\d{{1,9}})\s*$", rows[0])  # written by write_trc; other TRCs: track 1
    track = Track(int(tag.group(1)) if tag else 1, np.asarray(frames), np.asarray(times),
                  {KEYPOINTS_3D: Keypoints(js, p)})
    return Poses([track], fps=rate, num_frames=len(frames), source=str(path),
                 meta={"imported_from": "trc", "coordinates": "world (as in the TRC file)"}).validate()
