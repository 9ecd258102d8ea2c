"""Multi-person tracking benchmark with exact truth: ``posecli synth`` scenes, MOT metrics (motmetrics).

Scenes (made on first use, deterministic): ``posecli synth --layout crossing`` - 4 people per clip, walkers
crossing the middle at different instants, people standing around them, half the views framed tight so people
leave and re-enter the image; one set with static cameras, one with following (panning) cameras; 960x540,
150 frames (5 s) per view. Each view video is tracked with ``posecli track`` by every tracker given (today's
code and, with ``--baseline REV``, the code of a git revision, checked out in a worktree), in the same run.

Truth per frame and person, from the render's COCO-17 keypoints and per-joint visibility (0 outside the image,
1 hidden, 2 visible):
- a person *counts* in a frame when at least ``MIN_VISIBLE`` joints are visible (state 2); a person with 1 to
  MIN_VISIBLE - 1 visible joints is *ignored* (a track on them is neither a hit nor a false positive);
- the box is that of the person's joints in front of the camera, clipped to the image; height (for the
  size classes) is the unclipped joint box's height over the image height. Recall is also given for the
people at most half hidden (``MOSTLY_VISIBLE`` of 17 joints visible).
A track's box is its COCO-17 keypoints' box clipped to the image; it matches a person at IoU >= 0.5
(motmetrics, distance 1 - IoU, max 0.5). Metrics: motmetrics' IDF1, MOTA, ID switches, recall, precision (all
views together); recall for people taller than 15 % of the frame; keypoint error of matched people (visible
joints, over the person's height) and PCK@0.1. HOTA, DetA, AssA and LocA from evaldet (Apache-2.0; TrackEval's
PyPI package depends on opencv-python, which would put a second cv2 beside mediapipe's opencv-contrib-python).
evaldet matches people as the HOTA paper does, TrackEval with a slightly different assignment: on this
benchmark's outputs the two agreed to 0.001 in HOTA and 0.007 in DetA / AssA (docs/benchmarks.md, session 27).

    pip install -e ".[bench]"
    python bench/track_mot.py --baseline 33951d5          # prints one JSON row per tracker, then a table
    python bench/track_mot.py --small                     # the scenes with small people (5-40 % of the frame)
    python bench/track_mot.py --cuts                      # edited clips: the two views of a scene, hard cuts
    python bench/track_mot.py --args '' --args '--detector weights/detector.safetensors'   # variants, same run
    python bench/track_mot.py --baseline REV "--baseline-args=--pyramid-levels 3" "--args=--pyramid-levels 3"
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MIN_VISIBLE = 5
MOSTLY_VISIBLE = 9  # of 17 joints: the extra recall figure for people at most half hidden
TALL = 0.15
SCENES = {
    "static": ["--seed", "21"],
    "follow": ["--seed", "22", "--follow"],
}
# People at several sizes (issue 15: "down to ~10 % of the frame height"): every view framed wide, no tight
# framings, so the people fill about 5-40 % of the frame; ``--small`` runs these instead of the scenes above.
SMALL_SCENES = {
    "small_static": ["--seed", "31", "--wide", "1", "--truncate", "0"],
    "small_follow": ["--seed", "32", "--wide", "1", "--truncate", "0", "--follow"],
}
# Edited clips (a broadcast switching camera): each clip of SCENES seen from cam_01 and cam_02 in turn, a hard cut
# every CUT_SHOT frames (1.7 s), starting from either camera; the people keep their ids across the cut (one render,
# two cameras), so an identity that follows a position across a cut onto someone else counts as a switch.
CUT_SCENE = "cuts"
CUT_SHOT = 50
SIZE_BINS = (0.0, 0.10, 0.15, 0.30)  # recall per person height (fraction of the frame) from each edge up
SYNTH = ["--views", "2", "--persons", "4", "--clips", "4", "--frames", "150", "--size", "960x540",
         "--truncate", "0.5", "--layout", "crossing", "--backdrop", "flat"]  # flat: the scenes every figure in
# docs/benchmarks.md was measured on (rendered before rooms existed), so earlier rows stay comparable


def make_scenes(data: Path, scenes: dict = SCENES) -> list[Path]:
    """The benchmark's synth datasets under ``data`` (rendered when missing; resumable); ``scenes``: SCENES or
    SMALL_SCENES (their options follow SYNTH's, so they win where both set one)."""
    out = []
    for name, extra in scenes.items():
        folder = data / name
        if not (folder / "manifest.json").is_file() or len(json.loads((folder / "manifest.json").read_text())
                                                           ["clips"]) < int(SYNTH[SYNTH.index("--clips") + 1]):
            cmd = [sys.executable, "-m", "posecli", "synth", "--mocap", f"cmu:{SHARED / 'mocap'}", *SYNTH, *extra,
                   "--backgrounds", str(SHARED / "videos"), "-o", str(folder), "--quiet"]
            print("rendering:", " ".join(cmd), file=sys.stderr, flush=True)
            folder.parent.mkdir(parents=True, exist_ok=True)  # synth writes into an existing parent only
            subprocess.run(cmd, check=True)
        out.append(folder)
    return out


def make_cut_scenes(data: Path) -> list[Path]:
    """The CUT_SCENE set under ``data`` (made from SCENES' renders when missing): per clip, cam_01 / cam_02 /
    cam_01 ... and cam_02 / cam_01 / cam_02 ..., CUT_SHOT frames each, with the truth of the camera on screen."""
    from posecli.formats import read_poses, write_poses
    from posecli.video import read_frames
    from posecli.video.writer import VideoWriter

    folder = data / CUT_SCENE
    if (folder / "manifest.json").is_file():
        return [folder]
    clips = []
    for source in make_scenes(data, SCENES):
        for clip in json.loads((source / "manifest.json").read_text())["clips"]:
            (a_video, a_truth), (b_video, b_truth) = [(source / v["video"], source / v["poses"]) for v in clip["views"]]
            name = f"{source.name}_{a_video.parent.name}"
            (folder / name).mkdir(parents=True, exist_ok=True)
            cams = [(list(read_frames(video)), read_poses(truth)) for video, truth in ((a_video, a_truth),
                                                                                      (b_video, b_truth))]
            views_out = []
            for first, stem in ((0, "cut_a"), (1, "cut_b")):
                on_screen = [(first + f // CUT_SHOT) % 2 for f in range(len(cams[0][0]))]
                with VideoWriter(folder / name / f"{stem}.mp4", fps=cams[0][1].fps) as w:
                    for f, cam in enumerate(on_screen):
                        w.write(cams[cam][0][f].image)
                write_poses(_spliced_truth([c[1] for c in cams], on_screen), folder / name / f"{stem}.npz")
                views_out.append({"video": f"{name}/{stem}.mp4", "poses": f"{name}/{stem}.npz"})
            clips.append({"views": views_out})
    (folder / "manifest.json").write_text(json.dumps({"made_from": list(SCENES), "shot_frames": CUT_SHOT,
                                                      "clips": clips}, indent=1))
    return [folder]


def _spliced_truth(cams: list, on_screen: list[int]):
    """One truth file from per-camera truths of the same render: frame f from camera ``on_screen[f]``."""
    import copy
    from dataclasses import replace

    tracks = []
    for tr in cams[0].tracks:
        out = copy.deepcopy(tr)
        for f, cam in enumerate(on_screen):
            src = cams[cam].track(tr.id)
            i, j = out.row(f), src.row(f)
            if i is None or j is None:
                raise SystemExit(f"bench: truth of person {tr.id} lacks frame {f}")
            for k, layer in out.keypoints.items():
                layer.points[i], layer.confidence[i] = src.keypoints[k].points[j], src.keypoints[k].confidence[j]
            for k, arr in out.arrays.items():
                arr[i] = src.arrays[k][j]
        tracks.append(out)
    meta = {**cams[0].meta, "spliced": {"cameras": [c.meta.get("synth", {}).get("view") for c in cams],
                                        "on_screen": on_screen}}
    return replace(cams[0], tracks=tracks, meta=meta)


def views(folder: Path) -> list[tuple[Path, Path]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return [(folder / v["video"], folder / v["poses"]) for c in manifest["clips"] for v in c["views"]]


DATA = ROOT / "bench_data" / "track_mot"


def result_views(data: Path, label: str):
    """(view name, truth file, tracker output) of every view, for the analyses of a finished run
    (``track_switches``, ``track_unmatched``, ``track_oracle``); ``label``: a folder under ``data/results``."""
    if not (data / "results" / label).is_dir():
        sys.exit(f"bench: {data / 'results' / label} not found (run bench/track_mot.py first; labels are the "
                 f"folder names under {data / 'results'})")
    for scene in [*SCENES, *SMALL_SCENES, CUT_SCENE]:
        if not (data / scene / "manifest.json").is_file():
            continue
        for video, truth_file in views(data / scene):
            name = f"{scene}_{video.parent.name}_{video.stem}"
            if (data / "results" / label / f"{name}.npz").is_file():
                yield name, truth_file, data / "results" / label / f"{name}.npz"


def results_parser(doc: str) -> argparse.ArgumentParser:
    """The analyses' command line: output folders under ``DATA/results`` and ``--data``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels", nargs="+", help="tracker output folders under DATA/results")
    ap.add_argument("--data", type=Path, default=DATA)
    return ap


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` beside the repository (made once), to run an older tracker in the same run."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"posecli-{rev}"
    if not path.is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True,
                       capture_output=True)
    return path


def run_track(video: Path, out: Path, source: Path, args: list[str], cached: bool) -> float:
    """``posecli track`` from the code in ``source``; returns the wall time (``cached``: not rerun if done,
    for a fixed git revision; today's code always runs)."""
    timing = out.with_suffix(".seconds")
    if cached and out.is_file() and timing.is_file():
        return float(timing.read_text())
    env = dict(os.environ, PYTHONPATH=str(source))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "posecli", "track", str(video), "-o", str(out), "--quiet", *args],
                   check=True, env=env, cwd=source)
    wall = time.perf_counter() - t0
    timing.write_text(f"{wall:.3f}")
    return wall


def truth_frames(truth) -> dict[int, list[dict]]:
    """Per frame: the people in it (id, box, height fraction, keypoints, visible mask, ignored)."""
    from posecli.poses import KEYPOINTS_2D

    w, h = truth.width, truth.height
    frames: dict[int, list[dict]] = {}
    for tr in truth.tracks:
        uv = tr.keypoints[KEYPOINTS_2D].points
        state = tr.arrays["visibility_coco17"]
        for i, f in enumerate(tr.frames):
            visible = state[i] == 2
            front = np.isfinite(uv[i]).all(-1)
            if visible.sum() == 0 or not front.any():
                continue
            p = uv[i][front]
            box = np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])
            frames.setdefault(int(f), []).append({
                "id": tr.id, "box": np.clip(box, 0, [w, h, w, h]), "height": float((box[3] - box[1]) / h),
                "keypoints": uv[i], "visible": visible, "ignored": int(visible.sum()) < MIN_VISIBLE})
    return frames


def track_frames(poses) -> dict[int, list[dict]]:
    from posecli import joints
    from posecli.poses import KEYPOINTS_2D

    w, h = poses.width, poses.height
    frames: dict[int, list[dict]] = {}
    for tr in poses.tracks:
        kp = tr.keypoints[KEYPOINTS_2D]
        pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
        for i, f in enumerate(tr.frames):
            ok = np.isfinite(pts[i]).all(-1)
            if not ok.any():
                continue
            p = pts[i][ok]
            box = np.clip([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], 0, [w, h, w, h])
            frames.setdefault(int(f), []).append({"id": tr.id, "box": box, "keypoints": pts[i]})
    return frames


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from posecli.boxes import box_iou

    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    return box_iou(np.asarray(a, float), np.asarray(b, float))


def match_boxes(people: list[dict], tracks: list[dict], threshold: float = 0.5) -> tuple[np.ndarray, list]:
    """One frame's people and track skeletons paired one-to-one on box IoU (Hungarian), as the analyses of a
    finished run count them: (IoU matrix people x tracks, [(person index, track index)] at IoU >= threshold)."""
    from scipy.optimize import linear_sum_assignment

    m = iou([p["box"] for p in people], [t["box"] for t in tracks])
    if not m.size:
        return m, []
    r, c = linear_sum_assignment(-m)
    return m, [(i, j) for i, j in zip(r, c) if m[i, j] >= threshold]


def score_view(truth, poses, name: str):
    """Feed one view into a motmetrics accumulator; returns it, per-match extras and, per frame, the people counted
    and the tracks kept (for HOTA)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    gt, hyp = truth_frames(truth), track_frames(poses)
    tall = {"objects": 0, "found": 0, "visible_objects": 0, "visible_found": 0,
            "bin_objects": np.zeros(len(SIZE_BINS), int), "bin_found": np.zeros(len(SIZE_BINS), int)}
    errors, scored = [], []
    for f in range(truth.num_frames):
        people, tracks = gt.get(f, []), hyp.get(f, [])
        counted = [p for p in people if not p["ignored"]]
        ignored = [p for p in people if p["ignored"]]
        # A track on an ignored (barely visible) person is dropped from the frame, not counted as false.
        if ignored and tracks:
            best_counted = iou([t["box"] for t in tracks], [p["box"] for p in counted]).max(1, initial=0)
            best_ignored = iou([t["box"] for t in tracks], [p["box"] for p in ignored]).max(1)
            tracks = [t for t, c, i in zip(tracks, best_counted, best_ignored) if not (i >= 0.5 and i > c)]
        dist = 1 - iou([p["box"] for p in counted], [t["box"] for t in tracks])
        dist[dist > 0.5] = np.nan
        acc.update([p["id"] for p in counted], [t["id"] for t in tracks], dist, frameid=f)
        scored.append((f, counted, tracks))
    events = acc.mot_events
    by_frame = {(f, p["id"]): p for f, ps in gt.items() for p in ps}
    tracks_by = {(f, t["id"]): t for f, ts in hyp.items() for t in ts}
    for (f, _), e in events.iterrows():
        if e.Type not in ("MATCH", "SWITCH", "MISS"):
            continue
        person = by_frame[(f, e.OId)]
        b = np.searchsorted(SIZE_BINS, person["height"], side="right") - 1
        tall["bin_objects"][b] += 1
        tall["bin_found"][b] += e.Type != "MISS"
        if person["height"] >= TALL:
            tall["objects"] += 1
            tall["found"] += e.Type != "MISS"
            if person["visible"].sum() >= MOSTLY_VISIBLE:
                tall["visible_objects"] += 1
                tall["visible_found"] += e.Type != "MISS"
        if e.Type != "MISS":
            t = tracks_by[(f, e.HId)]
            v = person["visible"]
            err = np.linalg.norm(t["keypoints"][v] - person["keypoints"][v], axis=-1) / (person["height"] * truth.height)
            errors.append(err[np.isfinite(err)])
    return acc, tall, errors, scored


def hota(views: list[list[tuple]]) -> dict:
    """HOTA, DetA and AssA (evaldet: the HOTA paper's definition, averaged over IoU thresholds 0.05-0.95) of all
    views together, from ``score_view``'s frames (ignored people and the tracks on them already left out). Each
    view's frames and ids are offset so views stay apart: the counts then add up over views, as TrackEval's
    combined sequences do."""
    from evaldet import Tracks
    from evaldet.mot.motmetrics import MOTMetrics

    rows = {"gt": ([], [], []), "hyp": ([], [], [])}
    offset = 0
    for v, frames in enumerate(views):
        for f, people, tracks in frames:
            for key, items in (("gt", people), ("hyp", tracks)):
                for item in items:
                    x0, y0, x1, y1 = item["box"]
                    rows[key][0].append(v * 1_000_000 + int(item["id"]))
                    rows[key][1].append(offset + f)
                    rows[key][2].append([x0, y0, x1 - x0, y1 - y0])  # evaldet's boxes are x, y, w, h
        offset += max((f for f, _, _ in frames), default=0) + 1
    gt, hyp = (Tracks(ids, frames, np.array(boxes, np.float32)) for ids, frames, boxes in rows.values())
    out = MOTMetrics().compute(gt, hyp, hota_metrics=True)["hota"]
    return {k: round(float(out[k]), 3) for k in ("HOTA", "DetA", "AssA", "LocA")}


def evaluate(scenes: list[Path], label: str, source: Path, args: list[str], out: Path, cached: bool = False) -> dict:
    import motmetrics as mm

    from posecli.formats import read_poses

    accs, names, wall, frames = [], [], 0.0, 0
    tall = {"objects": 0, "found": 0, "visible_objects": 0, "visible_found": 0,
            "bin_objects": np.zeros(len(SIZE_BINS), int), "bin_found": np.zeros(len(SIZE_BINS), int)}
    errors, scored = [], []
    for folder in scenes:
        for video, truth_file in views(folder):
            name = f"{folder.name}/{video.parent.name}/{video.stem}"
            result = out / label / f"{name.replace('/', '_')}.npz"
            result.parent.mkdir(parents=True, exist_ok=True)
            wall += run_track(video, result, source, args, cached)
            truth = read_poses(truth_file)
            frames += truth.num_frames
            acc, t, e, frames_scored = score_view(truth, read_poses(result), name)
            scored.append(frames_scored)
            accs.append(acc)
            names.append(name)
            tall = {k: tall[k] + t[k] for k in tall}
            errors += e
    mh = mm.metrics.create()
    summary = mh.compute_many(accs, names=names, generate_overall=True,
                              metrics=["idf1", "idp", "idr", "mota", "motp", "num_switches", "recall", "precision",
                                       "num_objects", "num_false_positives", "num_misses", "num_fragmentations",
                                       "mostly_tracked", "num_unique_objects"])
    overall = summary.loc["OVERALL"]
    err = np.concatenate(errors) if errors else np.zeros(0)
    per_view = {n: {"idf1": round(float(summary.loc[n, "idf1"]), 3), "switches": int(summary.loc[n, "num_switches"])}
                for n in names}
    return {"tracker": label, "views": len(names), "person_frames": int(overall["num_objects"]),
            **{k.lower(): v for k, v in hota(scored).items()},
            "idf1": round(float(overall["idf1"]), 3), "mota": round(float(overall["mota"]), 3),
            "id_switches": int(overall["num_switches"]),
            "switches_per_1000": round(1000 * float(overall["num_switches"]) / max(float(overall["num_objects"]), 1), 2),
            "recall": round(float(overall["recall"]), 3), "precision": round(float(overall["precision"]), 3),
            "recall_taller_15pct": round(tall["found"] / max(tall["objects"], 1), 3),
            "person_frames_taller_15pct": tall["objects"],
            "recall_taller_15pct_half_visible": round(tall["visible_found"] / max(tall["visible_objects"], 1), 3),
            "person_frames_taller_15pct_half_visible": tall["visible_objects"],
            "recall_by_height": {f"{lo:.2f}-{hi:.2f}": [round(int(n_f) / max(int(n_o), 1), 3), int(n_o)]
                                 for lo, hi, n_f, n_o in zip(SIZE_BINS, (*SIZE_BINS[1:], 1.0), tall["bin_found"],
                                                             tall["bin_objects"])},
            "false_positives": int(overall["num_false_positives"]), "misses": int(overall["num_misses"]),
            "fragmentations": int(overall["num_fragmentations"]),
            "keypoint_err_over_height": round(float(err.mean()), 4) if err.size else None,
            "pck@0.1": round(float((err < 0.1).mean()), 3) if err.size else None,
            "track_seconds": round(wall, 1), "fps": round(frames / wall, 1) if wall else None,
            "args": args, "per_view": per_view}


def _label(name: str, args: list[str]) -> str:
    """The results folder of a tracker run with ``args`` (e.g. ``today_--pyramid-levels_3``)."""
    return "_".join([name, *args]).replace("/", "_")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="where the scenes are (rendered there when missing)")
    ap.add_argument("--out", type=Path, default=None, help="tracker outputs (default DATA/results)")
    ap.add_argument("--baseline", default=None, help="git revision whose tracker runs beside today's")
    ap.add_argument("--baseline-args", default="", help="extra options for the baseline's posecli track "
                                                       "(e.g. --baseline-args='--pyramid-levels 3')")
    ap.add_argument("--args", action="append", default=None,
                    help="extra options for today's posecli track; repeat to run several variants in the same run "
                         "(e.g. --args '' --args '--detector weights/detector.safetensors')")
    ap.add_argument("--small", action="store_true", help="the scenes with small people (SMALL_SCENES) instead")
    ap.add_argument("--cuts", action="store_true", help="edited clips with hard cuts between two views (CUT_SCENE, "
                                                       "made from the standard scenes) instead")
    args = ap.parse_args()
    if not (SHARED / "mocap").is_dir():
        sys.exit(f"bench: {SHARED / 'mocap'} not found (../shared/data absent)")
    scenes = (make_cut_scenes(args.data) if args.cuts else
              make_scenes(args.data, SMALL_SCENES if args.small else SCENES))
    out = args.out or args.data / "results"
    rows = []
    if args.baseline:
        extra = args.baseline_args.split()
        rows.append(evaluate(scenes, _label(f"baseline-{args.baseline}", extra), worktree(args.baseline), extra,
                             out, cached=True))
        print(json.dumps(rows[-1]), flush=True)
    for extra in args.args or [""]:
        rows.append(evaluate(scenes, _label("today", extra.split()), ROOT, extra.split(), out))
        print(json.dumps(rows[-1]), flush=True)
    print("\ntracker | person-frames | HOTA | DetA | AssA | IDF1 | MOTA | ID sw | sw/1000 | recall | recall >15% | "
          "recall >15% half visible | precision | kp err/height | PCK@0.1 | fps")
    for r in rows:
        print(f"{r['tracker']} | {r['person_frames']} | {r['hota']:.3f} | {r['deta']:.3f} | {r['assa']:.3f} | "
              f"{r['idf1']:.3f} | {r['mota']:.3f} | {r['id_switches']} | "
              f"{r['switches_per_1000']:.2f} | {r['recall']:.3f} | {r['recall_taller_15pct']:.3f} | "
              f"{r['recall_taller_15pct_half_visible']:.3f} | "
              f"{r['precision']:.3f} | {r['keypoint_err_over_height']} | {r['pck@0.1']} | {r['fps']}")


if __name__ == "__main__":
    main()
