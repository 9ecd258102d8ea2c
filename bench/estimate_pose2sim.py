"""3D accuracy of ``estimate`` on real video: the Pose2Sim balancing trial, per camera, against the markers
triangulated from 4 calibrated cameras (a pseudo ground truth), side by side with BlazePose's own 3D world
landmarks (what MediaPipe gives) computed in the same run.

Joints compared: the 12 limb joints both sides define the same way (hips, knees, ankles, shoulders, elbows,
wrists). TRC marker -> H36M-17 map: RHip/LHip -> right_hip/left_hip, RKnee/LKnee, RAnkle/LAnkle, RShoulder/
LShoulder, RElbow/LElbow, RWrist/LWrist to the joints of the same name (Pose2Sim's markers are OpenPose BODY_25B
points triangulated, so they are detector-style joint positions). Face, neck and spine are left out: the three
sources define them differently (BlazePose has no neck, H36M's spine and thorax are virtual).
``posecli estimate``'s output (the lifter blended with BlazePose's own 3D, ``lifting.fusion``) and the lifter
alone are both reported. PA-MPJPE: per-frame similarity alignment (rotation, scale, translation; no reflection), so camera placement
and metric scale do not enter. Tilt: the angle between ``keypoints3d_world``'s up direction (the file's meta
``world.up_camera``; ``tilt_head_only``: the up head before the floor refines it, ``world.up_head``; the up head is
estimate's, the shipped gravity model's unless ``--up-weights`` says otherwise; ``--lifter-up`` adds rows with the
lifter's own head) and the calibration's gravity in that camera's axes (the calibration world is Z up). Frame f
of a video is compared with TRC frame f (the reference note found offset 0 best). Usage:

    python bench/estimate_pose2sim.py [--weights weights/estimate_sps.safetensors [OTHER.safetensors ...]] [--lifter-up]
    python bench/estimate_pose2sim.py --sides both     # track with and without its left/right pass, same run
    python bench/estimate_pose2sim.py --verticals both # the up from the scene's vertical lines, and without
"""
from __future__ import annotations

import argparse
import json
import sys
from itertools import product
from pathlib import Path

import numpy as np

from posecli import joints
from posecli.console import set_quiet
from posecli.formats import read_poses
from posecli.lifting.pipeline import SHIPPED_UP, estimate_poses
from posecli.metrics import pa_mpjpe, procrustes_align
from posecli.poses import KEYPOINTS_3D
from posecli.lifting.world import tilt_degrees
from posecli.synth.rig import read_calibration
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import BLAZEPOSE_WORLD, TrackOptions, track_video
from posecli.weights_registry import weight_path

TRIAL = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multiview" / "pose2sim_session"
         / "S00_P00_SingleParticipant" / "S00_P00_T01_BalancingTrial")
LIMBS = [f"{s}_{p}" for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist") for s in ("left", "right")]


def by_name(layer_points: np.ndarray, joint_set: str) -> np.ndarray:
    js = joints.get(joint_set)
    return layer_points[..., [js.index(n) for n in LIMBS], :]


def up_variants(weights: dict, ups: list, lifter_up: bool) -> list[tuple[str, Path, str | None]]:
    """(row name, lifter weights, up source) for every lifter with every gravity model (named NAME+STEM when
    there are several) and, with ``lifter_up``, with its own up head (NAME:lifter-up)."""
    runs = [(n if len(ups) == 1 else f"{n}+{Path(up).stem}", w, up) for up in ups for n, w in weights.items()]
    return runs + ([(n + ":lifter-up", w, None) for n, w in weights.items()] if lifter_up else [])


# --sides: track with the left/right pass (track.sides) on, off, or both in one run (rows of "off" end in :no-sides)
SIDES = {"on": [(True, "")], "off": [(False, "")], "both": [(True, ""), (False, ":no-sides")]}
# --verticals: estimate's up from the scene's vertical lines (lifting.verticals) on, off, or both (":no-verticals")
VERTICALS = {"on": [(True, "")], "off": [(False, "")], "both": [(True, ""), (False, ":no-verticals")]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", nargs="+", default=[None],
                    help="one or more estimate weights, side by side on the same tracks (default: shipped)")
    ap.add_argument("--up-weights", nargs="+", default=[SHIPPED_UP], help="the gravity model giving the up "
                    "direction, as ``estimate --up-weights`` (default: estimate's, the shipped one); several: each "
                    "weights file runs with each, named NAME+STEM")
    ap.add_argument("--lifter-up", action="store_true", help="also run every weights file with its own up head "
                    "(``estimate --lifter-up``), named NAME:lifter-up")
    ap.add_argument("--sides", choices=list(SIDES), default="on", help="track's left/right pass: on (track's "
                    "default), off, or both in the same run")
    ap.add_argument("--verticals", choices=list(VERTICALS), default="on", help="estimate's up from the scene's "
                    "vertical lines: on (estimate's default), off, or both in the same run")
    args = ap.parse_args()
    if not TRIAL.is_dir():
        sys.exit(f"bench: {TRIAL} not found (../shared/data absent)")
    set_quiet(True)
    runs = up_variants({Path(w).stem: w for w in (weight_path("estimate", w) for w in args.weights)},
                       args.up_weights, args.lifter_up)
    names, all_weights, ups = (list(x) for x in zip(*runs))
    trc = read_poses(TRIAL / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc")
    gt_layer = trc.tracks[0].keypoints[KEYPOINTS_3D]
    gt = by_name(gt_layer.points, gt_layer.joint_set)  # (100, 12, 3) metres, world frame
    rows = []
    per_joint: dict[str, list] = {}
    calib = {c.name.replace("_", ""): c for c in read_calibration(
        TRIAL.parent.parent / "S00_Calibration" / "Calib_qualisys.toml")}
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        row = {"camera": cam}
        for sides, sfx in SIDES[args.sides]:
            tracked = track_video(TRIAL / "videos" / f"{cam}.mp4", BlazePoseBackend(max_persons=1),
                                  TrackOptions(max_persons=1, sides=sides))
            t = tracked.tracks[0]
            frames = t.frames[t.frames < len(gt)]
            keep = np.isin(t.frames, frames)
            g = gt[frames]
            row["frames"] = int(len(frames))
            for (name, weights, up_weights), (vert, vsfx) in product(zip(names, all_weights, ups),
                                                                     VERTICALS[args.verticals]):
                result = estimate_poses(tracked, weights, up_weights=up_weights, verticals=vert)
                lifted = result.tracks[0]  # the default output: blended (lifting.fusion)
                tag = ("posecli_estimate" if len(names) == 1 else name) + sfx + vsfx
                if "world" in result.meta:
                    for key, up in (("tilt", "up_camera"), ("tilt_head_only", "up_head")):
                        row[f"{tag}_{key}_deg"] = round(tilt_degrees(result.meta["world"][up],
                                                                     calib[cam].R[0][:, 1]), 2)
                for key, arr in ((f"{tag}_pa_mpjpe_mm", "keypoints3d_all"),
                                 (f"{tag}_lifter_only_pa_mpjpe_mm", "keypoints3d_lifter")):
                    pred = by_name(lifted.arrays[arr][keep], "h36m17")
                    row[key] = round(1000 * pa_mpjpe(pred, g), 1)
                    per_joint.setdefault(key, []).append(np.linalg.norm(procrustes_align(pred, g) - g, axis=-1))
            bp = t.keypoints[BLAZEPOSE_WORLD]
            blaze = by_name(bp.points[keep], bp.joint_set)
            per_joint.setdefault(f"blazepose_world{sfx}_pa_mpjpe_mm", []).append(
                np.linalg.norm(procrustes_align(blaze, g) - g, axis=-1))
            row.update({f"blazepose_world{sfx}_pa_mpjpe_mm": round(1000 * pa_mpjpe(blaze, g), 1),
                        "mean_pose_baseline_pa_mpjpe_mm": round(1000 * pa_mpjpe(np.repeat(
                            (g - g.mean(1, keepdims=True)).mean(0, keepdims=True), len(g), 0), g), 1)})
        rows.append(row)
        print(json.dumps(row), flush=True)
    tilts = [k for k in rows[0] if k.endswith("_deg")]
    for k in tilts:
        print(f"{k}: median {np.median([r[k] for r in rows]):.2f} (per camera {[r[k] for r in rows]})")
    keys = [k for k in rows[0] if k.endswith("_mm")]
    print("\n(PA-MPJPE mm, 12 limb joints)\ncamera | " + " | ".join(keys))
    for r in rows:
        print(f"{r['camera']:<6} | " + " | ".join(f"{r[k]:.1f}" for k in keys))
    w = np.array([r["frames"] for r in rows], float)
    for k in keys:
        print(f"overall {k}: {np.average([r[k] for r in rows], weights=w):.1f}")
    print("\nper joint, all cameras (PA-aligned, mm):\n" + " " * 40 + " ".join(f"{n[:11]:>11}" for n in LIMBS))
    for k, errs in per_joint.items():
        print(f"{k[:40]:<40}" + " ".join(f"{1000 * e:11.1f}" for e in np.concatenate(errs).mean(0)))


if __name__ == "__main__":
    main()
