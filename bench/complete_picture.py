"""A picture of ``posecli complete``'s K hypotheses on a real clip truncated by cropping (the legs leave the
frame): the cropped frame with the 2D keypoints the detector kept, and the completed 3D seen from the front and
from the side, the deterministic motion in black and the K hypotheses in colour (joints the camera saw are
shared by all hypotheses; the hidden ones spread).

The clip: ../shared/data/videos/pose2sim_single/cam01.mp4 (one person balancing) cropped to the top
``--keep`` of its height and downscaled, written to a temporary H.264 file; then ``posecli complete`` on it.

    python bench/complete_picture.py [--frame 50] [--k 10] [--keep 0.5] [-o docs/complete_hypotheses.png]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from posecli import joints
from posecli.atomic import atomic_path
from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D
from posecli.render.draw import draw_skeleton
from posecli.video import VideoWriter, read_frames

VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos" / "pose2sim_single" / "cam01.mp4"


def crop_video(src: Path, dst: Path, keep: float, height: int = 480) -> None:
    with VideoWriter(dst, fps=60.0) as w:
        for f in read_frames(src):
            top = f.image[: int(round(f.image.shape[0] * keep))]
            scale = height / top.shape[0]
            w.write(cv2.resize(top, (round(top.shape[1] * scale / 2) * 2, height), interpolation=cv2.INTER_AREA))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frame", type=int, default=50)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--keep", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default="docs/complete_hypotheses.png")
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    work = Path(tempfile.mkdtemp())
    clip = work / "cropped.mp4"
    crop_video(VIDEO, clip, args.keep)
    posecli = str(Path(sys.executable).with_name("posecli"))
    cmd = [posecli, "complete", str(clip), "-o", str(work / "completed.npz"), "-k", str(args.k), "--seed",
           str(args.seed), "-q"] + (["--weights", args.weights] if args.weights else [])
    subprocess.run(cmd, check=True)
    poses = read_poses(work / "completed.npz")
    # the performer: the largest person in view (the clip also shows a smaller person, whole, behind them)
    def width(tr) -> float:  # median over frames of the keypoints' horizontal extent (missing keypoints skipped)
        x = tr.keypoints[KEYPOINTS_2D].points[..., 0]
        ok = np.isfinite(x).any(1)
        return float(np.median(np.nanmax(x[ok], 1) - np.nanmin(x[ok], 1))) if ok.any() else 0.0

    t = max(poses.tracks, key=width)
    row = int(np.argmin(np.abs(t.frames - args.frame)))
    frame = next(iter(read_frames(clip, start=int(t.frames[row])))).image.copy()
    kp = t.keypoints[KEYPOINTS_2D]
    draw_skeleton(frame, kp.points[row], kp.confidence[row] * (kp.confidence[row] >= 0.5), kp.joint_set,
                  colour=(255, 255, 255))
    det = t.keypoints["keypoints3d"].points[row]
    hyp = t.arrays["hypotheses3d"][row]  # (K, 17, 3) camera frame
    hidden = t.arrays["hidden"][row].astype(bool)
    js = joints.H36M17
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.2), gridspec_kw={"width_ratios": [1.1, 1, 1]})
    axes[0].imshow(frame)
    axes[0].set_title(f"cropped input, frame {int(t.frames[row])}: {int(hidden.sum())} of 17 joints hidden")
    axes[0].axis("off")
    colours = plt.cm.tab10(np.linspace(0, 1, len(hyp)))
    root = det[0]
    for ax, (h, v, name) in zip(axes[1:], ((0, 1, "front (x, -y)"), (2, 1, "side (z, -y)"))):
        for k, pose in enumerate(hyp):
            p = pose - root
            for a, b in js.edges:
                ax.plot([p[a, h], p[b, h]], [-p[a, v], -p[b, v]], color=colours[k], lw=1, alpha=0.8)
        p = det - root
        for a, b in js.edges:
            ax.plot([p[a, h], p[b, h]], [-p[a, v], -p[b, v]], color="k", lw=2.5)
        ax.scatter(p[hidden, h], -p[hidden, v], s=40, facecolors="none", edgecolors="r", label="hidden joints")
        ax.set_aspect("equal")
        ax.set_title(f"{name}: deterministic (black), {len(hyp)} hypotheses")
        ax.legend(loc="lower right", fontsize=8)
    spread = np.linalg.norm(hyp - hyp.mean(0), axis=-1).mean(0)  # (17,) metres
    fig.suptitle(f"posecli complete -k {len(hyp)}: mean spread of hypotheses {1000 * spread[hidden].mean():.0f} mm "
                 f"on hidden joints, {1000 * spread[~hidden].mean():.1f} mm on seen joints")
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    print({"frame": int(t.frames[row]), "hidden": int(hidden.sum()),
           "spread_hidden_mm": round(1000 * float(spread[hidden].mean()), 1),
           "spread_seen_mm": round(1000 * float(spread[~hidden].mean()), 2)})


if __name__ == "__main__":
    main()
