"""What the ID switches on the MOT renders are (after ``bench/track_mot.py`` has run), from motmetrics' own
event list: for every SWITCH (a person's matched track id changes), the new id is

- *new*: a track that starts in this frame (the person found again, or split off, under a fresh id);
- *handover*: a track that was matched to another person before (an identity passed between people);
- *back*: a track matched to this same person before (the person returns to an earlier id);
- *unmatched*: a track that existed but had matched nobody yet (it started on a poor box).

``gap`` is how many frames the person went unmatched just before (0: the id changed while they were followed);
``old_elsewhere``: the person's previous id is, in this frame, matched to someone else (it was taken away).
Prints one JSON row per tracker and, with ``--list``, every switch.

    python bench/track_switches.py today [OTHER ...] [--list]   # folder names under results/
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from track_mot import result_views, results_parser, score_view

from posecli.formats import read_poses


def switches(label: str, data: Path) -> list[dict]:
    out = []
    for name, truth_file, result in result_views(data, label):
        acc = score_view(read_poses(truth_file), read_poses(result), name)[0]
        ev = acc.mot_events.reset_index()
        matched = ev[ev.Type.isin(["MATCH", "SWITCH"])]
        first_seen = ev[ev.HId.notna()].groupby("HId").FrameId.min()
        last_id: dict = {}  # person -> (frame, hyp id) of their last match
        owners: dict = {}  # hyp id -> persons it was matched to so far
        for f, frame_ev in matched.groupby("FrameId"):
            now = dict(zip(frame_ev.HId, frame_ev.OId))
            for _, e in frame_ev.iterrows():
                if e.Type == "SWITCH":
                    before = owners.get(e.HId, set())
                    kind = ("back" if e.OId in before else "handover" if before else
                            "new" if first_seen[e.HId] == f else "unmatched")
                    prev_f, prev_h = last_id.get(e.OId, (None, None))
                    out.append({"view": name, "frame": int(f), "person": int(e.OId), "old_id": prev_h,
                                "new_id": int(e.HId), "kind": kind,
                                "gap": None if prev_f is None else int(f - prev_f - 1),
                                "old_elsewhere": prev_h in now and now[prev_h] != e.OId})
            for _, e in frame_ev.iterrows():
                last_id[e.OId] = (f, int(e.HId))
                owners.setdefault(e.HId, set()).add(e.OId)
    return out


def main() -> None:
    ap = results_parser(__doc__)
    ap.add_argument("--list", action="store_true", help="also print every switch")
    args = ap.parse_args()
    for label in args.labels:
        rows = switches(label, args.data)
        if args.list:
            for r in rows:
                print(json.dumps(r))
        print(json.dumps({"tracker": label, "switches": len(rows), "kind": dict(Counter(r["kind"] for r in rows)),
                          "while_followed": sum(r["gap"] == 0 for r in rows),
                          "old_id_taken_by_another": sum(r["old_elsewhere"] for r in rows)}))


if __name__ == "__main__":
    main()
