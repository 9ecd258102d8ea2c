"""Held-out evaluation of amodal completion weights: hidden-joint MPJPE (deterministic, best-of-K for K = 1,
10, 50), PSS (k-means, 50 clusters), diversity on hidden vs visible joints, and the baseline "interpolate the
missing 2D + the shipped estimate model", all in one run (``posecli.train.amodal.evaluate_amodal``).
``--leg-gaps``: instead, issue 20's three cases on clips filmed whole (knees and ankles hidden on every frame,
in 1 s gaps with 1 s seen on each side, in the last second; ``evaluate_leg_gaps``), for several weights on the
same clips and 2D, with the same baseline and a ``seen`` case (the legs' joints scored with nothing hidden).

    python bench/complete_eval.py weights/amodal.safetensors --data cmu:../shared/data/mocap --val-subjects 006
    python bench/complete_eval.py weights/amodal.safetensors new.safetensors --leg-gaps
    python bench/complete_eval.py weights/amodal.safetensors --leg-gaps --ks 10 --gap-lengths 3 10 --bridge off on
    python bench/complete_eval.py /tmp/amodal_try.safetensors --data /tmp/mocap.npz --max-frames 180 --ks 1 10
"""
from __future__ import annotations

import argparse
import json
import time

from posecli.amodal.pipeline import load_amodal
from posecli.mocap.sources import load_mocap
from posecli.train.amodal import evaluate_amodal, evaluate_leg_gaps
from posecli.weights_registry import MODELS, weights_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--leg-gaps", action="store_true", help="the leg-gap cases (whole / gap / end / middle)")
    ap.add_argument("--gap-lengths", nargs="+", type=int, default=[],
                    help="with --leg-gaps, also gaps of these lengths (frames; 2 L seen between gaps)")
    ap.add_argument("--data", default="cmu:../shared/data/mocap")
    ap.add_argument("--val-subjects", nargs="+", default=["006"])
    ap.add_argument("--ks", nargs="+", type=int, default=[1, 10, 50])
    ap.add_argument("--max-frames", type=int, default=None, help="cap frames per sequence")
    ap.add_argument("--clean", action="store_true", help="exact 2D instead of detector-like noise")
    ap.add_argument("--no-baseline", action="store_true", help="skip the interpolate + estimate baseline")
    ap.add_argument("--raw-hypotheses", action="store_true",
                    help="MD's own outputs as hypotheses (before anchoring them on ME's latents)")
    ap.add_argument("--bridge", nargs="+", choices=["off", "on"], default=["off"],
                    help="hidden runs joined to the seen frames around them (amodal.bridge): off, on, or both")
    ap.add_argument("--hypotheses", nargs="+", choices=["model", "matched"], default=["model"],
                    help="hypotheses of occluded runs: the model's, or the person's own matched motion "
                         "(amodal.matching); both for a side-by-side run")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    _, val = load_mocap(args.data).split(args.val_subjects)
    est = weights_dir() / MODELS["estimate"]
    models = {path: load_amodal(path)[0] for path in args.weights}  # loaded once, run for every variant
    for path, bridge, hyps in ((p, b, h) for p in args.weights for b in args.bridge for h in args.hypotheses):
        model = models[path]
        t = time.perf_counter()
        if args.leg_gaps:
            res = evaluate_leg_gaps(model, val, k=max(args.ks), seed=args.seed, clean=args.clean,
                                    max_frames=args.max_frames, anchored=not args.raw_hypotheses,
                                    estimate_weights=None if args.no_baseline or not est.is_file() else est,
                                    bridged=bridge == "on", gap_lengths=tuple(args.gap_lengths),
                                    matched=hyps == "matched")
        else:
            res = evaluate_amodal(model, val, ks=tuple(args.ks), seed=args.seed, clean=args.clean,
                                  estimate_weights=None if args.no_baseline or not est.is_file() else est,
                                  max_frames=args.max_frames, anchored=not args.raw_hypotheses, bridged=bridge == "on",
                                  matched=hyps == "matched")
        res["seconds"] = round(time.perf_counter() - t, 1)
        print(json.dumps({"weights": path, "bridge": bridge, "hypotheses": hyps, "clean": args.clean, **res},
                         indent=2))


if __name__ == "__main__":
    main()
