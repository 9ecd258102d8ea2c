"""Benchmark ``track``: posecli end to end vs the bare MediaPipe Pose loop, same videos, same run.

Rows per video: ``bare-mediapipe`` (PyAV decode + ``mp.solutions.pose.Pose.process``, nothing else: the loop
users write by hand), ``mediapipe-single`` (that model inside posecli's pipeline) and ``blazepose`` (posecli's
multi-person runner, the default; ``blazepose-torch``: its models ported to torch), each with the fps ratio to the bare loop. Prints one JSON object per row,
then a table. Usage:

    python bench/track_bench.py [VIDEO ...]        # default: three clips from ../shared/data/videos
    python bench/track_bench.py --only blazepose --baseline d598249 --rounds 2 [VIDEO ...]

``--baseline REV`` adds a ``blazepose`` row from the code of a git revision (checked out in a worktree, run in a
subprocess) right after today's on each clip; ``--rounds N`` repeats everything N times, alternating, so that both
sides see the same load (timings on a 2-core machine vary by 5-10 % from run to run).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from posecli.console import set_quiet
from posecli.poses import BOXES
from posecli.track.backends import BACKENDS
from posecli.track.pipeline import TrackOptions, track_video

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
DEFAULT = [SHARED / "pose2sim_single" / "cam01.mp4", SHARED / "pose2sim_multi" / "cam01.mp4",
           SHARED / "sports2d" / "demo.mp4"]


def jumps(track) -> int:
    """Consecutive detections whose box centre moves more than half a body height: suspected ID switches."""
    b = track.arrays[BOXES]
    c = (b[:, :2] + b[:, 2:]) / 2
    h = np.maximum(b[:, 3] - b[:, 1], 1)
    step = np.diff(track.frames) == 1
    d = np.linalg.norm(np.diff(c, axis=0), axis=1) / h[1:]
    return int((d[step] > 0.5).sum())


def bare_mediapipe(video: Path) -> dict:
    import av
    import mediapipe as mp

    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    t0 = time.perf_counter()
    n = found = 0
    with av.open(str(video)) as c:
        for frame in c.decode(video=0):
            res = pose.process(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
            n += 1
            found += res.pose_landmarks is not None
    wall = time.perf_counter() - t0
    pose.close()
    return {"video": f"{video.parent.name}/{video.name}", "backend": "bare-mediapipe", "frames": n,
            "seconds": round(wall, 2), "fps": round(n / wall, 1), "person_frames_per_s": round(found / wall, 1),
            "frames_with_person": found, "tracks": None,
            "track_frames": [], "suspected_switches": None}


VARIANTS = {"mediapipe-single": ("mediapipe-single", {}), "blazepose": ("blazepose", {}),
            # the same models ported to torch (track --backend blazepose-torch), on the CPU here
            "blazepose-torch": ("blazepose", {"runtime": "torch"}),
            # without the periodic small-person search (track --pyramid-every 0): what it costs
            "blazepose-no-pyramid": ("blazepose", {"pyramid_every": 0}),
            # the small-person search down to the level-3 grid always, or never (the default: while someone
            # followed is small)
            "blazepose-levels-3": ("blazepose", {"pyramid_levels": 3}),
            "blazepose-levels-2": ("blazepose", {"pyramid_levels": 2}),
            # one person followed (track --max-persons 1): what the bare loop does
            "blazepose-one-person": ("blazepose", {"max_persons": 1})}


def run(video: Path, variant: str) -> dict:
    backend_name, kwargs = VARIANTS[variant]
    backend = BACKENDS[backend_name](**kwargs)
    t0 = time.perf_counter()
    poses = track_video(video, backend, TrackOptions(max_persons=kwargs.get("max_persons")))
    wall = time.perf_counter() - t0
    frames_with_person = len(set(np.concatenate([t.frames for t in poses.tracks]).tolist())) if poses.tracks else 0
    return {"video": f"{video.parent.name}/{video.name}", "backend": variant, "frames": poses.num_frames,
            "seconds": round(wall, 2), "fps": round(poses.num_frames / wall, 1),
            "person_frames_per_s": round(sum(len(t) for t in poses.tracks) / wall, 1),
            "frames_with_person": frames_with_person, "tracks": len(poses.tracks),
            "track_frames": [len(t) for t in poses.tracks],
            "suspected_switches": sum(jumps(t) for t in poses.tracks)}


BASELINE_ROW = """
import json, sys
sys.path.insert(0, "bench")
from pathlib import Path
from posecli.console import set_quiet
import track_bench
set_quiet(True)
print(json.dumps(track_bench.run(Path(sys.argv[1]), "blazepose")))
"""


def baseline_row(video: Path, rev: str) -> dict:
    """The ``blazepose`` row of ``rev``'s code (its own bench/track_bench.py), in a subprocess from its worktree."""
    from track_mot import worktree

    source = worktree(rev)
    out = subprocess.run([sys.executable, "-c", BASELINE_ROW, str(video.resolve())], cwd=source, check=True,
                         env=dict(os.environ, PYTHONPATH=str(source)), capture_output=True, text=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["backend"] = f"blazepose@{rev}"
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--only", nargs="+", choices=list(VARIANTS), help="today's rows to run (default: all)")
    ap.add_argument("--baseline", help="git revision whose blazepose row runs beside today's")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    set_quiet(True)
    missing = [v for v in args.videos if not v.exists()]
    if missing:
        sys.exit(f"bench: missing {missing[0]} (../shared/data absent?)")
    rows = []
    for round_ in range(args.rounds):
        for v in args.videos:
            base = bare_mediapipe(v)
            jobs = [lambda name=name: run(v, name) for name in args.only or VARIANTS]
            if args.baseline:
                jobs.append(lambda: baseline_row(v, args.baseline))
            for row in [base] + [job() for job in jobs]:
                row["round"] = round_
                row["ratio"] = round(row["fps"] / base["fps"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\nround | video                      | backend          |  fps | ratio | person-frames/s | "
          "frames w/ person | tracks (frames each)")
    for r in rows:
        print(f"{r['round']:5d} | {r['video']:<26} | {r['backend']:<20} | {r['fps']:4.1f} | {r['ratio']:5.2f} | "
              f"{r['person_frames_per_s']:15.1f} |"
              f" {r['frames_with_person']:>4}/{r['frames']:<11} | {r['tracks']} {r['track_frames']}")


if __name__ == "__main__":
    main()
