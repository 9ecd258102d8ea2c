"""What BlazePose's landmark model can find on the MOT renders if every person's ROI were perfect (JSON).

The recall that ``posecli track`` reaches is bounded twice: by the detector (who gets an ROI) and by the landmark
model (whether the ROI gives a skeleton on that person). This measures the second bound alone. On every frame of
every view, each counted person gets the ROI a perfect detector would give them (from the render's truth: the
hip centre, and a point on the circle around the whole body in the direction of the shoulders, as BlazePose's
detector keypoints 0 and 1), and the landmark model runs on all of a frame's ROIs. Its skeletons are paired
with the frame's people one-to-one on box IoU >= 0.5 (Hungarian), exactly as ``track_mot.py`` pairs tracks:
so the recall printed is the best any detector, schedule or identity pass could make of this landmark model.

The truth has COCO's 17 joints, whose circle is smaller than the body's (no head top, no feet): the circle's
radius is the farthest joint's distance times ``--margin`` (default 1.0 and 1.2, both reported).

    python bench/track_ceiling.py                      # the standard scenes (run bench/track_mot.py first)
    python bench/track_ceiling.py --small --data DIR   # small-people scenes, another scene folder
    python bench/track_ceiling.py --synth DIR --synth DIR2 --margin 0.9 --margin 1.1   # any posecli synth outputs
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import track_mot as tm  # noqa: E402

COCO_HIPS, COCO_SHOULDERS = [11, 12], [5, 6]


def truth_points(person: dict, margin: float):
    """What a perfect BlazePose detector would say of this person, from the truth: hip centre, the point on the
    circle around the body towards the shoulders (radius: the farthest joint's distance times ``margin``), shoulder
    centre, and the radius; None without hips and shoulders."""
    kp = person["keypoints"]
    ok = np.isfinite(kp).all(-1)
    if not ok[COCO_HIPS + COCO_SHOULDERS].all():
        return None
    hip, shoulders = kp[COCO_HIPS].mean(0), kp[COCO_SHOULDERS].mean(0)
    radius = margin * float(np.linalg.norm(kp[ok] - hip, axis=1).max())
    up = (shoulders - hip) / max(float(np.linalg.norm(shoulders - hip)), 1e-6)
    return hip, hip + radius * up, shoulders, radius


def truth_roi(person: dict, margin: float):
    """The ROI a perfect BlazePose detector would give this person (None without hips and shoulders)."""
    from posecli.detect.roi import roi_from_points

    points = truth_points(person, margin)
    return None if points is None else roi_from_points(points[0], points[1])


def skeleton_box(person) -> np.ndarray:
    """A landmark result's box as ``track_mot.track_frames`` draws a track's: its COCO joints, in the image."""
    from posecli import joints

    pts, _ = joints.convert(person.keypoints[None], person.visibility[None], "blazepose33", "coco17")
    return pts[0]


def kind(person: dict, people: list[dict]) -> str:
    others = [q for q in people if q["id"] != person["id"]]
    overlap = max([float(tm.iou([person["box"]], [q["box"]])[0, 0]) for q in others], default=0.0)
    hidden = "at most half hidden" if person["visible"].sum() >= tm.MOSTLY_VISIBLE else "more than half hidden"
    return ("overlapping someone" if overlap > 0.1 else "alone") + ", " + hidden


def view_counts(video: Path, truth_file: Path, model, margins: list[float]) -> dict:
    from posecli.formats import read_poses
    from posecli.video import read_frames

    truth = read_poses(truth_file)
    people_at = tm.truth_frames(truth)
    counts = {m: Counter() for m in margins}
    for frame in read_frames(video):
        people = [p for p in people_at.get(frame.index, []) if not p["ignored"]]
        tall = [p for p in people if p["height"] >= tm.TALL]
        if not tall:
            continue
        for m in margins:
            rois = [truth_roi(p, m) for p in people]
            found = model.run_many(frame.image, [r for r in rois if r is not None])
            boxes = []
            for skeleton in found:
                if skeleton is None:
                    continue
                pts = skeleton_box(skeleton)
                pts = pts[np.isfinite(pts).all(-1)]
                boxes.append({"box": np.clip(np.r_[pts.min(0), pts.max(0)], 0,
                                             [truth.width, truth.height] * 2)})
            _, pairs = tm.match_boxes(people, boxes)
            matched = {i for i, _ in pairs}
            for i, p in enumerate(people):
                if p["height"] < tm.TALL:
                    continue
                k = kind(p, people)
                counts[m][(k, "people")] += 1
                counts[m][(k, "found")] += i in matched
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=tm.DATA, help="scene folder (as bench/track_mot.py's --data)")
    ap.add_argument("--small", action="store_true", help="the small-people scenes instead of the standard ones")
    ap.add_argument("--synth", type=Path, action="append",
                    help="a posecli synth output to measure instead (repeatable)")
    ap.add_argument("--margin", type=float, action="append", help="circle radius / farthest joint (repeatable)")
    args = ap.parse_args()
    from posecli.detect.landmarks import LandmarkModel

    margins = args.margin or [1.0, 1.2]
    folders = args.synth or [args.data / scene for scene in (tm.SMALL_SCENES if args.small else tm.SCENES)]
    model = LandmarkModel()
    total = {m: Counter() for m in margins}
    for folder in folders:
        if not (folder / "manifest.json").is_file():
            sys.exit(f"bench: {folder} has no scenes (run bench/track_mot.py first, or give a posecli synth output)")
        for video, truth_file in tm.views(folder):
            for m, c in view_counts(video, truth_file, model, margins).items():
                total[m].update(c)
    for m in margins:
        c = total[m]
        kinds = sorted({k for k, _ in c})
        people, found = sum(c[(k, "people")] for k in kinds), sum(c[(k, "found")] for k in kinds)
        name = ",".join(str(f) for f in args.synth) if args.synth else "small" if args.small else "standard"
        by_kind = {k: {"people": c[(k, "people")], "recall": round(c[(k, "found")] / c[(k, "people")], 3)}
                   for k in kinds}
        print(json.dumps({"scenes": name, "margin": m, "person_frames_taller_than_15pc": people,
                          "recall_ceiling": round(found / people, 4), "by_kind": by_kind}))


if __name__ == "__main__":
    main()
