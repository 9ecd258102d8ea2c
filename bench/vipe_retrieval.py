"""Cross-view pose retrieval on held-out CMU subjects: Pr-VIPE against the paper's two baselines, same run.

Views: every 5th frame of each held-out sequence, near-duplicates (NP-MPJPE <= 0.02) removed, seen by 4 random
static cameras per sequence (Pr-VIPE's angle ranges, person kept in frame); queries from one camera, index =
all frames of another, every ordered camera pair. A retrieval is accurate when its 3D pose is within
NP-MPJPE 0.1 of the query's (the paper's kappa). 2D: detector-like (posecli.synth2d.realistic_2d at BlazePose
Full's level) and exact projections. Methods:
- Pr-VIPE: sampled matching probability (K = 20), the shipped weights;
- 2D keypoints: 13 normalised keypoints, 2D Procrustes distance;
- 3D lifting: the shipped estimate model (SPS lifter) on each camera's held-out clip (every 5th frame, its
  real 6 fps timing, resampled to the model's 30 fps inside), NP-MPJPE between lifted poses.
With a temporal Pr-VIPE (``--window``, default the largest window of the models compared) every method runs on
other views: each held-out sequence filmed whole at 30 fps with time-correlated detector noise; Pr-VIPE models see
their window around each kept frame (a single-frame model the frame itself), the lifter the whole 30 fps clip.
``--sides`` (those whole-clip views only; default on): each camera's 2D first goes through ``track``'s left/right
pass, as ``posecli track`` hands it on to ``embed`` and ``estimate`` (the same as bench/lifter_compare.py); the
detector-like model's whole-body swap runs are what it undoes. ``--sides both`` adds the rows without it
(methods ending in :no-sides), on the same noise. ``--inputs`` picks the 2D: ``detector`` (the detector-like
model), ``exact``, and ``gaussian`` (posecli.synth2d.gaussian_2d: 2.5 % of the person's height, 5 % of joints
dropped, frames independent: the plain model of issue 20's outside check).

    python bench/vipe_retrieval.py [--data cmu:../shared/data/mocap] [--val-subjects 006] [--sides both]
        [--inputs detector exact gaussian]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from posecli.console import set_quiet
from posecli.embed.pipeline import load_vipe
from posecli.lifting.pipeline import lift_track, load_lifter
from posecli.mocap.sources import load_mocap
from posecli.poses import KEYPOINTS_2D, Keypoints, Track
from posecli.synth2d import gaussian_2d
from posecli.train.vipe import evaluate_retrieval, evaluate_retrieval_baselines
from posecli.weights_registry import weight_path

sys.path.insert(0, str(Path(__file__).parent))
from estimate_pose2sim import SIDES  # noqa: E402  (on / off / both, and the :no-sides suffix)

EVERY, FPS = 5, 30.0
# --inputs: name -> (row label, clean, noise model; None = the detector-like default)
INPUTS = {"detector": ("detector-like 2D", False, None), "exact": ("exact 2D", True, None),
          "gaussian": ("gaussian 2D", False, gaussian_2d)}


def make_lifter(weights):
    model, card = load_lifter(weights)

    def lift(points2d: np.ndarray, conf: np.ndarray, every: int = EVERY, fps: float = FPS) -> np.ndarray:
        """Lift one clip of ``fps`` frames/s of which every ``every``-th frame is given."""
        n = len(points2d)
        t = Track(0, np.arange(n), np.arange(n) * every / fps, {KEYPOINTS_2D: Keypoints("coco17", points2d, conf)})
        out = lift_track(model, t, card["config"]["length"], None, None, model_fps=float(card.get("fps", 30.0)))
        return out.arrays["keypoints3d_all"] - out.arrays["root"][:, None]

    return lift


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="cmu:../shared/data/mocap")
    ap.add_argument("--val-subjects", nargs="+", default=["006"])
    ap.add_argument("--vipe", nargs="+", default=[None], help="Pr-VIPE weights, side by side (default: shipped)")
    ap.add_argument("--estimate", default=None)
    ap.add_argument("--window", type=int, default=None, help="Views for temporal models: whole clips filmed at "
                    "30 fps with time-correlated noise, every model and baseline on them (default: the largest "
                    "window among --vipe; 1 = the single-frame protocol)")
    ap.add_argument("--sides", choices=list(SIDES), default="on", help="track's left/right pass on each camera's "
                    "clip before every method (whole-clip views only): on, off, or both in one run")
    ap.add_argument("--inputs", nargs="+", choices=list(INPUTS), default=["detector", "exact"])
    args = ap.parse_args()
    set_quiet(True)
    _, val = load_mocap(args.data).split(args.val_subjects)
    paths = [weight_path("vipe", w) for w in args.vipe]
    models = [load_vipe(p)[0] for p in paths]
    window = args.window or max(m.config.window for m in models)
    sides_runs = SIDES[args.sides] if window > 1 else SIDES["off"]  # frames 5 apart are no track
    lift = make_lifter(weight_path("estimate", args.estimate))
    rows = []
    for (label, clean, noise), (sides, sfx) in ((INPUTS[i], sr) for i in args.inputs for sr in sides_runs):
        runs = []
        for path, model in zip(paths, models):
            t0 = time.perf_counter()
            res = evaluate_retrieval(model, val, cameras=4, clean=clean, every=EVERY, window=window, sides=sides,
                                     noise=noise)
            runs.append(("Pr-VIPE" + ("" if len(paths) == 1 else f" ({path.stem})") + sfx, res,
                         time.perf_counter() - t0))
        t1 = time.perf_counter()
        base = evaluate_retrieval_baselines(val, lift, cameras=4, clean=clean, every=EVERY, window=window,
                                            sides=sides, noise=noise)
        t2 = time.perf_counter()
        for name, res, secs in (*runs, ("2D keypoints + Procrustes" + sfx, base["2d_keypoints"], None),
                                ("3D lifting + Procrustes" + sfx, base["3d_lifting"], t2 - t1)):
            row = {"input": label, "views_window": window, "sides": sides, "method": name,
                   **{k: round(100 * res[k], 1) for k in ("hit@1", "hit@10", "hit@20")},
                   "frames": res["frames"], "camera_pairs": res["camera_pairs"]}
            if secs is not None:
                row["seconds"] = round(secs, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\ninput            | method                                    | Hit@1 | Hit@10 | Hit@20")
    for r in rows:
        print(f"{r['input']:<16} | {r['method']:<41} | {r['hit@1']:5.1f} | {r['hit@10']:6.1f} | {r['hit@20']:6.1f}")


if __name__ == "__main__":
    main()
