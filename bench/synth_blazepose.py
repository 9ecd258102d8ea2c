"""BlazePose's hit rate on ``posecli synth`` renders: of the person-frames where that person's whole body is
inside the image (all COCO-17 truth keypoints in frame, visibility > 0; possibly occluded), the fraction in
which ``posecli track`` reports a person matched to them (``synth.detections.matched_detections``: median
keypoint offset under a quarter of their size). Also the same among person-frames with at least 13 of the 17
keypoints visible (not occluded): "whole body in view".

    python bench/synth_blazepose.py SYNTH_DIR      # runs `posecli track CLIP/cam_XX.mp4 -o ...` per view
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


from posecli.cli import main as posecli
from posecli.formats import read_poses
from posecli.synth.detections import matched_detections


UNOCCLUDED = 13  # of 17 COCO keypoints visible (the face's far side is always hidden)


def main() -> None:
    root = Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    hits = total = hits_v = total_v = 0
    with tempfile.TemporaryDirectory() as tmp:
        for clip in manifest["clips"]:
            for view in clip["views"]:
                out = Path(tmp) / f"{clip['name']}_{view['name']}.npz"
                assert posecli(["track", str(root / view["video"]), "-o", str(out), "-q"]) == 0
                truth = read_poses(root / view["poses"])
                matched = matched_detections(truth, read_poses(out))
                n = h = nv = hv = 0
                for t, (_, conf) in zip(truth.tracks, matched):
                    vis = t.arrays["visibility_coco17"]
                    whole = (vis > 0).all(-1)
                    seen = whole & ((vis == 2).sum(-1) >= UNOCCLUDED)
                    found = conf.sum(-1) > 0
                    n, h = n + int(whole.sum()), h + int((whole & found).sum())
                    nv, hv = nv + int(seen.sum()), hv + int((seen & found).sum())
                print(json.dumps({"clip": clip["name"], "view": view["name"], "whole_body_person_frames": n,
                                  "detected": h, "unoccluded_person_frames": nv, "detected_unoccluded": hv}))
                hits, total, hits_v, total_v = hits + h, total + n, hits_v + hv, total_v + nv
    print(json.dumps({"hit_rate": round(hits / max(total, 1), 4), "person_frames": total,
                      "hit_rate_unoccluded": round(hits_v / max(total_v, 1), 4), "unoccluded_person_frames": total_v}))


if __name__ == "__main__":
    main()
