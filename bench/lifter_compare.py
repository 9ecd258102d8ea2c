"""Lifters side by side on held-out CMU subjects: the same sequences, cameras and 2D for every model, in one run.

Every sequence of the held-out subjects is filmed whole by one seeded random camera (the default sampler:
Pr-VIPE's angles, 22-35 mm lenses, as the weight cards' figures), once with exact 2D and once with
detector-like 2D (``synth2d.realistic_2d``: jitter, outliers, drops, left/right swap runs), and lifted
through ``estimate``'s own path (``lifting.pipeline.lift_track``: resampling to the model's rate, test-time
flip and rolls, the root from the weak-perspective camera with the true focal length; ``--blend 0``, no video). No
videographic zoom or pan (the cards' detector-like figures have them in a quarter of the sequences), so the
root can be compared with the truth.

Reported per model and 2D kind (mm unless named): MPJPE / PA-MPJPE over the 17 joints and over 13 (pelvis +
12 limb joints, pelvis-centred), acceleration error, root error, the 99th percentile of the root's
frame-to-frame jump and of its error against the true jump, and the median tilt (degrees) of ``estimate``'s up
direction (``add_world_frame``: the up head averaged per sequence, refined by the floor) against the camera's
true one, and of the head's average alone. ``--robust both`` runs every model with and
without ``lifting.robust``; ``--baseline NAME`` prints each model's ratio to that one (a key as printed,
e.g. ``tcn:plain``);
``--plain NAME`` also runs that model through VideoPose3D's plain path (its joints as they are).
``--sides`` (default on): the 2D first goes through ``track``'s left/right pass (``track.sides``), as
``posecli track`` hands it to ``estimate``; the :plain rows never (a VideoPose3D user feeds detections as
they are); ``--sides both`` adds rows ending in :no-sides. Usage:

    python bench/lifter_compare.py --weights weights/estimate.safetensors /tmp/tcn.safetensors \\
        --baseline tcn --subjects 006 131
"""
from __future__ import annotations

import argparse
import json
import sys
from itertools import product
from pathlib import Path

import numpy as np

from posecli import joints
from posecli.console import set_quiet
from posecli.lifting import bones, pipeline
from posecli.lifting.pipeline import add_world_frame, lift_track, load_lifter, load_up_model, up_from_model
from posecli.lifting.world import tilt_degrees
from posecli.metrics import accel_error, mpjpe, pa_mpjpe
from posecli.mocap.sources import load_mocap
from posecli.poses import KEYPOINTS_2D, Keypoints, Track
from posecli.track.sides import consistent_keypoints
from posecli.train.clips import ClipSampler

sys.path.insert(0, str(Path(__file__).parent))
from estimate_pose2sim import SIDES  # noqa: E402  (on / off / both, and the :no-sides suffix)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"
J13 = [joints.H36M17.index(n) for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                                        "right_ankle", "left_shoulder", "right_shoulder", "left_elbow",
                                        "right_elbow", "left_wrist", "right_wrist")]


def clips_for(dataset, clean: bool, seed: int):
    # a static camera (no videographic zoom): the true root stays comparable
    sampler = ClipSampler(dataset, 32, seed=seed, clean=clean, videography=0.0)
    rng = np.random.default_rng(seed)
    for seq in dataset.sequences:
        clip = sampler.make_clip(seq.joints["h36m17"], seq.joints["coco17"], rng, seq.fps)
        pix = clip.x[..., :2] * clip.scale[:, None, None] + clip.centre[:, None]
        conf = clip.x[..., 2]
        pix = np.where(conf[..., None] > 0, pix, np.nan).astype(np.float32)
        times = np.arange(len(pix)) / seq.fps
        track = Track(1, np.arange(len(pix)), times, {KEYPOINTS_2D: Keypoints("coco17", pix, conf)}, {}, {})
        yield seq, clip, track


def with_sides(track: Track) -> Track:
    """The track as ``posecli track`` hands it on: left/right label flips undone (``track.sides``)."""
    kp = track.keypoints[KEYPOINTS_2D]
    points, conf = consistent_keypoints(kp.points, kp.confidence, track.times, kp.joint_set)
    return Track(track.id, track.frames, track.times, {KEYPOINTS_2D: Keypoints(kp.joint_set, points, conf)}, {}, {})


def evaluate(model, card, items, robust: bool, root_mode: str = "joints", refine: bool = True,
             gravities: dict | None = None) -> dict:
    acc: dict[str, list] = {}
    w, tilts, head_tilts = [], [], []
    gravities = gravities or {}
    up_model_tilts: dict[str, list] = {k: [] for k in gravities}
    for seq, clip, track in items:
        out = lift_track(model, track, card["config"]["length"], *clip.size, focal=clip.focal,
                         model_fps=float(card.get("fps", 30.0)), blend=0.0, robust=robust, root_mode=root_mode,
                         refine=refine)
        pred = out.arrays["keypoints3d_all"] - out.arrays["root"][:, None]
        gt = clip.joints
        root, root_gt = out.arrays["root"], clip.root
        jump = np.linalg.norm(np.diff(root, axis=0), axis=-1)
        jump_err = np.linalg.norm(np.diff(root, axis=0) - np.diff(root_gt, axis=0), axis=-1)
        vals = {"mpjpe17": mpjpe(pred, gt), "pa17": pa_mpjpe(pred, gt), "mpjpe13": mpjpe(pred[:, J13], gt[:, J13]),
                "pa13": pa_mpjpe(pred[:, J13], gt[:, J13]), "accel": accel_error(pred, gt),
                "root_err": float(np.linalg.norm(root - root_gt, axis=-1).mean())}
        for k, v in vals.items():
            acc.setdefault(k, []).append(1000 * v)
        acc.setdefault("_jump", []).append(jump)
        acc.setdefault("_jump_err", []).append(jump_err)
        w.append(len(gt))
        world = add_world_frame([out])  # estimate's own up: the head's average refined by the floor
        if world is not None:
            tilts.append(tilt_degrees(world["up_camera"], clip.up[0]))
            head_tilts.append(tilt_degrees(world["up_head"], clip.up[0]))
        for stem, gravity in gravities.items():  # the same joints, the up from a gravity model (estimate's way)
            out.arrays["up_camera"] = up_from_model(*gravity, track, *clip.size, focal=clip.focal, robust=robust)
            up_model_tilts[stem].append(tilt_degrees(add_world_frame([out])["up_camera"], clip.up[0]))
    res = {f"{k}_mm": round(float(np.average(v, weights=w)), 1) for k, v in acc.items() if not k.startswith("_")}
    res["root_jump_p99_mm"] = round(1000 * float(np.percentile(np.concatenate(acc["_jump"]), 99)), 1)
    res["root_jump_err_p99_mm"] = round(1000 * float(np.percentile(np.concatenate(acc["_jump_err"]), 99)), 1)
    if tilts:
        res["tilt_median_deg"] = round(float(np.median(tilts)), 2)
        res["tilt_head_only_median_deg"] = round(float(np.median(head_tilts)), 2)
    for stem, t in up_model_tilts.items():
        key = "tilt_up_model_median_deg" if len(up_model_tilts) == 1 else f"tilt_up_{stem}_median_deg"
        res[key] = round(float(np.median(t)), 2)
    res["frames"] = int(sum(w))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", nargs="+", required=True, help="lifter weights (each with its .json card)")
    ap.add_argument("--names", nargs="*", help="a name per weights file (default: file stems)")
    ap.add_argument("--baseline", help="name of the model the ratios are taken against")
    ap.add_argument("--subjects", nargs="+", default=["006", "131"])
    ap.add_argument("--mocap", default=f"cmu:{SHARED}")
    ap.add_argument("--robust", choices=["on", "off", "both"], default="on")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--plain", nargs="*", default=[], help="names of models to also run through the plain path "
                    "(VideoPose3D's: the lifter's joints as they are, no lifting.bones / reproject), as NAME:plain")
    ap.add_argument("--root", choices=["joints", "weak", "both"], default="joints",
                    help="how the root is placed (lifting.root): from the joints, the weak camera, or both")
    ap.add_argument("--up-weights", nargs="*", default=[], help="gravity models (``estimate --up-weights``): every "
                    "model's tilt is also reported with the up from each (tilt_up_model_median_deg, or "
                    "tilt_up_STEM_median_deg for several)")
    ap.add_argument("--sides", choices=list(SIDES), default="on", help="track's left/right pass "
                    "(track.sides) on the 2D before lifting, as `posecli track` hands it to estimate; not on the "
                    ":plain rows (VideoPose3D's path takes the detections as they are). both: rows :no-sides too")
    ap.add_argument("--rolls", nargs="*", default=None, help="test-time roll variants of estimate's path "
                    "(lifting.pipeline.TTA_ROLLS), each a comma list of magnitudes in degrees (10,20 = -20 -10 10 20) "
                    "or none; rows NAME@rolls=V (default: the shipped setting only)")
    ap.add_argument("--symmetric", choices=["on", "off", "both"], default="on", help="left/right bone twins at "
                    "one length (lifting.bones.SYMMETRIC); both: rows NAME@sym=on and NAME@sym=off")
    args = ap.parse_args()
    if args.mocap == f"cmu:{SHARED}" and not SHARED.is_dir():
        sys.exit(f"bench: {SHARED} not found (../shared/data absent)")
    set_quiet(True)
    names = args.names or [Path(w).stem for w in args.weights]
    data = load_mocap(args.mocap)
    held = data.split(args.subjects)[1]
    models = {n: load_lifter(w) for n, w in zip(names, args.weights)}
    gravities = {Path(u).stem: load_up_model(u) for u in args.up_weights}
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.robust]
    shipped_rolls, shipped_sym = pipeline.TTA_ROLLS, bones.SYMMETRIC
    roll_variants = [("", shipped_rolls)] if args.rolls is None else [
        (f"@rolls={v}", () if v == "none" else tuple(sorted(s * float(m) for m in v.split(",") for s in (-1, 1))))
        for v in args.rolls]
    sym_variants = [("@sym=on", True), ("@sym=off", False)] if args.symmetric == "both" else [
        ("", args.symmetric == "on")]
    results = {}
    for kind, clean in (("exact_2d", True), ("detector_like_2d", False)):
        items = list(clips_for(held, clean, args.seed))
        inputs = [(sfx, [(seq, clip, with_sides(track)) for seq, clip, track in items] if sides else items)
                  for sides, sfx in SIDES[args.sides]]
        for name, (model, card) in models.items():
            for robust in modes:
              for root_mode in (["joints", "weak"] if args.root == "both" else [args.root]):
                key = name + ("" if args.robust != "both" else ("+robust" if robust else "-robust")) + (
                    "" if args.root != "both" else f"@{root_mode}")
                for (sfx, given), (rsfx, rolls), (ssfx, sym) in product(inputs, roll_variants, sym_variants):
                    skey = key + sfx + rsfx + ssfx
                    pipeline.TTA_ROLLS, bones.SYMMETRIC = rolls, sym
                    r = evaluate(model, card, given, robust, root_mode, gravities=gravities)
                    pipeline.TTA_ROLLS, bones.SYMMETRIC = shipped_rolls, shipped_sym
                    results.setdefault(kind, {})[skey] = r
                    print(json.dumps({"2d": kind, "model": skey, **r}), flush=True)
                if name in args.plain:
                    r = evaluate(model, card, items, robust, "weak", refine=False)
                    results[kind][key + ":plain"] = r
                    print(json.dumps({"2d": kind, "model": key + ":plain", **r}), flush=True)
    summary = {"subjects": args.subjects, "seed": args.seed, "results": results}
    if args.baseline:
        summary["ratio_to_" + args.baseline] = {
            kind: {m: {k: round(v[k] / base[k], 3) for k in ("mpjpe17_mm", "pa17_mm", "mpjpe13_mm", "pa13_mm")}
                   for m, v in res.items()}
            for kind, res in results.items()
            for base in [res[args.baseline]]}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
