"""How far the offline identity pass could take a tracker's output on the MOT renders (after
``bench/track_mot.py`` has run): the same per-frame skeletons, with identities given by the truth.

- ``as_tracked``: the tracker's output scored as it is (as ``track_mot.py`` does);
- ``oracle_join``: every track kept whole, and tracks of one person that never share a frame put under one id
  (a perfect stitch / re-identification; a track is that person's when most of its matched frames are);
- ``oracle_split_join``: each track also cut where the person it is matched to changes (a perfect split), then
  joined as above;
- ``oracle_dedupe``: as tracked, less every skeleton that matches nobody while its box overlaps (IoU >= 0.3) a
  person another skeleton is matched to in that frame (a perfect duplicate test; identities untouched).

What the oracles cannot change (misses, false skeletons, poor boxes) is what detection and the per-frame
matcher leave; the gap between ``as_tracked`` and the oracles is what a better offline pass could win.
Prints one JSON row per tracker and variant.

    python bench/track_oracle.py today today_--no-stitch     # folder names under results/
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from track_mot import match_boxes, result_views, results_parser, score_view, track_frames, truth_frames

from posecli.formats import read_poses


def matches(truth, poses) -> tuple[dict[tuple[int, int], int], set[tuple[int, int]]]:
    """(frame, track id) -> the counted person it overlaps at IoU >= 0.5 (one-to-one per frame); and the
    (frame, track id) of unmatched skeletons on a matched person (IoU >= 0.3): the duplicates."""
    gt, hyp = truth_frames(truth), track_frames(poses)
    out, duplicates = {}, set()
    for f, tracks in hyp.items():
        counted = [p for p in gt.get(f, []) if not p["ignored"]]
        if not counted:
            continue
        m, pairs = match_boxes(counted, tracks)
        for i, j in pairs:
            out[f, tracks[j]["id"]] = counted[i]["id"]
        people = [i for i, _ in pairs]
        for j in set(range(len(tracks))) - {j for _, j in pairs}:
            if people and m[people, j].max() >= 0.3:
                duplicates.add((f, tracks[j]["id"]))
    return out, duplicates


def dedupe(poses, duplicates: set[tuple[int, int]]):
    """A copy of ``poses`` without the given (frame, track id) skeletons."""
    tracks = []
    for tr in poses.tracks:
        keep = np.array([(int(f), tr.id) not in duplicates for f in tr.frames], bool)
        if keep.any():
            tracks.append(tr.subset(np.flatnonzero(keep)))
    return replace(poses, tracks=tracks)


def relabel(poses, who: dict[tuple[int, int], int], split: bool):
    """A copy of ``poses`` whose track ids follow the truth as far as the variant allows."""
    pieces = []  # (frames of the piece as an index array into the track, track, person or None)
    for tr in poses.tracks:
        people = [who.get((int(f), tr.id)) for f in tr.frames]
        cuts = [0]
        if split:
            last = None
            for i, p in enumerate(people):
                if p is not None and last is not None and p != last:
                    cuts.append(i)
                last = p if p is not None else last
        cuts.append(len(people))
        for a, b in zip(cuts[:-1], cuts[1:]):
            counts = Counter(p for p in people[a:b] if p is not None)
            pieces.append((np.arange(a, b), tr, counts.most_common(1)[0][0] if counts else None))
    taken: dict[int, list[set]] = {}  # person -> frame sets of the ids already given to them
    next_id = 1 + max((tr.id for tr in poses.tracks), default=0) + 10_000
    tracks = []
    for idx, tr, person in sorted(pieces, key=lambda p: -len(p[0])):
        frames = set(tr.frames[idx].tolist())
        tid = None
        if person is not None:
            for k, used in enumerate(taken.setdefault(person, [])):
                if not used & frames:
                    used |= frames
                    tid = 100_000 * person + k
                    break
            else:
                taken[person].append(set(frames))
                tid = 100_000 * person + len(taken[person]) - 1
        if tid is None:
            tid, next_id = next_id, next_id + 1
        piece = tr.subset(idx)
        piece.id = tid
        tracks.append(piece)
    return replace(poses, tracks=tracks)


def score(label: str, data: Path) -> list[dict]:
    import motmetrics as mm

    variants = {"as_tracked": None, "oracle_join": False, "oracle_split_join": True, "oracle_dedupe": "dedupe"}
    accs: dict[str, list] = {v: [] for v in variants}
    names = []
    for name, truth_file, result in result_views(data, label):
        truth, poses = read_poses(truth_file), read_poses(result)
        who, duplicates = matches(truth, poses)
        for v, how in variants.items():
            out = poses if how is None else dedupe(poses, duplicates) if how == "dedupe" else relabel(poses, who, how)
            accs[v].append(score_view(truth, out, name)[0])
        names.append(name)
    mh = mm.metrics.create()
    rows = []
    for v in variants:
        metrics = ["idf1", "mota", "num_switches", "num_objects", "recall", "precision"]
        s = mh.compute_many(accs[v], names=names, generate_overall=True, metrics=metrics).loc["OVERALL"]
        rows.append({"tracker": label, "variant": v, "idf1": round(float(s["idf1"]), 3),
                     "mota": round(float(s["mota"]), 3), "id_switches": int(s["num_switches"]),
                     "switches_per_1000": round(1000 * float(s["num_switches"]) / float(s["num_objects"]), 2),
                     "recall": round(float(s["recall"]), 3), "precision": round(float(s["precision"]), 3)})
    return rows


if __name__ == "__main__":
    args = results_parser(__doc__).parse_args()
    for label in args.labels:
        for row in score(label, args.data):
            print(json.dumps(row), flush=True)
