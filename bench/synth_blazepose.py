"""BlazePose's hit rate on ``posecli synth`` renders: of the frames where the whole body is inside the image
(all COCO-17 truth keypoints in frame, visibility > 0), the fraction in which ``posecli track`` reports a person.

    python bench/synth_blazepose.py SYNTH_DIR      # runs `posecli track CLIP/cam_XX.mp4 -o ...` per view
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from posecli.cli import main as posecli
from posecli.formats import read_poses


def main() -> None:
    root = Path(sys.argv[1])
    manifest = json.loads((root / "manifest.json").read_text())
    hits = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for clip in manifest["clips"]:
            for view in clip["views"]:
                out = Path(tmp) / f"{clip['name']}_{view['name']}.npz"
                assert posecli(["track", str(root / view["video"]), "-o", str(out), "-q"]) == 0
                found = set()
                for track in read_poses(out).tracks:
                    found |= set(track.frames.tolist())
                truth = read_poses(root / view["poses"])
                whole = np.all([(t.arrays["visibility_coco17"] > 0).all(-1) for t in truth.tracks], axis=0)
                frames = np.flatnonzero(whole)
                h = sum(int(f) in found for f in frames)
                print(json.dumps({"clip": clip["name"], "view": view["name"], "whole_body_frames": len(frames),
                                  "detected": h}))
                hits, total = hits + h, total + len(frames)
    print(json.dumps({"hit_rate": round(hits / max(total, 1), 4), "frames": total}))


if __name__ == "__main__":
    main()
