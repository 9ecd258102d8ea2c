"""`posecli batch` over 20 short videos (19 cut from the shared clips, 1 corrupt) against a shell-style loop.

Same run, same machine: (1) the loop (`posecli track V -o loop/V.npz` one after the other), (2) `batch track
--workers 2`, (3) `batch track --workers 2 --engine ray` (a local Ray instance started for the run), (4) a
batch interrupted with Ctrl-C (SIGINT to its process group) part-way and run again. Checked: outputs identical
to the loop's (2D keypoints of every track), the corrupt file reported in failures.json and nothing else, no
partial file after the interruption, and the rerun leaves the files finished before it untouched (mtimes).

    python bench/batch_bench.py [--workdir DIR] [--frames 30]      # prints one JSON object
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D
from posecli.video import VideoWriter, probe, read_frames

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
CLIPS = [SHARED / f"pose2sim_single/cam0{i}.mp4" for i in range(1, 5)] + \
        [SHARED / f"pose2sim_multi/cam0{i}.mp4" for i in range(1, 5)] + [SHARED / "sports2d/demo.mp4"]


def make_inputs(folder: Path, frames: int) -> list[Path]:
    """19 cuts of `frames` frames (a few per clip, different starts) and one corrupt file."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    k = 0
    while len(made) < 19:
        clip = CLIPS[k % len(CLIPS)]
        start = (k // len(CLIPS)) * frames
        out = folder / f"v{k:02d}.mp4"
        if not out.exists():
            with VideoWriter(out, probe(clip).fps) as w:
                for f in read_frames(clip, start=start, end=start + frames):
                    w.write(f.image)
        made.append(out)
        k += 1
    bad = folder / "v99_corrupt.mp4"
    bad.write_bytes(made[0].read_bytes()[:3000])
    return made + [bad]


def posecli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posecli", *args], capture_output=True, text=True, **kw)


def same(a: Path, b: Path) -> bool:
    pa, pb = read_poses(a), read_poses(b)
    return len(pa.tracks) == len(pb.tracks) and all(
        np.array_equal(x.keypoints[KEYPOINTS_2D].points, y.keypoints[KEYPOINTS_2D].points, equal_nan=True)
        for x, y in zip(pa.tracks, pb.tracks))


def compare(out: Path, loop: Path, videos: list[Path]) -> dict:
    good = [v for v in videos if "corrupt" not in v.name]
    identical = sum(same(out / f"{v.stem}.npz", loop / f"{v.stem}.npz") for v in good
                    if (out / f"{v.stem}.npz").exists())
    failures = json.loads((out / "failures.json").read_text())["failed"]
    return {"outputs": len(list(out.glob("*.npz"))), "identical_to_loop": identical,
            "failures": [Path(f["input"]).name for f in failures]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=30)
    a = ap.parse_args()
    if not CLIPS[0].exists():
        sys.exit(f"bench: {CLIPS[0]} not found (../shared/data absent)")
    work = a.workdir or Path(tempfile.mkdtemp(prefix="batch_bench_"))
    videos = make_inputs(work / "in", a.frames)
    report: dict = {"videos": len(videos), "frames_each": a.frames, "workdir": str(work)}

    loop = work / "loop"
    loop.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for v in videos:
        posecli("track", str(v), "-o", str(loop / f"{v.stem}.npz"), "-q")
    report["loop_s"] = round(time.perf_counter() - t0, 1)

    for name, extra in (("batch_workers2", []), ("batch_ray_workers2", ["--engine", "ray"])):
        out = work / name
        t0 = time.perf_counter()
        proc = posecli("batch", "track", str(work / "in"), "-o", str(out), "--workers", "2", "-q", *extra)
        report[name] = {"seconds": round(time.perf_counter() - t0, 1), "exit": proc.returncode,
                        **compare(out, loop, videos)}

    # interrupted part-way (Ctrl-C to the whole process group, as a terminal sends it), then run again
    out = work / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "posecli", "batch", "track", str(work / "in"), "-o", str(out),
                             "--workers", "2", "-q"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.4 * report["batch_workers2"]["seconds"])
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    time.sleep(1.0)
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")} if out.exists() else {}
    partial = [p.name for p in out.rglob("*") if p.is_file() and p.suffix != ".npz" and p.name != "failures.json"] \
        if out.exists() else []
    t0 = time.perf_counter()
    again = posecli("batch", "track", str(work / "in"), "-o", str(out), "--workers", "2", "-q")
    untouched = sum(out.joinpath(n).stat().st_mtime_ns == m for n, m in finished.items())
    report["interrupted"] = {"exit_when_interrupted": proc.returncode, "finished_before": len(finished),
                             "partial_files_left": partial, "rerun_seconds": round(time.perf_counter() - t0, 1),
                             "rerun_exit": again.returncode, "finished_before_untouched": untouched,
                             **compare(out, loop, videos)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
