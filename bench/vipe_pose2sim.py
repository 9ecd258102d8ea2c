"""Pr-VIPE on real footage: cross-view retrieval and alignment among the 4 cameras of the Pose2Sim balancing
trial (../shared/data/multiview/pose2sim_session), 2D from ``posecli track``, truth from the triangulated markers.

Truth: the TRC's BODY_25B markers as H36M-17 (hips, knees, ankles, shoulders, elbows, wrists by name;
pelvis = mid-hips; thorax = the Neck marker; spine = midway pelvis-thorax; neck_nose = Nose; head = Head).
Retrieval: queries = every frame of one camera, index = every frame of another, all 12 ordered pairs; accurate
when the two frames' true 3D poses are within NP-MPJPE 0.1 (the paper's kappa). The 2D-keypoint and 3D-lifting
baselines of the paper run on the same frames. The cameras are synchronised (frame f is the same instant
everywhere), so alignment truth is the identity. Alignment: ``posecli align``'s code on every ordered pair
(mean |matched frame of B - frame of A| in frames at 60 fps, Kendall's tau of the path), once as is and once
with B time-warped by a known smooth warp (B keeps frames round(99 (k / (n-1))^1.4), a slow start then a fast
end: truth is the position in B of A's frame).

    python bench/vipe_pose2sim.py [--vipe A.safetensors B.safetensors] [--sides both]
"""
from __future__ import annotations

import json
import sys
from itertools import permutations
from pathlib import Path

import numpy as np

from posecli import joints
from posecli.align.sequences import align_tracks, kendall_tau
from posecli.console import set_quiet
from posecli.embed.matching import points, scores
from posecli.embed.normalize import normalize_3d
from posecli.embed.pipeline import embed_track, load_vipe
from posecli.embed.retrieval import rank
from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import TrackOptions, track_video
from posecli.train.vipe import RetrievalViews, cross_view_hits
from posecli.embed.normalize import normalize_2d, pairwise_procrustes_distances
from posecli.weights_registry import weight_path

sys.path.insert(0, str(Path(__file__).parent))
from estimate_pose2sim import SIDES  # noqa: E402
from vipe_retrieval import make_lifter  # noqa: E402

TRIAL = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multiview" / "pose2sim_session"
         / "S00_P00_SingleParticipant" / "S00_P00_T01_BalancingTrial")
CAMS = ("cam01", "cam02", "cam03", "cam04")


def truth_h36m() -> np.ndarray:
    layer = read_poses(TRIAL / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc").tracks[0].keypoints[KEYPOINTS_3D]
    src = joints.get(layer.joint_set)
    m = {n: layer.points[:, src.index(n)] for n in src.joints}
    out = np.zeros((len(layer.points), 17, 3))
    for i, name in enumerate(joints.H36M17.joints):
        if name in m:
            out[:, i] = m[name]
    pelvis, thorax = (m["left_hip"] + m["right_hip"]) / 2, m["neck"]
    h = joints.H36M17
    for name, value in (("pelvis", pelvis), ("thorax", thorax), ("spine", (pelvis + thorax) / 2),
                        ("neck_nose", m["nose"]), ("head", m["head"])):
        out[:, h.index(name)] = value
    return out


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--vipe", nargs="+", default=[None], help="Pr-VIPE weights, side by side (default: shipped)")
    ap.add_argument("--sides", choices=list(SIDES), default="on", help="track's left/right pass: on (track's "
                    "default), off, or both in the same run (names of off end in :no-sides)")
    args = ap.parse_args()
    if not TRIAL.is_dir():
        sys.exit(f"bench: {TRIAL} not found (../shared/data absent)")
    set_quiet(True)
    paths = [weight_path("vipe", w) for w in args.vipe]
    models = [load_vipe(p)[0] for p in paths]
    gt = truth_h36m()
    for sides, sfx in SIDES[args.sides]:
        tracks = {}
        for cam in CAMS:
            poses = track_video(TRIAL / "videos" / f"{cam}.mp4", BlazePoseBackend(max_persons=1),
                                TrackOptions(max_persons=1, sides=sides))
            tracks[cam] = max(poses.tracks, key=len)
        report(tracks, paths, models, gt, sfx)


def report(tracks: dict, paths: list, models: list, gt: np.ndarray, sfx: str) -> None:
    """Retrieval and alignment on one set of tracks; every name ends in ``sfx``."""
    n = len(gt)
    pts = np.full((len(CAMS), n, 17, 2), np.nan)
    conf = np.zeros((len(CAMS), n, 17))
    for c, cam in enumerate(CAMS):
        t = tracks[cam]
        kp = t.keypoints[KEYPOINTS_2D]
        keep = t.frames < n
        p, cf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
        pts[c, t.frames[keep]], conf[c, t.frames[keep]] = p[keep], cf[keep]
    views = RetrievalViews(pts, conf, normalize_3d(gt), np.zeros(n, np.int64))
    # Hit@1 by where the query frame sits: a temporal model's window reaches past the clip's ends (the end frame
    # repeats) for the first and last frames; 16 frames at 60 fps = the half-width of a 17-frame, 30 fps window.
    frame = np.arange(n)
    parts = {"first 16": frame < 16, "middle": (frame >= 16) & (frame < n - 16), "last 16": frame >= n - 16}
    results = {}
    for path, model in zip(paths, models):
        emb = [embed_track(model, tracks[cam]) for cam in CAMS]
        z = []
        for c, cam in enumerate(CAMS):  # per camera, one row per video frame (NaN where nobody was seen)
            full = {k: np.full((n, emb[c]["mu"].shape[1]), np.nan, np.float32) for k in ("mu", "sigma")}
            keep = tracks[cam].frames < n
            for k in full:
                full[k][tracks[cam].frames[keep]] = emb[c][k][keep]
            z.append(points(model, full, "sampled", seed=c))

        def vipe_ranker(a: int, b: int, k: int, model=model, z=z) -> np.ndarray:
            return rank(lambda q: np.nan_to_num(scores(model, z[a][q], z[b]), nan=-1.0), n, k)

        results["Pr-VIPE" + ("" if len(paths) == 1 else f" ({path.stem})") + sfx] = cross_view_hits(views, vipe_ranker,
                                                                                               parts=parts)
    lift = make_lifter(weight_path("estimate"))
    # the videos' own frame rate (60 fps): every frame is given
    fps = 1.0 / float(np.median(np.diff(tracks[CAMS[0]].times)))
    feats = {"2D keypoints + Procrustes": [normalize_2d(pts[c], conf[c])[0] for c in range(len(CAMS))],
             "3D lifting + Procrustes": [normalize_3d(np.nan_to_num(lift(pts[c], conf[c], every=1, fps=fps)))
                                         for c in range(len(CAMS))]}
    for name, f in feats.items():
        results[name + sfx] = cross_view_hits(views, lambda a, b, k, f=f: rank(
            lambda q: pairwise_procrustes_distances(f[a][q], f[b]), n, k, largest=False), parts=parts)
    close = (pairwise_procrustes_distances(views.poses3d, views.poses3d) <= 0.1).mean()
    for name, r in results.items():
        print(json.dumps({"retrieval": name, **{k: round(100 * v, 1) for k, v in r.items() if k.startswith("hit@")},
                          "frames": r["frames"], "camera_pairs": r["camera_pairs"]}), flush=True)
    print(json.dumps({"note": "fraction of frame pairs whose true poses match (chance level of Hit@1)",
                      "value": round(float(close), 3)}))
    warp = np.unique(np.round(99 * (np.arange(70) / 69) ** 1.4).astype(int))
    for path, model in zip(paths, models):
        name = "Pr-VIPE" + ("" if len(paths) == 1 else f" ({path.stem})") + sfx
        rows = []
        for a, b in permutations(range(len(CAMS)), 2):
            ta, tb = tracks[CAMS[a]], tracks[CAMS[b]]
            for kind, tb_used in (("synchronous", tb), ("warped", tb.subset(np.isin(tb.frames, warp)))):
                res = align_tracks(model, ta, tb_used)
                matched = np.interp(res.mapping(), np.arange(len(tb_used)), tb_used.frames)  # B frame per A frame
                true_pos = ta.frames  # synchronised cameras: A's frame f shows the instant of B's frame f
                rows.append({"model": name, "a": CAMS[a], "b": CAMS[b], "b_timing": kind, "frames_b": len(tb_used),
                             "mean_abs_frame_error": round(float(np.abs(matched - true_pos).mean()), 2),
                             "kendall_tau": round(kendall_tau(res.mapping()), 3), "mirrored": res.mirrored,
                             "distance": round(res.distance, 3)})
                print(json.dumps(rows[-1]), flush=True)
        for kind in ("synchronous", "warped"):
            sel = [r for r in rows if r["b_timing"] == kind]
            error = float(np.mean([r["mean_abs_frame_error"] for r in sel]))
            print(json.dumps({"align_summary": kind, "model": name, "pairs": len(sel),
                              "mean_abs_frame_error": round(error, 2),
                              "kendall_tau": round(float(np.mean([r["kendall_tau"] for r in sel])), 3),
                              "mirrored_pairs": sum(r["mirrored"] for r in sel)}))


if __name__ == "__main__":
    main()
