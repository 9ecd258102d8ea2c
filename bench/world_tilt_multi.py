"""Tilt of ``estimate``'s upright world frame on real footage with several people: the Pose2Sim two-person clips
(``videos/pose2sim_multi/cam01-04``, filmed by the same four calibrated cameras as the balancing trial, so gravity
in each camera's axes is known from ``Calib_qualisys.toml``; no 3D truth of the people is needed). Every camera is
tracked once (all people) and lifted with each up source given, in the same run. Nothing was chosen on these clips.

    python bench/world_tilt_multi.py [--up-weights FILE ...] [--lifter-up] [--verticals both]

Prints one JSON row per camera (tilt in degrees per up source, and the head alone before the floor refines it),
then the medians.
"""
from __future__ import annotations

import argparse
import json
import sys
from itertools import product
from pathlib import Path

import numpy as np

from posecli.console import set_quiet
from posecli.lifting.pipeline import SHIPPED_UP, estimate_poses
from posecli.lifting.world import tilt_degrees
from posecli.synth.rig import read_calibration
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.weights_registry import weight_path

sys.path.insert(0, str(Path(__file__).parent))
from estimate_pose2sim import VERTICALS  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEOS = SHARED / "videos" / "pose2sim_multi"
CALIBRATION = SHARED / "multiview" / "pose2sim_session" / "S00_Calibration" / "Calib_qualisys.toml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None, help="lifter weights (default: the shipped lifter)")
    ap.add_argument("--up-weights", nargs="+", default=[SHIPPED_UP], help="up sources as estimate --up-weights")
    ap.add_argument("--lifter-up", action="store_true", help="also the lifter's own up head")
    ap.add_argument("--verticals", choices=list(VERTICALS), default="on", help="estimate's up from the scene's "
                    "vertical lines: on (estimate's default), off, or both in the same run")
    args = ap.parse_args()
    if not VIDEOS.is_dir() or not CALIBRATION.is_file():
        sys.exit(f"bench: {VIDEOS} or {CALIBRATION} not found (../shared/data absent)")
    set_quiet(True)
    lifter = weight_path("estimate", args.weights)
    sources = {("shipped_up" if u == SHIPPED_UP else Path(u).stem): u for u in args.up_weights}
    if args.lifter_up:
        sources["lifter_up"] = None
    calib = {c.name.replace("_", ""): c for c in read_calibration(CALIBRATION)}
    rows = []
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        tracked = track_video(VIDEOS / f"{cam}.mp4", BlazePoseBackend(), TrackOptions())
        gravity = calib[cam].R[0][:, 1]  # the calibration world is Z up: its +Z in this camera's axes
        row = {"camera": cam, "tracks": len(tracked.tracks)}
        for (name, up), (vert, vsfx) in product(sources.items(), VERTICALS[args.verticals]):
            world = estimate_poses(tracked, lifter, up_weights=up, verticals=vert).meta["world"]
            row[f"{name}{vsfx}_tilt_deg"] = round(tilt_degrees(world["up_camera"], gravity), 2)
            row[f"{name}{vsfx}_head_only_deg"] = round(tilt_degrees(world["up_head"], gravity), 2)
            row[f"{name}{vsfx}_up_source"] = world["up_source"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({k: round(float(np.median([r[k] for r in rows])), 2) for k in rows[0] if k.endswith("_deg")}))


if __name__ == "__main__":
    main()
