"""``estimate --model css`` on real video: the Pose2Sim balancing trial's 4 cameras against the markers
triangulated from the calibrated cameras, beside the keypoint lifter (``posecli estimate``'s default, and the
lifter alone) on the same frames, one run.

CSS predicts a pelvis-centred pose in the camera's axes and no root, so the comparison is PA-MPJPE (per-frame
similarity alignment) on the 12 limb joints of ``bench/estimate_pose2sim.py``. Give several CSS weight files to
compare e.g. a model trained on renders with one adapted to the trial's own videos:

    posecli train css --init R/css.safetensors --data videos:../shared/data/multiview/pose2sim_session/\
S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/videos --labels cache:FRAMES_TRAIN ... -o R/css_p2s.safetensors
    python bench/css_pose2sim.py --weights R/css.safetensors R/css_p2s.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimate_pose2sim import LIMBS, by_name  # noqa: E402
from vipe_pose2sim import CAMS, TRIAL, truth_h36m  # noqa: E402

from posecli.console import set_quiet  # noqa: E402
from posecli.css.pipeline import css_poses  # noqa: E402
from posecli.metrics import pa_mpjpe  # noqa: E402
from posecli.poses import KEYPOINTS_3D  # noqa: E402
from posecli.weights_registry import weight_path  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", nargs="+", required=True, help="CSS weight files (posecli train css)")
    args = ap.parse_args()
    if not TRIAL.is_dir():
        sys.exit(f"bench: {TRIAL} not found (../shared/data absent)")
    set_quiet(True)
    from posecli.lifting.pipeline import estimate_poses
    from posecli.track.backends import BlazePoseBackend
    from posecli.track.pipeline import TrackOptions, track_video

    files = [weight_path("css", w) for w in args.weights]
    gt_all = truth_h36m()
    gt = by_name(gt_all, "h36m17")
    rows = []
    for cam in CAMS:
        video = TRIAL / "videos" / f"{cam}.mp4"
        tracked = track_video(video, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, end=len(gt)))
        t = tracked.tracks[0]
        frames = t.frames[t.frames < len(gt)]
        keep = np.isin(t.frames, frames)
        lifted = estimate_poses(tracked, weight_path("estimate")).tracks[0]
        row = {"camera": cam, "frames": int(len(frames))}
        row["keypoint_lifter_pa_mpjpe_mm"] = round(1000 * pa_mpjpe(
            by_name(lifted.arrays["keypoints3d_all"][keep], "h36m17"), gt[frames]), 1)
        row["keypoint_lifter_only_pa_mpjpe_mm"] = round(1000 * pa_mpjpe(
            by_name(lifted.arrays["keypoints3d_lifter"][keep], "h36m17"), gt[frames]), 1)
        for f in files:
            c = css_poses(video, f, end=len(gt)).tracks[0]
            rows_c = np.isin(c.frames, frames)
            row[f"css[{f.stem}]_pa_mpjpe_mm"] = round(1000 * pa_mpjpe(
                by_name(c.keypoints[KEYPOINTS_3D].points[rows_c], "h36m17"), gt[c.frames[rows_c]]), 1)
        row["mean_pose_pa_mpjpe_mm"] = round(1000 * pa_mpjpe(np.repeat(
            (gt[frames] - gt[frames].mean(1, keepdims=True)).mean(0, keepdims=True), len(frames), 0), gt[frames]), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    w = np.array([r["frames"] for r in rows], float)
    overall = {k: round(float(np.average([r[k] for r in rows], weights=w)), 1) for k in rows[0] if k.endswith("_mm")}
    print(json.dumps({"joints": LIMBS, "overall": overall}))


if __name__ == "__main__":
    main()
