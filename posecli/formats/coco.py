"""COCO keypoint *results* JSON: a list of {image_id, category_id, keypoints [x, y, v]*17, score, bbox}.

``image_id`` is the frame index and ``track_id`` the track (as PoseTrack does); a missing joint is (0, 0, 0);
``v`` carries the joint confidence. COCO files have no fps: the reader takes it as a parameter.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..errors import SchemaError
from ..poses import BOXES, KEYPOINTS_2D, Keypoints, Poses, Track
from .checks import index, is_number, need
from .layers import pick_layer


def to_coco(poses: Poses, layer: str | None = None) -> list[dict[str, Any]]:
    out = []
    for t in poses.validate().tracks:
        _, kp = pick_layer(t, 2, layer)
        pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
        for i, frame in enumerate(t.frames):
            seen = conf[i] > 0
            flat = np.zeros((17, 3), dtype=np.float64)
            flat[seen, :2] = pts[i, seen]
            flat[seen, 2] = conf[i, seen]
            if BOXES in t.arrays and np.isfinite(t.arrays[BOXES][i]).all():
                x0, y0, x1, y1 = (float(v) for v in t.arrays[BOXES][i])
            elif seen.any():
                (x0, y0), (x1, y1) = pts[i, seen].min(0), pts[i, seen].max(0)
            else:
                continue  # nothing of this person in this frame: COCO has no way to say "present, no joints"
            out.append({"image_id": int(frame), "category_id": 1, "track_id": t.id,
                        "keypoints": [round(float(v), 3) for v in flat.reshape(-1)],
                        "score": round(float(conf[i, seen].mean()) if seen.any() else 0.0, 5),
                        "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]})
    return out


def write_coco(poses: Poses, path: str | Path, layer: str | None = None) -> None:
    text = json.dumps(to_coco(poses, layer))
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def looks_like_coco(doc: Any) -> bool:
    items = doc.get("annotations") if isinstance(doc, dict) else doc
    return isinstance(items, list) and (not items or (isinstance(items[0], dict) and "keypoints" in items[0]))


def from_coco(doc: Any, path: str | Path, fps: float | None = None) -> Poses:
    """Results lists and ground-truth files (``annotations``) both work; without ``track_id`` the n-th person
    of every image becomes track n."""
    items = doc.get("annotations") if isinstance(doc, dict) else doc
    by_track: dict[int, list[tuple[int, np.ndarray, list[float] | None]]] = defaultdict(list)
    rank: dict[int, int] = defaultdict(int)
    try:
        for it in items:
            need(isinstance(it, dict), "an entry is not a {\"image_id\", \"keypoints\", ...} object", path)
            frame = index(it["image_id"], "image_id", path)
            kp = np.asarray(it["keypoints"], dtype=np.float64).reshape(-1, 3)
            if kp.shape[0] != 17:
                raise SchemaError(f"image {frame}: {kp.shape[0]} keypoints, COCO results have 17", path=path)
            tid = it.get("track_id")
            if tid is None:
                tid, rank[frame] = rank[frame], rank[frame] + 1
            box = it.get("bbox")
            need(box is None or (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)),
                 f"image {frame}: bbox is not [x, y, width, height]", path)
            by_track[index(tid, "track_id", path)].append((frame, kp, box))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"malformed COCO keypoints ({type(exc).__name__}: {str(exc)[:100]})", path=path) from None
    rate = fps or 30.0
    poses = Poses(fps=rate, source=None, meta={"imported_from": "coco-json", **({} if fps else {"assumed_fps": rate})})
    for tid in sorted(by_track):
        rows = sorted(by_track[tid], key=lambda r: r[0])
        frames = np.array([r[0] for r in rows])
        if (np.diff(frames) == 0).any():
            raise SchemaError(f"track {tid} appears twice in one image", "give each person a track_id", path)
        kp = np.stack([r[1] for r in rows])
        conf = np.clip(kp[..., 2], 0, 1).astype(np.float32)  # ground-truth files use v in {0, 1, 2}
        pts = np.where((conf > 0)[..., None], kp[..., :2], np.nan)
        arrays = {}
        if all(r[2] is not None for r in rows):
            b = np.asarray([r[2] for r in rows], dtype=np.float32)
            arrays[BOXES] = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:4]], axis=1)
        poses.tracks.append(Track(tid, frames, frames / rate, {KEYPOINTS_2D: Keypoints("coco17", pts, conf)}, arrays))
    return poses.validate()
