"""Cost of lifting: ``estimate`` end to end vs ``track`` alone on the same video, in the same run.

Both start from the video file; ``estimate`` = track + load the lifter + lift every track. Best of 3 runs each,
interleaved so machine load affects both alike. Goal: lifting adds <= 15 % on CPU. Usage:

    python bench/estimate_bench.py [VIDEO] [--weights FILE]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from posecli.console import set_quiet
from posecli.lifting.pipeline import estimate_poses
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.weights_registry import weight_path

DEFAULT = Path(__file__).resolve().parents[1] / "examples" / "two_people_cam01.mp4"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(DEFAULT))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    set_quiet(True)
    weights = weight_path("estimate", args.weights)
    track_s, estimate_s, lift_s = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        poses = track_video(args.video, BlazePoseBackend(), TrackOptions())
        track_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        poses = track_video(args.video, BlazePoseBackend(), TrackOptions())
        t1 = time.perf_counter()
        estimate_poses(poses, weights)
        estimate_s.append(time.perf_counter() - t0)
        lift_s.append(time.perf_counter() - t1)
    frames = poses.num_frames
    row = {"video": Path(args.video).name, "frames": frames, "tracks": len(poses.tracks),
           "track_s": round(min(track_s), 3), "estimate_s": round(min(estimate_s), 3),
           "lift_s": round(min(lift_s), 3), "track_fps": round(frames / min(track_s), 1),
           "estimate_fps": round(frames / min(estimate_s), 1),
           "lifting_overhead_pct": round(100 * min(lift_s) / min(track_s), 1)}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
