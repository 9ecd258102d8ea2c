"""OpenPose JSON: one file per frame (``<name>_000000000012_keypoints.json`` or ``cam01.0012.json``) holding
``people[i].pose_keypoints_2d`` = [x, y, c] * J. Read-only: posecli writes richer formats.

The frame index is the last number in the file name. OpenPose does not track, so person i of every frame
becomes track i, unless files carry a ``person_id`` other than -1 (Pose2Sim's associated output does not).
The joint set follows from J: 25 -> BODY_25B (Pose2Sim's default), 18/17 -> COCO order.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..console import warn
from ..errors import InputError, SchemaError
from ..poses import KEYPOINTS_2D, Keypoints, Poses, Track
from .checks import index, is_number, need

_SETS = {25: "body25b", 17: "coco17"}


def looks_like_openpose(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.json"))


def read_openpose(folder: str | Path, fps: float | None = None) -> Poses:
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise InputError("has no OpenPose .json files", "give the folder OpenPose wrote", folder)
    rows: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    n_joints = None
    for f in files:
        numbers = re.findall(r"\d+", f.stem)
        if not numbers:
            raise SchemaError("file name holds no frame number", "name files like name_000012.json", f)
        frame = index(numbers[-1], "frame number in the file name", f)
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, ints over 4300 digits
            raise SchemaError(f"not OpenPose JSON ({type(exc).__name__}: {str(exc)[:80]})", path=f) from None
        people = doc.get("people", []) if isinstance(doc, dict) else None
        need(isinstance(people, list) and all(isinstance(p, dict) for p in people),
             "not OpenPose JSON (no list of people)", f, "give the folder OpenPose wrote")
        for rank, person in enumerate(people):
            values = person.get("pose_keypoints_2d", [])
            need(isinstance(values, list) and len(values) % 3 == 0 and all(is_number(v) for v in values),
                 f"person {rank}: pose_keypoints_2d is not a list of x, y, confidence numbers", f)
            try:
                kp = np.asarray(values, dtype=np.float64).reshape(-1, 3)
            except OverflowError:  # an integer beyond float range
                raise SchemaError(f"person {rank}: a keypoint value is beyond float range", path=f) from None
            if not len(kp):  # Pose2Sim's association writes an empty list where it rejected everyone
                continue
            n_joints = n_joints or len(kp)
            if len(kp) != n_joints:
                raise SchemaError(f"{len(kp)} keypoints where other files have {n_joints}", path=f)
            pid = person.get("person_id")
            pid = pid[0] if isinstance(pid, list) and pid else -1 if pid in (None, []) else pid
            pid = -1 if pid is None else index(pid, f"person {rank}: person_id", f)
            rows[rank if pid == -1 else pid].append((frame, kp.astype(np.float32)))
    if n_joints not in _SETS and rows:
        raise SchemaError(f"{n_joints} keypoints per person: only BODY_25B (25) and COCO (17) are known", path=folder)
    rate = fps or 30.0
    if not fps:  # OpenPose's JSON has no frame rate; every time and speed downstream depends on it
        warn(f"{folder}: OpenPose JSON files carry no frame rate; assuming 30 fps (give --fps to set it)")
    poses = Poses(fps=rate, source=str(folder), meta={"imported_from": "openpose", **({} if fps else {"assumed_fps": rate})})
    for tid in sorted(rows):
        frames = np.array([f for f, _ in rows[tid]])
        kp = np.stack([k for _, k in rows[tid]])
        conf = np.clip(kp[..., 2], 0, 1)
        pts = np.where((conf > 0)[..., None], kp[..., :2], np.nan)  # OpenPose writes 0, 0, 0 for a missing joint
        poses.tracks.append(Track(tid, frames, frames / rate, {KEYPOINTS_2D: Keypoints(_SETS[n_joints], pts, conf)}))
    return poses.validate()
