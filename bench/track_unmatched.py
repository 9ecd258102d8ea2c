"""What the tracker's unmatched boxes on the MOT renders are (after ``bench/track_mot.py`` has run): per frame,
track boxes not matched to a counted person (IoU >= 0.5, Hungarian) are sorted by what they overlap (IoU >= 0.3
unless said): a mostly hidden (ignored) person, a person already matched (a second skeleton on them), a counted
person left unmatched (IoU >= 0.1: a poor box), or nobody. ``poor_box_visible_joints_right``: poor boxes whose
skeleton lies on that person's visible joints (median distance under 0.1 of their height): the box is off by the
joints guessed behind occluders or outside the image. Prints one JSON row per tracker.

    python bench/track_unmatched.py today today_--detector_det.safetensors   # folder names under results/
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from track_mot import iou, match_boxes, result_views, results_parser, track_frames, truth_frames

from posecli.formats import read_poses


def best(people: list[dict], box: np.ndarray) -> float:
    return max((float(iou(np.array([p["box"]]), box[None])[0, 0]) for p in people), default=0.0)


def visible_joints_right(track: dict, person: dict, image_height: int) -> bool:
    """Whether a skeleton lies on a person's visible joints (median distance < 0.1 of their height)."""
    v = person["visible"]
    err = np.linalg.norm(track["keypoints"][v] - person["keypoints"][v], axis=-1)
    return bool(np.nanmedian(err) < 0.1 * person["height"] * image_height)


def kinds(label: str, data: Path) -> dict:
    out = {"duplicate_of_matched": 0, "on_ignored": 0, "poor_box_on_unmatched": 0, "nobody": 0}
    right = 0
    for _, truth_file, result in result_views(data, label):
        poses = read_poses(truth_file)
        truth, tracks = truth_frames(poses), track_frames(read_poses(result))
        for f, preds in tracks.items():
            people = truth.get(f, [])
            counted = [p for p in people if not p["ignored"]]
            boxes = np.array([p["box"] for p in preds])
            pairs = match_boxes(counted, preds)[1]
            matched_people, matched_tracks = {i for i, _ in pairs}, {j for _, j in pairs}
            for j in set(range(len(preds))) - matched_tracks:
                if best([p for p in people if p["ignored"]], boxes[j]) >= 0.3:
                    out["on_ignored"] += 1
                elif best([counted[i] for i in matched_people], boxes[j]) >= 0.3:
                    out["duplicate_of_matched"] += 1
                elif best(left := [p for i, p in enumerate(counted) if i not in matched_people], boxes[j]) >= 0.1:
                    out["poor_box_on_unmatched"] += 1
                    person = max(left, key=lambda p: best([p], boxes[j]))
                    right += visible_joints_right(preds[j], person, poses.height)
                else:
                    out["nobody"] += 1
    return {"tracker": label, "unmatched": sum(out.values()), **out, "poor_box_visible_joints_right": right}


if __name__ == "__main__":
    args = results_parser(__doc__).parse_args()
    for label in args.labels:
        print(json.dumps(kinds(label, args.data)), flush=True)
