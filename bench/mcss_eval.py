"""MCSS (seed 002) evaluated as the paper does, beside posecli's keypoint models on the same frames.

1. Held-out renders (``posecli synth`` of CMU subjects 006 and 131, never in training): N-MPJPE / MPJPE /
   PA-MPJPE in the canonical frame (16 joints), and cross-view retrieval Mean-PA-MPJPE@K (K = 1, 5, 10, 20)
   with the query's subject in the database and without ("cross"), for MCSS's image embedding, the oracle
   (ranking by the true canonical poses) and Pr-VIPE's keypoint embedding (``weights/vipe``, the mean mu, L2)
   of the exact 2D keypoints of the same frames.
2. The Pose2Sim balancing trial's 4 real cameras against the triangulated markers (``bench/vipe_pose2sim``'s
   TRC -> H36M-17 map): ``estimate --model mcss`` (crops from ``posecli track``) and the keypoint lifter
   (``estimate``'s default, its upright ``keypoints3d_world``) put in MCSS's canonical frame, N-MPJPE /
   PA-MPJPE on the 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists: the joints the markers
   and H36M define alike; the pelvis is the root); retrieval across the 4 cameras, MCSS vs Pr-VIPE vs oracle.

    python bench/mcss_eval.py --cache CROPS_OF_HELD_OUT --synth HELD_OUT_SYNTH_DIR [--weights W] [--queries 800]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from vipe_pose2sim import CAMS, TRIAL, truth_h36m  # noqa: E402

from posecli import joints  # noqa: E402
from posecli.console import set_quiet  # noqa: E402
from posecli.embed import embed_poses  # noqa: E402
from posecli.embed.pipeline import load_vipe  # noqa: E402
from posecli.formats import read_poses  # noqa: E402
from posecli.images.cache import load_cache  # noqa: E402
from posecli.mcss.canonical import canonical  # noqa: E402
from posecli.mcss.evaluate import pose_errors, retrieval  # noqa: E402
from posecli.mcss.pipeline import EMBEDDING, load_mcss, mcss_poses  # noqa: E402
from posecli.metrics import n_mpjpe, pa_mpjpe  # noqa: E402
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D, KEYPOINTS_3D_WORLD  # noqa: E402
from posecli.train.mcss import predict  # noqa: E402
from posecli.weights_registry import weight_path  # noqa: E402

H16 = joints.get("h36m16")
LIMBS = [f"{s}_{p}" for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist") for s in ("left", "right")]
ROOT_AND_LIMBS = [H16.index(n) for n in ["pelvis", *LIMBS]]


def vipe_of_crops(crops, synth_dir: Path, vipe) -> np.ndarray:
    """Pr-VIPE means of the exact COCO keypoints of each crop's frame (from the synth pose files)."""
    groups, views = crops.names("groups"), crops.names("views")
    files: dict[tuple[str, str], object] = {}
    pts = np.zeros((len(crops), 17, 2), np.float32)
    conf = np.zeros((len(crops), 17), np.float32)
    for i in range(len(crops)):
        clip, view = groups[crops.group[i]].split("/")[-1], views[crops.view[i]]
        key = (clip, view)
        if key not in files:
            files[key] = read_poses(synth_dir / clip / f"{view}.npz").tracks[0]
        t = files[key]
        r = int(np.flatnonzero(t.frames == crops.instant[i])[0])
        kp = t.keypoints[KEYPOINTS_2D]
        pts[i], conf[i] = kp.points[r, :, :2], kp.confidence[r]
    return embed_poses(vipe, pts, conf)["mu"]


def spread(emb: np.ndarray, crops) -> dict:
    """Mean embedding distance between two views of one instant and between instants of one clip: a collapsed
    embedding (every crop at one point) shows 0 for both."""
    g, t, v = crops.group, crops.instant, crops.view
    same_clip = g[:, None] == g[None]
    d = np.sqrt(np.clip(2 - 2 * emb @ emb.T, 0, None))  # unit vectors
    pos = same_clip & (t[:, None] == t[None]) & (v[:, None] != v[None])
    neg = same_clip & (t[:, None] != t[None])
    return {"positives": round(float(d[pos].mean()), 3), "negatives_same_clip": round(float(d[neg].mean()), 3)}


def held_out(args, model, vipe) -> dict:
    crops = load_cache(args.cache)
    emb, pred = predict(model, crops.crops)
    truth = canonical(crops.pose)
    out = {"crops": len(crops), "subjects": len(crops.names("subjects")), "pose": pose_errors(pred, truth),
           "embedding_spread": spread(emb, crops)}
    rng = np.random.default_rng(0)
    queries = np.sort(rng.choice(len(crops), min(args.queries, len(crops)), replace=False))
    mu = vipe_of_crops(crops, Path(args.synth), vipe)
    for case, cross in (("same_subjects_in_database", False), ("cross_subject", True)):
        out[case] = {"mcss": retrieval(emb, truth, crops.view, crops.subject, queries, cross),
                     "prvipe": retrieval(mu, truth, crops.view, crops.subject, queries, cross)}
    return out


def pose2sim(model_path: Path, vipe) -> dict:
    from posecli.embed.pipeline import embed_track
    from posecli.lifting.pipeline import estimate_poses
    from posecli.track.backends import BlazePoseBackend
    from posecli.track.pipeline import TrackOptions, track_video

    gt = canonical(truth_h36m())  # (100, 16, 3), Y-up world -> canonical
    rows, embs, mus, poses_gt, views = [], [], [], [], []
    for v, cam in enumerate(CAMS):
        video = TRIAL / "videos" / f"{cam}.mp4"
        tracked = track_video(video, BlazePoseBackend(max_persons=1), TrackOptions(max_persons=1, end=len(gt)))
        t = tracked.tracks[0]
        frames = t.frames[t.frames < len(gt)]
        keep = np.isin(t.frames, frames)
        m = mcss_poses(tracked, video, model_path).tracks[0]
        mc = canonical(m.keypoints[KEYPOINTS_3D].points[keep])
        lifted = estimate_poses(tracked, weight_path("estimate")).tracks[0]
        lc = canonical(lifted.keypoints[KEYPOINTS_3D_WORLD].points[keep])
        g = gt[frames]
        ok = np.isfinite(mc).all((1, 2)) & np.isfinite(lc).all((1, 2))
        row = {"camera": cam, "frames": int(ok.sum())}
        for name, p in (("mcss", mc), ("keypoint_lifter", lc)):
            row[f"{name}_n_mpjpe_mm"] = round(1000 * n_mpjpe(p[ok][:, ROOT_AND_LIMBS], g[ok][:, ROOT_AND_LIMBS]), 1)
            row[f"{name}_pa_mpjpe_mm"] = round(1000 * pa_mpjpe(p[ok][:, ROOT_AND_LIMBS[1:]],
                                                               g[ok][:, ROOT_AND_LIMBS[1:]]), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        e = embed_track(vipe, t)
        embs.append(m.arrays[EMBEDDING][keep][ok])
        mus.append(e["mu"][keep][ok])
        poses_gt.append(g[ok][:, ROOT_AND_LIMBS])
        views.append(np.full(int(ok.sum()), v))
    view = np.concatenate(views)
    poses = np.concatenate(poses_gt)
    queries = np.arange(len(view))
    subject = np.zeros(len(view), int)
    w = np.array([r["frames"] for r in rows], float)
    summary = {k: round(float(np.average([r[k] for r in rows], weights=w)), 1) for k in rows[0] if k.endswith("_mm")}
    return {"per_camera": rows, "overall": summary,
            "retrieval": {"mcss": retrieval(np.concatenate(embs), poses, view, subject, queries),
                          "prvipe": retrieval(np.concatenate(mus), poses, view, subject, queries)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="crop cache of the held-out renders")
    ap.add_argument("--synth", required=True, help="the held-out posecli synth folder the cache was cut from")
    ap.add_argument("--weights", default=None, help="MCSS weights (default: weights/mcss.safetensors)")
    ap.add_argument("--queries", type=int, default=800)
    ap.add_argument("--no-pose2sim", action="store_true")
    args = ap.parse_args()
    set_quiet(True)
    path = weight_path("mcss", args.weights)
    model, _ = load_mcss(path)
    vipe, _ = load_vipe(weight_path("vipe"))
    result = {"weights": str(path), "held_out_renders": held_out(args, model, vipe)}
    print(json.dumps(result["held_out_renders"]), flush=True)
    if not args.no_pose2sim:
        if not TRIAL.is_dir():
            sys.exit(f"bench: {TRIAL} not found (../shared/data absent)")
        result["pose2sim"] = pose2sim(path, vipe)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
