"""Where `complete` and `estimate` put the same person: root depth on the shared videos, one track file each.

Every video is tracked once (``posecli track``'s defaults); ``estimate`` (shipped lifter, ``--blend`` default) and
``complete`` (shipped or given amodal weights) then run on the same tracks. Per track seen on at least 30 frames:
the median over frames of complete's root depth (Z, metres, camera frame) over estimate's, and the median depths.
Issue 20 asks for complete within 10 % of estimate. Usage:

    python bench/complete_root.py [--amodal weights/amodal.safetensors [OTHER ...]] [--videos V ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from posecli.amodal.pipeline import complete_poses
from posecli.console import set_quiet
from posecli.lifting.pipeline import estimate_poses
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.weights_registry import weight_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "videos"
VIDEOS = [ROOT / "examples" / "balance_cam01.mp4", ROOT / "examples" / "two_people_cam01.mp4",
          SHARED / "sports2d" / "demo.mp4", SHARED / "pose2sim_single" / "cam02.mp4",
          SHARED / "pose2sim_multi" / "cam04.mp4"]
MIN_FRAMES = 30


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--amodal", nargs="+", default=[None], help="amodal weights (default: shipped)")
    ap.add_argument("--videos", nargs="+", type=Path, default=VIDEOS)
    args = ap.parse_args()
    videos = [v for v in args.videos if v.is_file()]
    if not videos:
        sys.exit("bench: none of the videos exists (../shared/data absent?)")
    set_quiet(True)
    est_w = weight_path("estimate", None)
    amodal = [weight_path("amodal", w) for w in args.amodal]
    ratios: dict[str, list] = {Path(w).stem: [] for w in amodal}
    for video in videos:
        tracked = track_video(video, BlazePoseBackend(), TrackOptions())
        est = {t.id: t.arrays["root"][:, 2] for t in estimate_poses(tracked, est_w).tracks}
        for w in amodal:
            for t in complete_poses(tracked, w, lifter=est_w).tracks:
                z_c, z_e = t.arrays["root"][:, 2], est.get(t.id)
                ok = np.isfinite(z_c) & np.isfinite(z_e) & (t.keypoints["keypoints3d"].confidence > 0).any(-1)
                if ok.sum() < MIN_FRAMES:
                    continue
                r = float(np.median(z_c[ok] / z_e[ok]))
                ratios[Path(w).stem].append(r)
                print(json.dumps({"video": video.name if video.parent.name == "examples" else
                                  f"{video.parent.name}/{video.name}", "track": t.id, "amodal": Path(w).stem,
                                  "frames": int(ok.sum()), "estimate_z_m": round(float(np.median(z_e[ok])), 2),
                                  "complete_z_m": round(float(np.median(z_c[ok])), 2),
                                  "complete_over_estimate": round(r, 3)}), flush=True)
    for name, r in ratios.items():
        r = np.asarray(r)
        print(json.dumps({"amodal": name, "tracks": len(r), "median_ratio": round(float(np.median(r)), 3),
                          "within_10_percent": int((np.abs(r - 1) <= 0.1).sum()),
                          "worst": round(float(r[np.argmax(np.abs(r - 1))]), 3) if len(r) else None}))


if __name__ == "__main__":
    main()
