"""Pr-VIPE cross-view retrieval with a real detector's 2D: ``posecli synth`` renders of the held-out CMU subject,
two cameras per clip, BlazePose (``posecli track``) on every view, truth from the rendered bodies.

Between the modelled-noise protocol of ``bench/vipe_retrieval.py`` and the real Pose2Sim trial: the detector's own
errors (misses, swaps, drift on loose clothes) on people whose exact 3D is known. Views: the renders that
``bench/synth_estimate.py --keep DIR`` leaves in DIR/synth (clips of CMU 006, 90 frames at 30 fps, a random
Anny body, clothes, background and camera pair per clip). Queries = every frame of one camera, index = every
frame of the other, both ordered pairs; accurate when the two frames' true 3D poses are within NP-MPJPE 0.1.
Methods in one run: each Pr-VIPE given (a temporal model sees its window of the tracked frames), the paper's 2D
keypoint baseline, and 3D lifting (the shipped ``estimate`` lifter on each whole track, at its frame rate).

    python bench/synth_estimate.py --clips 8 --views 2 --keep DIR     # once: renders of CMU 006
    python bench/vipe_renders.py DIR/synth --vipe weights/vipe.safetensors weights/vipe_temporal.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from posecli import joints
from posecli.console import set_quiet
from posecli.embed.matching import points, scores
from posecli.embed.normalize import normalize_2d, normalize_3d, pairwise_procrustes_distances
from posecli.embed.pipeline import embed_track, load_vipe
from posecli.embed.retrieval import rank
from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.train.vipe import RetrievalViews, cross_view_hits
from posecli.weights_registry import weight_path

sys.path.insert(0, str(Path(__file__).parent))
from vipe_retrieval import make_lifter  # noqa: E402

CAMS = ("cam_01", "cam_02")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("renders", type=Path, help="a posecli synth folder (clip_*/cam_*.mp4 + .npz truth)")
    ap.add_argument("--vipe", nargs="+", default=[None], help="Pr-VIPE weights, side by side (default: shipped)")
    args = ap.parse_args()
    clips = sorted(d for d in args.renders.glob("clip_*") if all((d / f"{c}.mp4").is_file() for c in CAMS))
    if not clips:
        sys.exit(f"bench: no clip_*/{CAMS[0]}.mp4 under {args.renders} (run bench/synth_estimate.py --keep first)")
    set_quiet(True)
    paths = [weight_path("vipe", w) for w in args.vipe]
    models = [load_vipe(p)[0] for p in paths]
    lift = make_lifter(weight_path("estimate"))
    pts, conf, truth, seq, tracks = [], [], [], [], []  # per clip
    for si, clip in enumerate(clips):
        gt = read_poses(clip / f"{CAMS[0]}.npz").tracks[0]  # the rendered body, every frame
        n = len(gt.frames)
        p = np.full((len(CAMS), n, 17, 2), np.nan)
        c = np.zeros((len(CAMS), n, 17))
        found = []
        for ci, cam in enumerate(CAMS):
            poses = track_video(clip / f"{cam}.mp4", BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1))
            t = max(poses.tracks, key=len) if poses.tracks else None
            found.append(t)
            if t is not None:
                kp = t.keypoints[KEYPOINTS_2D]
                xy, cf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
                keep = t.frames < n
                p[ci, t.frames[keep]], c[ci, t.frames[keep]] = xy[keep], cf[keep]
        pts.append(p)
        conf.append(c)
        # camera-frame truth of the first view; NP-MPJPE removes the rotation, so either view's frame would do
        truth.append(normalize_3d(gt.arrays["keypoints3d_all"].astype(np.float64)))
        seq.append(np.full(n, si))
        tracks.append((n, found))
    views = RetrievalViews(np.concatenate(pts, 1), np.concatenate(conf, 1), np.concatenate(truth),
                           np.concatenate(seq))
    total = len(views.poses3d)
    results = {}
    for path, model in zip(paths, models):
        z = []
        for ci in range(len(CAMS)):  # one row per rendered frame (NaN where the track has none)
            rows = {k: np.full((total, model.config.dim), np.nan, np.float32) for k in ("mu", "sigma")}
            offset = 0
            for n, found in tracks:
                t = found[ci]
                if t is not None:
                    e = embed_track(model, t)
                    keep = t.frames < n
                    for k in rows:
                        rows[k][offset + t.frames[keep]] = e[k][keep]
                offset += n
            z.append(points(model, rows, "sampled", seed=ci))

        def vipe_ranker(a: int, b: int, k: int, model=model, z=z) -> np.ndarray:
            return rank(lambda q: np.nan_to_num(scores(model, z[a][q], z[b]), nan=-1.0), total, k)

        results["Pr-VIPE" + ("" if len(paths) == 1 else f" ({path.stem})")] = cross_view_hits(views, vipe_ranker)
    lifted = []
    for ci in range(len(CAMS)):
        out = np.zeros((total, 17, 3))
        offset = 0
        for si, (n, found) in enumerate(tracks):
            t = found[ci]
            if t is not None:
                fps = 1.0 / float(np.median(np.diff(t.times))) if len(t) > 1 else 30.0
                kp = t.keypoints[KEYPOINTS_2D]
                xy, cf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
                keep = t.frames < n
                out[offset + t.frames[keep]] = lift(xy, cf, every=1, fps=fps)[keep]
            offset += n
        lifted.append(normalize_3d(np.nan_to_num(out)))
    feats = {"2D keypoints + Procrustes": [normalize_2d(views.points2d[c], views.confidence[c])[0]
                                           for c in range(len(CAMS))],
             "3D lifting + Procrustes": lifted}
    for name, f in feats.items():
        results[name] = cross_view_hits(views, lambda a, b, k, f=f: rank(
            lambda q: pairwise_procrustes_distances(f[a][q], f[b]), total, k, largest=False))
    seen = [float(np.isfinite(views.points2d[c]).all(-1).any(-1).mean()) for c in range(len(CAMS))]
    close = (pairwise_procrustes_distances(views.poses3d, views.poses3d) <= 0.1).mean()
    print(json.dumps({"clips": len(clips), "frames": total, "tracked_fraction_per_camera": [round(s, 3) for s in seen],
                      "chance_hit@1": round(float(close), 3)}))
    for name, r in results.items():
        print(json.dumps({"retrieval": name, **{k: round(100 * r[k], 1) for k in ("hit@1", "hit@10", "hit@20")},
                          "frames": r["frames"], "camera_pairs": r["camera_pairs"]}), flush=True)


if __name__ == "__main__":
    main()
