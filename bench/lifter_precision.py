"""What half precision would change in the lifter's 3D: ``lift_track`` under ``torch.autocast`` (float16 and
bfloat16) against float32, on every track of one video, in one run. Emulated on the CPU (autocast rounds the
same operations a GPU run would), so the figures are the numerical change, not a speed. Prints JSON.

    python bench/lifter_precision.py [VIDEO] [--weights FILE] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from posecli.console import set_quiet
from posecli.lifting.pipeline import lift_track, load_lifter
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.weights_registry import weight_path

DEFAULT = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default=str(DEFAULT))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    set_quiet(True)
    model, card = load_lifter(weight_path("estimate", args.weights), args.device)
    window = int(card["config"].get("length", 32))
    poses = track_video(args.video, BlazePoseBackend(), TrackOptions())

    def lift(track, dtype=None):
        if dtype is None:
            return lift_track(model, track, window, poses.width, poses.height, device=args.device)
        with torch.autocast(torch.device(args.device).type, dtype=dtype):
            return lift_track(model, track, window, poses.width, poses.height, device=args.device)

    row = {"video": Path(args.video).name, "tracks": len(poses.tracks),
           "frames": int(sum(len(t) for t in poses.tracks))}
    for name, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        joints, roots = [], []
        for track in poses.tracks:
            ref, out = (lift(track, d).arrays["keypoints3d_all"] for d in (None, dtype))
            joints.append(np.linalg.norm((out - out[:, :1]) - (ref - ref[:, :1]), axis=-1).ravel())
            roots.append(np.linalg.norm(out[:, 0] - ref[:, 0], axis=-1))
        j, r = np.concatenate(joints) * 1000, np.concatenate(roots) * 1000
        row[name] = {"root_relative_mm_mean": round(float(j.mean()), 3),
                     "root_relative_mm_max": round(float(j.max()), 3),
                     "root_mm_mean": round(float(r.mean()), 2), "root_mm_max": round(float(r.max()), 2)}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
