"""End-to-end truth from renders: ``posecli estimate`` (BlazePose detector + SPS lifter) on ``posecli synth``
renders of held-out CMU motion against the renders' exact 3D, side by side with MediaPipe's own 3D (BlazePose's
world landmarks) on the same frames.

Data: the held-out subject's sequences only, rendered by ``posecli synth --views V --clips C --frames N`` (a
random Anny body, clothes, background and camera rig per clip, person in view). Per view: ``track`` then
``estimate`` (with the render's true focal length). Truth: the synth pose file's ``keypoints3d_all`` (H36M-17 of
the rendered body, camera frame). Ours = ``estimate``'s output (blended with BlazePose's 3D,
``lifting.fusion``) and the lifter alone. Metrics per tracked frame: our MPJPE after aligning pelvises and
acceleration error (all 17 joints), and PA-MPJPE (similarity-aligned per frame) on the 12 limb joints every
source defines alike (hips, knees, ankles, shoulders, elbows, wrists) for both ours and BlazePose's world
landmarks. Also per view: the root's error and the 99th percentile of its frame-to-frame jump against the
true jump (``root_jump_err_p99``), and the tilt of ``keypoints3d_world`` (degrees between ``estimate``'s up and
the render camera's true one; ``tilt_head_only``: the up head alone, before the floor refines it; the up head is
estimate's, the shipped gravity model's unless ``--up-weights`` says otherwise; ``--lifter-up`` adds rows with
the lifter's own head). ``--robust both`` also runs session 3's root on the same tracks (names ending
``_before``: the weak-perspective root, no ``lifting.robust``): before and after ``lifting.root`` + ``robust``.

    python bench/synth_estimate.py [--robust on|both] [--subject 006] [--views 2] [--clips 4] [--frames 90] [--weights FILE [FILE ...]] [--keep DIR] [--lifter-up]
        [--backdrop room|flat]

``--keep DIR`` keeps the renders; a later run with the same DIR and recipe reuses them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
from itertools import product
import sys
import tempfile
from pathlib import Path

import numpy as np

from posecli.console import set_quiet
from posecli.formats import read_poses
from posecli.lifting.pipeline import SHIPPED_UP, estimate_poses
from posecli.lifting.world import tilt_degrees
from posecli.metrics import accel_error, mpjpe, pa_mpjpe
from posecli.mocap.sources import load_mocap
from posecli.track.backends import BlazePoseBackend
from posecli.track.pipeline import BLAZEPOSE_WORLD, TrackOptions, track_video
from posecli.weights_registry import weight_path

sys.path.insert(0, str(Path(__file__).parent))
from estimate_pose2sim import SIDES, VERTICALS, by_name, up_variants  # noqa: E402  (the 12 limb joints, by name)

MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subject", default="006")
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weights", nargs="+", default=[None], help="one or more estimate weights, side by side")
    ap.add_argument("--keep", default=None)
    ap.add_argument("--robust", choices=["on", "both"], default="on")
    ap.add_argument("--up-weights", nargs="+", default=[SHIPPED_UP], help="the gravity model giving the up "
                    "direction, as ``estimate --up-weights`` (default: estimate's, the shipped one); several: each "
                    "weights file runs with each, named NAME+STEM")
    ap.add_argument("--sides", choices=list(SIDES), default="on", help="track's left/right pass: on (track's "
                    "default), off, or both in the same run (rows of off end in :no-sides)")
    ap.add_argument("--verticals", choices=list(VERTICALS), default="on", help="estimate's up from the scene's "
                    "vertical lines: on (estimate's default), off, or both (names of off end in :no-verticals)")
    ap.add_argument("--backdrop", choices=["room", "flat"], default="room", help="posecli synth --backdrop: the "
                    "background on a wall and floor seen through the camera (default), or pasted flat")
    ap.add_argument("--lifter-up", action="store_true", help="also run every weights file with its own up head "
                    "(``estimate --lifter-up``), named NAME:lifter-up")
    args = ap.parse_args()
    set_quiet(True)
    work = Path(args.keep or tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    recipe = {"subject": args.subject, "views": args.views, "clips": args.clips, "frames": args.frames,
              "seed": args.seed, "backdrop": args.backdrop}
    done = work / "recipe.json"  # --keep DIR with the same recipe: the renders are reused, not made again
    if not (done.is_file() and json.loads(done.read_text()) == recipe):
        done.unlink(missing_ok=True)
        _, val = load_mocap(f"cmu:{MOCAP}").split([args.subject])
        val.save(work / "heldout.npz")
        posecli = str(Path(sys.executable).with_name("posecli"))
        subprocess.run([posecli, "synth", "--mocap", str(work / "heldout.npz"), "--views", str(args.views), "--clips",
                        str(args.clips), "--frames", str(args.frames), "--size", "640x480", "--seed", str(args.seed),
                        "--backdrop", args.backdrop, "-q", "-o", str(work / "synth")], check=True)
        done.write_text(json.dumps(recipe))
    all_weights = {Path(w).stem: w for w in (weight_path("estimate", w) for w in args.weights)}
    acc: dict[str, list] = {}
    frames_total = frames_tracked = 0
    for truth_file in sorted((work / "synth").glob("clip_*/cam_*.npz")):
        truth = read_poses(truth_file)
        gt = truth.tracks[0].arrays["keypoints3d_all"]
        frames_total += len(gt)
        row = {"clip_view": f"{truth_file.parent.name}/{truth_file.stem}"}
        for sides, sfx in SIDES[args.sides]:
            tracked = track_video(truth_file.with_suffix(".mp4"), BlazePoseBackend(max_persons=1),
                                  TrackOptions(max_persons=1, sides=sides))
            if not tracked.tracks:
                break
            t = tracked.tracks[0]
            g = gt[t.frames]
            bp = t.keypoints[BLAZEPOSE_WORLD]
            frames_tracked += len(t) if not sfx else 0
            row["frames"] = len(t)
            root_gt = g[:, 0]
            up_gt = np.asarray(truth.camera["R"])[:, 1]  # world +Y in the camera's axes
            up = args.up_weights[0]
            runs = [(n, w, True, u) for n, w, u in up_variants(all_weights, args.up_weights, args.lifter_up)] + (
                [(n + "_before", w, False, up) for n, w in all_weights.items()] if args.robust == "both" else [])
            for (base, weights, robust, up_weights), (vert, vsfx) in product(runs, VERTICALS[args.verticals]):
                name = base + sfx + vsfx
                result = estimate_poses(tracked, weights, focal=truth.meta["focal_px"], robust=robust,
                                        root_mode="joints" if robust else "weak", up_weights=up_weights,
                                        verticals=vert)
                arrays = result.tracks[0].arrays
                root = arrays["root"]
                consecutive = np.diff(t.frames) == 1
                jump_err = np.linalg.norm(np.diff(root, axis=0) - np.diff(root_gt, axis=0), axis=-1)[consecutive]
                row[f"{name}_root_err_mm"] = round(1000 * float(np.linalg.norm(root - root_gt, axis=-1).mean()), 1)
                row[f"{name}_root_jump_err_p99_mm"] = round(1000 * float(np.percentile(jump_err, 99)), 1)
                if "world" in result.meta:
                    row[f"{name}_tilt_deg"] = round(tilt_degrees(result.meta["world"]["up_camera"], up_gt), 2)
                    row[f"{name}_tilt_head_only_deg"] = round(tilt_degrees(result.meta["world"]["up_head"], up_gt), 2)
                main_row = len(all_weights) == 1 and base in all_weights  # "ours": the one model's default run
                for tag, ours in (("ours" + sfx + vsfx if main_row else name, arrays["keypoints3d_all"]),
                                  (f"{name}_lifter_only", arrays["keypoints3d_lifter"])):
                    row[f"{tag}_mpjpe_mm"] = round(1000 * mpjpe(ours - ours[:, :1], g - g[:, :1]), 1)
                    row[f"{tag}_pa_mpjpe_limbs_mm"] = round(1000 * pa_mpjpe(by_name(ours, "h36m17"),
                                                                           by_name(g, "h36m17")), 1)
                    row[f"{tag}_accel_mm"] = round(1000 * accel_error(ours, g), 1)  # jitter (tracked frames)
            row[f"blazepose_world{sfx}_pa_mpjpe_limbs_mm"] = round(1000 * pa_mpjpe(by_name(bp.points, bp.joint_set),
                                                                             by_name(g, "h36m17")), 1)
        if "frames" not in row:  # nobody tracked
            continue
        print(json.dumps(row), flush=True)
        for key, value in row.items():
            if key.endswith("_mm") or key.endswith("_deg"):
                acc.setdefault(key, []).append((value, len(t)))
    summary = {k: round(float(np.average([v for v, _ in x], weights=[n for _, n in x])), 1) for k, x in acc.items()
               if not k.endswith("_deg")}
    summary.update({k.replace("_deg", "_median_deg"): round(float(np.median([v for v, _ in x])), 2)
                    for k, x in acc.items() if k.endswith("_deg")})
    print(json.dumps({"all": summary, "frames_tracked": frames_tracked, "frames_rendered": frames_total}))


if __name__ == "__main__":
    main()
