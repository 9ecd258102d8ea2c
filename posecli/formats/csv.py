"""CSV for spreadsheets and pandas: one row per (track, frame), columns ``track_id, frame, time`` then
``<joint>_x, <joint>_y[, <joint>_z], <joint>_conf`` for one keypoint layer; missing joints are empty cells."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import SchemaError
from ..poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track
from .checks import index, need
from .layers import pick_layer


def write_csv(poses: Poses, path: str | Path, layer: str | None = None) -> None:
    poses.validate()
    picked = [(t, *pick_layer(t, None, layer)) for t in poses.tracks]
    sets = {(kp.joint_set, kp.dim) for _, _, kp in picked}
    if len(sets) > 1:
        raise SchemaError(f"tracks use different joint sets or dimensions {sorted(sets)}", "choose --layer")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if picked:
        kp0 = picked[0][2]
        axes = "xyz"[: kp0.dim]
        w.writerow(["track_id", "frame", "time"] + [f"{j}_{a}" for j in kp0.joint_names for a in (*axes, "conf")])
    for t, _, kp in picked:
        for i in range(len(t)):
            row: list[object] = [t.id, int(t.frames[i]), f"{t.times[i]:.9f}"]
            for j in range(kp.points.shape[1]):
                ok = kp.confidence[i, j] > 0 and np.isfinite(kp.points[i, j]).all()
                row += [f"{v:.4f}" if ok else "" for v in kp.points[i, j]] + [f"{kp.confidence[i, j]:.4f}"]
            w.writerow(row)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def read_csv(path: str | Path, fps: float | None = None) -> Poses:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SchemaError(f"not a readable CSV file ({type(exc).__name__}: {str(exc)[:80]})",
                          "save it as UTF-8 CSV", path) from None
    if not rows or rows[0][:3] != ["track_id", "frame", "time"]:
        raise SchemaError("not a posecli CSV (first columns must be track_id, frame, time)", path=path)
    cols = rows[0][3:]
    names = list(dict.fromkeys(c.rsplit("_", 1)[0] for c in cols))
    dim = len(cols) // len(names) - 1 if names else 0
    if dim not in (2, 3) or len(cols) != len(names) * (dim + 1):
        raise SchemaError("columns are not <joint>_x, <joint>_y[, <joint>_z], <joint>_conf per joint", path=path)
    js = joints.find(names, f"csv_{path.stem}")
    by_track: dict[int, list[list[str]]] = defaultdict(list)
    for k, row in enumerate(rows[1:], start=2):
        if row:
            need(len(row) == len(rows[0]), f"line {k} has {len(row)} cells, the header {len(rows[0])}", path,
                 "every row needs track_id, frame, time and every joint's columns")
            by_track[index(row[0].strip(), f"line {k}: track_id", path)].append(row)
    poses = Poses(meta={"imported_from": "csv"})
    try:
        for tid, trows in sorted(by_track.items()):
            with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which validate() reports
                vals = np.array([[float(c) if c else np.nan for c in r[3:]] for r in trows], dtype=np.float32)
            vals = vals.reshape(len(trows), len(names), dim + 1)
            frames = np.array([index(r[1].strip(), "frame", path) for r in trows])
            times = np.array([float(r[2]) for r in trows])
            name = KEYPOINTS_2D if dim == 2 else KEYPOINTS_3D
            poses.tracks.append(Track(tid, frames, times, {name: Keypoints(js, vals[..., :dim], vals[..., dim])}))
    except ValueError as exc:
        raise SchemaError(f"a cell is not a number ({str(exc)[:80]})", path=path) from None
    poses.validate()  # frames strictly increasing and times finite before they give the frame rate
    if fps:
        poses.fps = fps
    else:
        # Recover the frame rate from the rows themselves, so a round trip keeps it.
        steps = [np.median(np.diff(t.times) / np.diff(t.frames)) for t in poses.tracks if len(t) > 1]
        poses.fps = float(round(1.0 / steps[0], 6)) if steps and steps[0] > 0 else None
    return poses.validate()
