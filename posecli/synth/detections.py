"""The real detector's output on a ``posecli synth`` dataset, kept beside each view's truth.

``detect_dataset(ROOT)`` runs ``posecli track``'s pipeline (BlazePose, as at run time: no smoothing, the default
tracker) on every view video that has no ``cam_XX.detections.npz`` yet and writes that file atomically, so a
long run can be interrupted and resumed, and a dataset is detected once however often it is trained on.

``matched_detections(truth, detected)`` then pairs each truth person with the detector's keypoints frame by
frame: a detected track is assigned, per frame, to the truth person whose visible COCO-17 keypoints are
nearest (median distance, at most a quarter of that person's 2D size, so a detection of somebody else or of
the background is never taken for them).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .. import joints
from ..errors import InputError
from ..poses import KEYPOINTS_2D, Poses
from .dataset import read_manifest

SUFFIX = ".detections.npz"
MAX_OFFSET = 0.25  # of the person's 2D size (larger side of the truth keypoints' box)


def load_manifest(root: str | Path) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise InputError("is not a posecli synth dataset (no manifest.json)", "make one with `posecli synth`",
                         Path(root))
    return read_manifest(path, "make the dataset again with `posecli synth`")


def views(root: str | Path) -> list[tuple[Path, Path]]:
    """(video, truth pose file) of every view of every finished clip, in manifest order."""
    root = Path(root)
    return [(root / v["video"], root / v["poses"]) for c in load_manifest(root)["clips"] for v in c["views"]]


def detections_path(truth_file: Path) -> Path:
    return truth_file.with_name(truth_file.stem + SUFFIX)


def detect_dataset(root: str | Path, advance=lambda n=1: None) -> list[Path]:
    """Track every view that has no detections file yet; returns all detections files. ``advance()`` per view."""
    from ..formats import write_poses
    from ..track.backends import BlazePoseBackend
    from ..track.pipeline import TrackOptions, track_video

    manifest = load_manifest(root)
    persons = int(manifest["options"]["persons"])
    out = []
    for video, truth in views(root):
        path = detections_path(truth)
        if not path.is_file():
            poses = track_video(video, BlazePoseBackend(max_persons=persons), TrackOptions(max_persons=persons))
            write_poses(poses, path)  # atomic: an interrupted run leaves no file and redoes this view
        advance()
        out.append(path)
    return out


def matched_detections(truth: Poses, detected: Poses) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per truth track: detected COCO-17 pixels (T, 17, 2) and confidence (T, 17) on the truth's frames, NaN /
    0 where no detection matched that person."""
    cands = []
    for d in detected.tracks:
        kp = d.keypoints[KEYPOINTS_2D]
        pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
        cands.append((np.asarray(d.frames), pts, conf))
    best = []
    for t in truth.tracks:
        kp = t.keypoints[KEYPOINTS_2D]
        n = len(t.frames)
        pts = np.full((n, 17, 2), np.nan, np.float32)
        conf = np.zeros((n, 17), np.float32)
        err = np.full(n, np.inf)
        index = {int(f): i for i, f in enumerate(t.frames)}
        seen = kp.confidence > 0
        box = np.where(seen[..., None], kp.points, np.nan)
        with warnings.catch_warnings():  # frames where the person is wholly out of view: size NaN, skipped
            warnings.simplefilter("ignore", RuntimeWarning)
            size = np.nanmax(np.nanmax(box, 1) - np.nanmin(box, 1), -1)
        for frames, dp, dc in cands:
            for k, f in enumerate(frames):
                i = index.get(int(f))
                if i is None or seen[i].sum() < 3 or not np.isfinite(size[i]):
                    continue
                ok = seen[i] & (dc[k] > 0)
                if ok.sum() < 3:
                    continue
                e = float(np.median(np.linalg.norm(dp[k][ok] - kp.points[i][ok], axis=-1))) / size[i]
                if e < MAX_OFFSET and e < err[i]:
                    err[i], pts[i], conf[i] = e, dp[k], dc[k]
        best.append((pts, conf))
    return best
