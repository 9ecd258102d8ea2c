"""Contact sheet of a tracked video: a grid of evenly spaced frames with every track's skeleton and ID drawn
in its colour, so that identities can be checked by eye (an ID switch shows as a colour/number moving to
another person). With ``--truth`` (a ``posecli synth`` pose file) the true people's boxes are drawn in white.

    python bench/track_sheet.py VIDEO POSES.npz -o sheet.png [--frames 12] [--columns 4] [--width 1600]
    python bench/track_sheet.py VIDEO POSES.npz -o crossing.png --at 110,115,120,125   # chosen frames
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D
from posecli.render.draw import draw_skeleton, track_colour
from posecli.video import read_frames


def sheet(video: Path, poses_path: Path, out: Path, n: int = 12, columns: int = 4, width: int = 1600,
          truth: Path | None = None, at: list[int] | None = None) -> None:
    poses = read_poses(poses_path)
    wanted = set(at) if at else set(np.linspace(0, poses.num_frames - 1, n).round().astype(int).tolist())
    truth_poses = read_poses(truth) if truth else None
    tiles = []
    for frame in read_frames(video):
        if frame.index not in wanted:
            continue
        img = np.ascontiguousarray(frame.image.copy())
        if truth_poses is not None:
            for tr in truth_poses.tracks:
                row = np.flatnonzero(tr.frames == frame.index)
                vis = tr.arrays["visibility_coco17"][row[0]] if len(row) else None
                if vis is None or (vis == 2).sum() == 0:
                    continue
                p = tr.keypoints[KEYPOINTS_2D].points[row[0]]
                p = p[np.isfinite(p).all(-1)]
                cv2.rectangle(img, tuple(p.min(0).astype(int)), tuple(p.max(0).astype(int)), (255, 255, 255), 1)
        for tr in poses.tracks:
            row = np.flatnonzero(tr.frames == frame.index)
            if len(row):
                kp = tr.keypoints[KEYPOINTS_2D]
                draw_skeleton(img, kp.points[row[0]], kp.confidence[row[0]], kp.joint_set, track_colour(tr.id),
                              label=str(tr.id))
        cv2.putText(img, f"frame {frame.index}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2,
                    cv2.LINE_AA)
        tiles.append(img)
    h, w = tiles[0].shape[:2]
    tile_w = width // columns
    tile_h = round(h * tile_w / w)
    tiles = [cv2.resize(t, (tile_w, tile_h), interpolation=cv2.INTER_AREA) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 70] if out.suffix.lower() in (".jpg", ".jpeg") else []
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR), jpeg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", type=Path)
    ap.add_argument("poses", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--truth", type=Path, default=None)
    ap.add_argument("--at", type=lambda s: [int(v) for v in s.split(",")], default=None,
                    help="comma-separated frame numbers to show instead of --frames evenly spaced ones")
    a = ap.parse_args()
    sheet(a.video, a.poses, a.out, a.frames, a.columns, a.width, a.truth, a.at)


if __name__ == "__main__":
    main()
