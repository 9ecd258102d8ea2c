"""CSS (seed 001) variants side by side, one run: N-MPJPE by label fraction on held-out renders, and K-means
subject accuracy of TV vs TI (the paper: 52 % vs 96 %).

Each weight file (from ``posecli train css --variant ...``, same data, steps and sizes) is frozen; phase 2 (the
2 x 2048 MLP on the latent, ``train.css.train_pose_head``) is trained here once per label fraction on the same
labelled pool (every ``--pool-every``-th training frame; fraction f keeps every round(1/f)-th of the pool) and
scored on every labelled frame of the held-out cache (new people, new motions: CMU subjects 006 and 131 for our
renders). A mean-pose row (the training pool's mean pelvis-centred pose) says what "learnt nothing" scores.

K-means: features of the held-out frames, K = number of held-out people, clusters matched one-to-one (Hungarian);
reported over all frames and per camera (each camera of a render has its own background, so "per camera"
removes the background as a cue, as a studio's fixed cameras do in the paper).

    python bench/css_eval.py --train cache:/work/runs/css/frames_train --heldout cache:/work/runs/css/frames_heldout \
        --weights R/full.safetensors R/css.safetensors R/ae.safetensors R/dsl.safetensors
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from posecli.console import set_quiet
from posecli.css.pipeline import load_css
from posecli.images.cache import load_cache
from posecli.train.css import (
    encode,
    kmeans_accuracy,
    pose_metrics,
    predict_poses,
    relative_poses,
    train_pose_head,
)


def cache_of(spec: str):
    return load_cache(Path(spec.removeprefix("cache:")))


def kmeans_rows(feats: np.ndarray, cs, seed: int) -> dict:
    subjects = cs.subject
    out = {"all_frames": round(kmeans_accuracy(feats, subjects, seed), 3)}
    per_view = [kmeans_accuracy(feats[cs.view == v], subjects[cs.view == v], seed) for v in np.unique(cs.view)]
    out["per_camera_mean"] = round(float(np.mean(per_view)), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True, help="cache:DIR of the training frames (labelled pool)")
    ap.add_argument("--heldout", required=True, help="cache:DIR of held-out labelled frames")
    ap.add_argument("--weights", nargs="+", required=True)
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.01, 0.1, 1.0])
    ap.add_argument("--pool-every", type=int, default=4)
    ap.add_argument("--pose-steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    set_quiet(True)
    torch.manual_seed(args.seed)
    train, held = cache_of(args.train), cache_of(args.heldout)
    pool = np.flatnonzero(train.labelled)[::args.pool_every]
    held_rows = np.flatnonzero(held.labelled)
    truth = relative_poses(held.pose[held_rows])
    pool_poses = relative_poses(train.pose[pool])
    result = {"train": args.train, "heldout": args.heldout, "pool_frames": int(len(pool)),
              "heldout_frames": int(len(held_rows)), "heldout_people": int(len(np.unique(held.subject))),
              "pose_steps": args.pose_steps, "fractions": args.fractions, "models": {}}
    mean_pose = np.repeat(pool_poses.mean(0, keepdims=True), len(truth), 0)
    result["mean_pose"] = pose_metrics(mean_pose, truth)
    for path in args.weights:
        t0 = time.time()
        dev = args.device
        model, card = load_css(path, dev)
        variant = card["config"]["variant"]
        feats_pool = encode(model.net, train, pool, dev)
        feats_held = encode(model.net, held, np.arange(len(held)), dev)
        latent_held = feats_held["latent"][held_rows]
        row = {"file": str(path), "variant": variant, "ssl_steps": card.get("history", [{}])[-1].get("step"),
               "final_ssl_losses": card.get("history", [{}])[-1], "by_fraction": {}}
        for f in args.fractions:
            k = max(1, int(round(1.0 / f)))
            sel = np.arange(len(pool))[::k]
            head = train_pose_head(feats_pool["latent"][sel], pool_poses[sel], args.pose_steps, seed=args.seed,
                                   device=dev)
            row["by_fraction"][str(f)] = {"labels": int(len(sel)),
                                         **pose_metrics(predict_poses(head, latent_held, dev), truth)}
        row["kmeans_subject_accuracy"] = {("tv" if variant == "full" else "latent"):
                                          kmeans_rows(feats_held["latent"], held, args.seed)}
        if feats_held["ti"].size:
            row["kmeans_subject_accuracy"]["ti"] = kmeans_rows(feats_held["ti"], held, args.seed)
        box = feats_held["box"]
        row["box_side_mean"] = round(float(box[:, :2].mean()), 3)
        row["seconds"] = round(time.time() - t0, 1)
        result["models"][Path(path).stem] = row
        print(json.dumps({Path(path).stem: row}), flush=True)
    n = {name: [m["by_fraction"][str(f)]["n_mpjpe"] for f in args.fractions] for name, m in result["models"].items()}
    result["n_mpjpe_table"] = n
    print("\nN-MPJPE (mm) on held-out renders by label fraction " + " / ".join(f"{f:g}" for f in args.fractions))
    for name, v in n.items():
        print(f"{name:<12} " + " ".join(f"{x:8.1f}" for x in v))
    print(f"{'mean pose':<12} {result['mean_pose']['n_mpjpe']:8.1f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({"n_mpjpe_table": n, "mean_pose_n_mpjpe": result["mean_pose"]["n_mpjpe"]}))


if __name__ == "__main__":
    main()
