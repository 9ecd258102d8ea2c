"""Benchmark ``posecli synth`` at 640x480 on CPU, and (optionally) make the docs contact sheet.

One clip of ``--frames`` frames (default 60), ``--views`` views (default 4), one person, seed 0, procedural and
(when the shared videos are there) video backgrounds, rendered by the process's one GL context (EGL here).
Times reported (wall clock): ``prepare_s`` = mocap loaded (a prepared .npz is fastest); ``people_s`` = fit the
Anny body to the mocap window (the per-clip set-up); ``render_s`` = the render loop (vertices, lighting, GL
render, compositing, visibility, H.264 encode, pose files). ``fps_per_view`` = view-frames written per second
of the render loop (frames x views / render_s); ``fps_per_view_end_to_end`` includes the people's fit.

    python bench/synth_bench.py [--mocap cmu:../shared/data/mocap] [--frames 60] [--views 4]
                                [--sheet docs/synth_views.png --sheet-frame 30]
    python bench/synth_bench.py --mocap cmu.npz --clips 4 --workers 1 2     # throughput of --workers
    python bench/synth_bench.py --backdrop room flat [--follow]             # cost of the room, same run

With several workers, people_s/render_s are not separated (the fit runs in the workers) and each worker's
one-off Anny load is inside the time.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from itertools import product
from pathlib import Path

import cv2
import numpy as np

from posecli.console import set_quiet
from posecli.formats import read_poses
from posecli.mocap.sources import load_mocap
from posecli.render.draw import draw_skeleton, track_colour
from posecli.render.mesh import gl_platform
from posecli.synth.dataset import SynthOptions, synthesise
from posecli.synth.scene import find_videos
from posecli.video import read_frames

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def contact_sheet(clip: Path, views: list[str], frame: int, out: Path) -> None:
    """2x2 (or 1xN) grid of one frame from each view, visible COCO-17 truth drawn on it, camera names."""
    tiles = []
    for name in views:
        image = next(iter(read_frames(clip / f"{name}.mp4", start=frame, end=frame + 1))).image.copy()
        poses = read_poses(clip / f"{name}.npz")
        for track in poses.tracks:
            kp = track.keypoints["keypoints2d"]
            draw_skeleton(image, kp.points[frame], kp.confidence[frame], "coco17", track_colour(track.id))
        cv2.putText(image, name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(image)
    while len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + 2], 1) for i in range(0, len(tiles), 2)]
    sheet = np.concatenate(rows, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mocap", default=f"cmu:{SHARED / 'mocap'}")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--persons", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep the dataset here (default: a temporary folder)")
    ap.add_argument("--clips", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="+", default=[1],
                    help="run the same clips once per value, side by side (throughput of --workers)")
    ap.add_argument("--follow", action="store_true")
    ap.add_argument("--truncate", type=float, default=0.0)
    ap.add_argument("--occluders", type=int, default=0)
    ap.add_argument("--backdrop", nargs="+", default=["room"], choices=["room", "flat"],
                    help="synth --backdrop; several: each in the same run (rows say which)")
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--sheet-frame", type=int, default=30)
    args = ap.parse_args()
    set_quiet(True)
    t0 = time.perf_counter()
    mocap = load_mocap(args.mocap)
    prepare_s = time.perf_counter() - t0
    videos = find_videos(SHARED / "videos") if (SHARED / "videos").is_dir() else None
    from posecli.synth.people import anny_synth

    anny_synth()  # model load is a one-off per process, not part of a clip
    spent = {"people": 0.0}
    original = type(anny_synth()).make_person

    def timed(self, *a, **k):
        s = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            spent["people"] += time.perf_counter() - s

    type(anny_synth()).make_person = timed
    for backdrop, workers in product(args.backdrop, args.workers):
        options = SynthOptions(views=args.views, persons=args.persons, frames=args.frames, seed=args.seed,
                               clips=args.clips, follow=args.follow, truncate=args.truncate,
                               occluders=args.occluders, backdrop=backdrop)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.out or tmp) / f"synth_{backdrop}_w{workers}"
            spent["people"] = 0.0
            t1 = time.perf_counter()
            manifest = synthesise(mocap, out, options, videos, workers=workers)
            total = time.perf_counter() - t1
            n = args.frames * args.views * args.clips
            row = {"platform": gl_platform(), "backdrop": backdrop, "size": "640x480", "frames": args.frames,
                   "views": args.views, "follow": args.follow,
                   "clips": args.clips, "persons": args.persons, "workers": workers, "prepare_s": round(prepare_s, 2),
                   "fps_per_view_end_to_end": round(n / total, 1)}
            if workers == 1 or args.clips == 1:  # the fit is timed in this process only
                render_s = total - spent["people"]
                row.update(people_s=round(spent["people"], 2), render_s=round(render_s, 2),
                           fps_per_view=round(n / render_s, 1))
            else:  # worker processes also load Anny (a one-off per process, inside this time)
                row["total_s"] = round(total, 2)
            print(json.dumps(row), flush=True)
            if args.sheet and workers == args.workers[-1]:
                _sheet(manifest, out, args)


def _sheet(manifest, out, args) -> None:
    clip = manifest["clips"][0]
    contact_sheet(out / clip["name"], [v["name"] for v in clip["views"]], args.sheet_frame, args.sheet)
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
