"""Left/right label flips in ``track``'s 2D, before and after ``track.sides`` (same tracks, same run).

Each video is tracked once with the left/right pass off (``TrackOptions(sides=False)``); the pass is then
applied to those very tracks with each ``--per-second`` state cost (``sides.consistent_sides``, the function
``track`` runs before smoothing), so every row is scored on the same detections. Truth:
- ``--renders DIR``: ``posecli synth`` output (DIR/clip_*/cam_*.npz beside their .mp4): exact 2D of the one
  person, COCO joints counted where they are inside the image;
- ``--pose2sim``: the Pose2Sim balancing trial, OpenPose BODY_25B per camera (as ``bench/track_accuracy.py``).
Per frame, "swapped" when mirroring our pose's labels halves its error (whole body: 13 joints; legs: knees and
ankles); error / person height (renders) or / OpenPose's torso (Pose2Sim). Usage:

    python bench/track_sides.py --renders DIR --per-second 0.1 0.25 0.5 1 2
    python bench/track_sides.py --pose2sim
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from posecli import joints
from posecli.console import set_quiet
from posecli.formats import read_poses
from posecli.poses import BOXES, KEYPOINTS_2D
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import BLAZEPOSE_2D, TrackOptions, track_video
from posecli.track.sides import PER_SECOND, make_consistent

TRIAL = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multiview" / "pose2sim_session"
         / "S00_P00_SingleParticipant" / "S00_P00_T01_BalancingTrial")
CORE13 = np.array([0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])  # COCO indices
LEGS = np.array([13, 14, 15, 16])
FLIP = joints.COCO17.flip_permutation


def variants(track, values: list[float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (T, 17, 2) COCO points of ``track`` (tracked with the pass off) raw and after the pass."""
    kp = track.keypoints[BLAZEPOSE_2D]
    height = track.arrays[BOXES][:, 3] - track.arrays[BOXES][:, 1]
    out = {"raw": joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")}
    for v in values:
        pts, conf, _ = make_consistent(kp.points, kp.confidence, track.times, height, kp.joint_set, per_second=v)
        out[f"sides {v:g}"] = joints.convert(pts, conf, kp.joint_set, "coco17")
    return out


def frame_scores(ours: np.ndarray, ref: np.ndarray, valid: np.ndarray, size: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame sums over valid joints: error / size, and the counts of whole-body and legs-only flips."""
    err = np.linalg.norm(ours - ref, axis=-1) / size[:, None]
    flip = np.linalg.norm(ours[:, FLIP] - ref, axis=-1) / size[:, None]
    found = valid & np.isfinite(err)

    def flipped(sel: np.ndarray) -> np.ndarray:
        m = found[:, sel]
        e = np.where(m, err[:, sel], 0).sum(1) / np.maximum(m.sum(1), 1)
        f = np.where(m, flip[:, sel], 0).sum(1) / np.maximum(m.sum(1), 1)
        return (m.sum(1) >= 2) & (f < 0.5 * e)
    return {"err": np.where(found, err, 0)[:, CORE13].sum(), "joints": found[:, CORE13].sum(),
            "pck": (found & (err < 0.1))[:, CORE13].sum(), "valid": valid[:, CORE13].sum(),
            "swapped": flipped(CORE13).sum(), "legs_swapped": flipped(LEGS).sum(), "frames": len(ours)}


def renders(root: Path):
    for truth_file in sorted(root.glob("clip_*/cam_*.npz")):
        truth = read_poses(truth_file)
        gt = truth.tracks[0]
        ref = gt.keypoints[KEYPOINTS_2D].points
        inside = np.isfinite(ref).all(-1) & (ref[..., 0] >= 0) & (ref[..., 0] < truth.width) \
            & (ref[..., 1] >= 0) & (ref[..., 1] < truth.height)
        height = np.nanmax(ref[..., 1], 1) - np.nanmin(ref[..., 1], 1)
        yield f"{truth_file.parent.name}/{truth_file.stem}", truth_file.with_suffix(".mp4"), gt.frames, ref, \
            inside & (gt.arrays["visibility_coco17"] > 0), height


def pose2sim():
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        ref_poses = read_poses(TRIAL / "pose-associated" / f"{cam}_json", fps=60)
        t = ref_poses.tracks[0]
        kp = t.keypoints[KEYPOINTS_2D]
        ref, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
        keep = t.frames < 100
        torso = np.linalg.norm((ref[:, 5] + ref[:, 6]) / 2 - (ref[:, 11] + ref[:, 12]) / 2, axis=-1)
        yield cam, TRIAL / "videos" / f"{cam}.mp4", t.frames[keep], ref[keep], conf[keep] > 0, torso[keep]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=Path, help="a posecli synth output folder")
    ap.add_argument("--pose2sim", action="store_true", help="the Pose2Sim balancing trial (../shared)")
    ap.add_argument("--per-second", type=float, nargs="+", default=[PER_SECOND])
    args = ap.parse_args()
    if args.pose2sim and not TRIAL.is_dir():
        sys.exit(f"bench: {TRIAL} not found (../shared/data absent)")
    if not args.pose2sim and not (args.renders and any(args.renders.glob("clip_*/cam_*.npz"))):
        sys.exit("bench: give --renders DIR (a posecli synth output folder) or --pose2sim")
    set_quiet(True)
    totals: dict[str, dict[str, float]] = {}
    for name, video, frames, ref, valid, size in (pose2sim() if args.pose2sim else renders(args.renders)):
        tracked = track_video(video, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, sides=False))
        if not tracked.tracks:
            continue
        t = tracked.tracks[0]
        common, ours_i, ref_i = np.intersect1d(t.frames, frames, return_indices=True)
        row = {"video": name, "frames": len(common)}
        for variant, (pts, _) in variants(t, args.per_second).items():
            s = frame_scores(pts[ours_i], ref[ref_i], valid[ref_i], size[ref_i])
            row[variant] = {"swapped": int(s["swapped"]), "legs_swapped": int(s["legs_swapped"]),
                            "err": round(float(s["err"] / max(s["joints"], 1)), 4)}
            acc = totals.setdefault(variant, {})
            for k, v in s.items():
                acc[k] = acc.get(k, 0) + float(v)
        print(json.dumps(row), flush=True)
    summary = {v: {"frames": int(a["frames"]), "swapped_frames": int(a["swapped"]),
                   "legs_swapped_frames": int(a["legs_swapped"]), "mean_err": round(a["err"] / a["joints"], 4),
                   "pck@0.1": round(a["pck"] / a["valid"], 4)} for v, a in totals.items()}
    print(json.dumps({"all": summary}))


if __name__ == "__main__":
    main()
