"""Memory of ``estimate`` against video length: peak RSS on a 1-minute and a 10-minute video, same run.

The videos loop the bundled example (examples/balance_cam01.mp4, 100 frames at 60 fps, played forward then
backward so the motion has no jump) downscaled to 360x640 at 30 fps: 1,800 and 18,000 frames. Each
``posecli estimate LOOP.mp4 --every 10`` runs in its own process and its peak RSS comes from ``wait4``'s
rusage; every frame is decoded, every 10th is tracked and lifted (--every keeps the 10-minute run to minutes on
a laptop CPU; what could grow with length - decoding, the track arrays, the lifter's windows and the output -
still sees the whole video). Flat memory = the 10-minute peak close to the 1-minute one. Usage:

    python bench/estimate_memory.py [--every 10] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from posecli.video import VideoWriter, read_frames

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"


def make_loop(path: Path, minutes: float, fps: float = 30.0) -> int:
    frames = [cv2.resize(f.image, (360, 640), interpolation=cv2.INTER_AREA)
              for f in read_frames(EXAMPLE, every=2)]  # 60 -> 30 fps
    cycle = frames + frames[-2:0:-1]  # forward then back: no jump at the loop point
    n = int(minutes * 60 * fps)
    with VideoWriter(path, fps=fps, crf=28) as w:
        for i in range(n):
            w.write(cycle[i % len(cycle)])
    return n


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    if status != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed: {err.strip()[-500:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--keep", default=None, help="folder to keep the looped videos in (reused if present)")
    args = ap.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    posecli = str(Path(sys.executable).with_name("posecli"))
    rows = []
    for minutes in (1, 10):
        video = folder / f"loop_{minutes}min.mp4"
        frames = make_loop(video, minutes) if not video.exists() else None
        rss, secs = peak_rss_mb([posecli, "estimate", str(video), "--every", str(args.every), "-q",
                                 "-o", str(folder / f"loop_{minutes}min_poses.npz")])
        rows.append({"video_minutes": minutes, "frames": frames, "every": args.every, "peak_rss_mb": round(rss, 1),
                     "seconds": round(secs, 1)})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"rss_ratio_10min_over_1min": round(rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"], 3)}))


if __name__ == "__main__":
    main()
