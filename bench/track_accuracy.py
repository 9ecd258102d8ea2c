"""2D accuracy of ``track`` against OpenPose BODY_25B on the Pose2Sim balancing trial, per camera.

Same protocol as ../shared/notes/reference_measurements.md section 3: the 13 joints both models share
(nose, shoulders, elbows, wrists, hips, knees, ankles), only where OpenPose's confidence > 0; the torso is
OpenPose's mid-shoulder to mid-hip distance in that frame; error / torso and PCK@0.2 (and @0.1). A frame counts
as left/right-swapped when mirroring our pose lowers its mean error by more than half. In the same process:
MediaPipe's legacy one-person solution as it comes, and posecli's multi-person BlazePose without and with
track's left/right pass (``track.sides``, on by default). Usage:

    python bench/track_accuracy.py            # prints JSON per (camera, backend), then a table
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

from posecli import joints
from posecli.console import set_quiet
from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D
from posecli.track.backends import BACKENDS
from posecli.track.pipeline import TrackOptions, track_video

TRIAL = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multiview" / "pose2sim_session"
         / "S00_P00_SingleParticipant" / "S00_P00_T01_BalancingTrial")
CORE13 = [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]  # COCO indices
# (row name, backend, track's left/right pass): MediaPipe as it comes (the reference note's protocol check),
# posecli's BlazePose without and with the pass (track's default)
VARIANTS = (("mediapipe-single", "mediapipe-single", False), ("blazepose --no-sides", "blazepose", False),
            ("blazepose", "blazepose", True))


def dense(track, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 17, 2) points and (n, 17) confidences indexed by frame; missing frames NaN / 0."""
    kp = track.keypoints[KEYPOINTS_2D]
    pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
    out, c = np.full((n, 17, 2), np.nan, np.float32), np.zeros((n, 17), np.float32)
    keep = track.frames < n
    out[track.frames[keep]], c[track.frames[keep]] = pts[keep], conf[keep]
    return out, c


def score(ours: np.ndarray, ref: np.ndarray, ref_conf: np.ndarray) -> dict:
    torso = np.linalg.norm((ref[:, 5] + ref[:, 6]) / 2 - (ref[:, 11] + ref[:, 12]) / 2, axis=-1)
    err = np.linalg.norm(ours - ref, axis=-1)[:, CORE13] / torso[:, None]
    flipped = np.linalg.norm(ours[:, joints.COCO17.flip_permutation] - ref, axis=-1)[:, CORE13] / torso[:, None]
    valid = (ref_conf[:, CORE13] > 0) & np.isfinite(torso)[:, None]
    found = valid & np.isfinite(err)
    e = err[found]
    warnings.filterwarnings("ignore", "Mean of empty slice")  # frames without a reference pose
    per_frame = np.nanmean(np.where(found, err, np.nan), axis=1)
    per_frame_flip = np.nanmean(np.where(found, flipped, np.nan), axis=1)
    return {"joints": int(valid.sum()), "detected": round(float(found.sum() / valid.sum()), 3),
            "mean_err_over_torso": round(float(e.mean()), 3), "median_err_px": round(float(np.median(
                np.linalg.norm(ours - ref, axis=-1)[:, CORE13][found])), 1),
            "pck@0.2": round(float((err[valid] < 0.2).mean()), 3), "pck@0.1": round(float((err[valid] < 0.1).mean()), 3),
            "lr_swapped_frames": int(np.nansum(per_frame_flip < 0.5 * per_frame))}


def main() -> None:
    if not TRIAL.is_dir():
        sys.exit(f"bench: {TRIAL} not found (../shared/data absent)")
    set_quiet(True)
    rows = []
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        ref_poses = read_poses(TRIAL / "pose-associated" / f"{cam}_json", fps=60)
        video = TRIAL / "videos" / f"{cam}.mp4"
        n = 100
        ref, ref_conf = dense(ref_poses.tracks[0], n)
        for name, backend, sides in VARIANTS:
            poses = track_video(video, BACKENDS[backend](), TrackOptions(sides=sides))
            ours, _ = dense(poses.tracks[0], n) if poses.tracks else (np.full((n, 17, 2), np.nan), None)
            rows.append({"camera": cam, "backend": name, **score(ours, ref, ref_conf)})
            print(json.dumps(rows[-1]), flush=True)
    print("\ncamera | backend              | err/torso | PCK@0.2 | PCK@0.1 | median px | L/R swapped frames")
    for r in rows:
        print(f"{r['camera']:<6} | {r['backend']:<20} | {r['mean_err_over_torso']:9.3f} | {r['pck@0.2']:7.3f} |"
              f" {r['pck@0.1']:7.3f} | {r['median_err_px']:9.1f} | {r['lr_swapped_frames']}")
    for name, _, _ in VARIANTS:
        sel = [r for r in rows if r["backend"] == name]
        w = np.array([r["joints"] for r in sel], float)
        print(f"overall {name}: err/torso {np.average([r['mean_err_over_torso'] for r in sel], weights=w):.3f}, "
              f"PCK@0.2 {np.average([r['pck@0.2'] for r in sel], weights=w):.3f}")


if __name__ == "__main__":
    main()
