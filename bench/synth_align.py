"""Alignment truth from renders: the same motion performed by two different Anny bodies, seen from two different
random cameras, one of them time-warped by a known warp; ``posecli align``'s code must recover the warp.

One held-out CMU sequence (subject 006 by default, its first ``--frames`` frames) is the only motion in a
temporary mocap file, so ``posecli synth --clips 2 --frames N`` renders it twice with a new random body,
clothes, heading, background and camera each time. Both videos go through ``posecli track`` (BlazePose on the
renders); B's track then keeps only frames round((N-1) (k / (M-1))^1.4) (slow start, fast end: M = 0.7 N frames),
and A is aligned with that. Truth: A's frame f is B's frame f (same motion, same timing before the warp).
Reports the mean absolute frame error of the matched B frame and Kendall's tau.

    python bench/synth_align.py [--subject 006] [--frames 120] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from posecli.align.sequences import align_tracks, kendall_tau
from posecli.console import set_quiet
from posecli.embed.pipeline import load_vipe
from posecli.formats import read_poses
from posecli.mocap.dataset import MocapDataset, Sequence
from posecli.mocap.sources import load_mocap
from posecli.weights_registry import weight_path

MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subject", default="006")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    set_quiet(True)
    work = Path(args.keep or tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    _, val = load_mocap(f"cmu:{MOCAP}").split([args.subject])
    seq = next(s for s in val.sequences if len(s) >= args.frames)
    one = Sequence(seq.subject, seq.name, seq.fps, {k: v[:args.frames] for k, v in seq.joints.items()})
    MocapDataset([one]).save(work / "one.npz")
    posecli = str(Path(sys.executable).with_name("posecli"))
    subprocess.run([posecli, "synth", "--mocap", str(work / "one.npz"), "--views", "1", "--clips", "2",
                    "--frames", str(args.frames), "--size", "640x480", "--seed", str(args.seed), "-q",
                    "-o", str(work / "synth")], check=True)
    tracks = []
    for clip in ("clip_0000", "clip_0001"):
        out = work / f"{clip}_tracks.npz"
        subprocess.run([posecli, "track", str(work / "synth" / clip / "cam_01.mp4"), "--max-persons", "1", "-q",
                        "-o", str(out)], check=True)
        tracks.append(max(read_poses(out).tracks, key=len))
    a, b = tracks
    n = args.frames
    warp = np.unique(np.round((n - 1) * (np.arange(int(0.7 * n)) / (int(0.7 * n) - 1)) ** 1.4).astype(int))
    b_warped = b.subset(np.isin(b.frames, warp))
    model, _ = load_vipe(weight_path("vipe"))
    rows = []
    for kind, bb in (("same timing", b), ("warped", b_warped)):
        res = align_tracks(model, a, bb)
        matched = np.interp(res.mapping(), np.arange(len(bb)), bb.frames)
        rows.append({"sequence": f"{seq.subject}/{seq.name}", "b_timing": kind, "frames_a": len(a),
                     "frames_b": len(bb), "mean_abs_frame_error": round(float(np.abs(matched - a.frames).mean()), 2),
                     "kendall_tau": round(kendall_tau(res.mapping()), 3), "mirrored": res.mirrored})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
