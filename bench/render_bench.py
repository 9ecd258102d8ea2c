"""Benchmark ``render`` at 640x480 on CPU: skeleton only vs with meshes (and the side panel), same clip, same run.

The clip: the first 90 frames of ../shared/data/videos/sports2d/demo.mp4 centre-cropped to 4:3 and resized to
640x480 (random frames when the shared data are absent), encoded once to a temporary H.264 file. The poses: two
people standing 4 m away, 1.2 m apart (3D joints, root, their 2D projection as COCO-17, focal 0.72 x 640 as
``estimate`` assumes). The mesh stands in for a body: an icosphere of 10,242 vertices / 20,480 triangles per
person (Anny has 13,718 / 27,420), or with ``--body POSES.npz --video VIDEO`` a real fitted body (that video
centre-cropped to 4:3, the 2D keypoints and focal length moved with it).

Rows (one JSON object each, then a table): ``fps`` = frames written per second end to end (decode, draw,
encode); ``draw_ms`` = mean time of ``Overlay.draw`` alone (skeleton, mesh render + blend, panel). Usage:

    python bench/render_bench.py [--frames 90] [--size 1280x720] [--body POSES.npz --video VIDEO]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from posecli import joints
from posecli.console import set_quiet
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track
from posecli.render.bodies import RootSpheres
from posecli.render.mesh import gl_platform
from posecli.render.overlay import Overlay, camera_for, render_video
from posecli.video import VideoWriter, probe, read_frames

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
W, H, FOCAL = 640, 480, 0.72 * 640  # --size changes them
SIDE_LAYOUT = "inset"
REST = np.array([  # H36M-17, metres, camera frame (y down), pelvis at the origin
    (0, 0, 0), (-0.1, 0, 0), (-0.1, 0.45, 0), (-0.1, 0.9, 0), (0.1, 0, 0), (0.1, 0.45, 0), (0.1, 0.9, 0),
    (0, -0.25, 0), (0, -0.5, 0), (0, -0.6, -0.08), (0, -0.72, 0), (0.18, -0.48, 0), (0.2, -0.2, 0),
    (0.22, 0.05, 0), (-0.18, -0.48, 0), (-0.2, -0.2, 0), (-0.22, 0.05, 0)], np.float32)


def crop_43(image: np.ndarray) -> np.ndarray:
    """The centre W:H part of a frame (the principal point stays at the centre), resized to W x H (640x480
    unless --size)."""
    h, w = image.shape[:2]
    ch, cw = min(h, w * H // W), min(w, h * W // H)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(image[y:y + ch, x:x + cw], (W, H), interpolation=cv2.INTER_AREA)


def make_clip(path: Path, n: int, source: Path | None = None) -> Path:
    with VideoWriter(path, fps=30) as writer:
        if source is not None and source.exists():
            for frame in read_frames(source, end=n):
                writer.write(crop_43(frame.image))
        else:
            rng = np.random.default_rng(0)
            for _ in range(n):
                writer.write(rng.integers(0, 256, (H, W, 3), np.uint8))
    return path


def make_poses(n: int) -> Poses:
    tracks = []
    for tid, x in ((1, -0.6), (2, 0.6)):
        t = np.arange(n)
        root = np.stack([x + 0.1 * np.sin(t / 10), np.full(n, 0.2), np.full(n, 4.0)], 1).astype(np.float32)
        p3 = REST[None] + root[:, None]
        uv = FOCAL * p3[..., :2] / p3[..., 2:] + np.array([W / 2, H / 2], np.float32)
        coco, conf = joints.convert(uv, np.ones(uv.shape[:2], np.float32), "h36m17", "coco17")
        layers = {KEYPOINTS_2D: Keypoints("coco17", coco, conf), KEYPOINTS_3D: Keypoints("h36m17", p3)}
        tracks.append(Track(tid, t, t / 30.0, layers, {"root": root}))
    return Poses(tracks, fps=30.0, width=W, height=H, num_frames=n, meta={"focal_px": FOCAL})


def bench(video: Path, poses: Poses, out: Path, mesh_source, side: bool, name: str) -> dict:
    camera = camera_for(poses, (W, H))
    draw_s = 0.0
    with Overlay(poses, camera, mesh_source, side=side, side_layout=SIDE_LAYOUT) as overlay:
        inner = overlay.draw

        def timed(image, frame):
            nonlocal draw_s
            t0 = time.perf_counter()
            result = inner(image, frame)
            draw_s += time.perf_counter() - t0
            return result

        overlay.draw = timed
        t0 = time.perf_counter()
        n = render_video(video, overlay, out)
        wall = time.perf_counter() - t0
    return {"mode": name, "size": f"{W}x{H}", "frames": n, "seconds": round(wall, 2), "fps": round(n / wall, 1),
            "draw_ms": round(1000 * draw_s / n, 1), "gl": gl_platform() if mesh_source else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--body", type=Path, help="a pose file with a fitted body (estimate --body anny)")
    ap.add_argument("--video", type=Path, help="the video of --body (resized to 640x480 for the run)")
    ap.add_argument("--size", default="640x480", help="output size WxH (e.g. 1280x720), focal 0.72 x W")
    args = ap.parse_args()
    global W, H, FOCAL
    W, H = (int(v) for v in args.size.lower().split("x"))
    FOCAL = 0.72 * W
    set_quiet(True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = make_clip(tmp / "clip.mp4", args.frames, SHARED / "sports2d" / "demo.mp4")
        poses = make_poses(probe(video).frames)
        spheres = RootSpheres(radius=0.3, subdivisions=5)
        for name, source, side, layout in (("skeleton", None, False, "inset"),
                                           ("skeleton+side (inset)", None, True, "inset"),
                                           ("skeleton+side (beside)", None, True, "beside"),
                                           ("mesh (2 x 10k-vertex spheres)", spheres, False, "inset"),
                                           ("mesh+side (inset, the default)", spheres, True, "inset"),
                                           ("mesh+side (beside)", spheres, True, "beside")):
            global SIDE_LAYOUT
            SIDE_LAYOUT = layout
            rows.append(bench(video, poses, tmp / "out.mp4", source, side, name))
            print(json.dumps(rows[-1]), flush=True)
        if args.body:
            from posecli.formats import read_poses
            from posecli.render.bodies import BodyMeshes

            body_poses = read_poses(args.body)
            info = probe(args.video)
            body_video = make_clip(tmp / "body.mp4", args.frames, args.video)
            body_poses = _cropped(body_poses, info.width, info.height)
            meshes = BodyMeshes(body_poses)
            for name, source, side in (("skeleton (body file)", None, False), ("mesh (fitted body)", meshes, False),
                                       ("mesh+side (fitted body, inset)", meshes, True)):
                SIDE_LAYOUT = "inset"
                rows.append(bench(body_video, body_poses, tmp / "out.mp4", source, side, name))
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'mode':32s} {'fps':>6s} {'draw ms':>8s}")
    for r in rows:
        print(f"{r['mode']:32s} {r['fps']:6.1f} {r['draw_ms']:8.1f}")


def _cropped(poses: Poses, width: int, height: int) -> Poses:
    """The pose file as if made on the 640x480 centre crop of its video (see ``crop_43``)."""
    ch, cw = min(height, width * H // W), min(width, height * W // H)
    offset = np.array([(width - cw) // 2, (height - ch) // 2], np.float32)
    s = H / ch
    meta = dict(poses.meta)
    meta["focal_px"] = float(meta["focal_px"]) * s
    tracks = []
    for t in poses.tracks:
        layers = dict(t.keypoints)
        kp = layers[KEYPOINTS_2D]
        layers[KEYPOINTS_2D] = Keypoints(kp.joint_set, (kp.points - offset) * s, kp.confidence)
        tracks.append(Track(t.id, t.frames, t.times, layers, t.arrays, t.attrs))
    return Poses(tracks, poses.fps, W, H, poses.num_frames, poses.source, poses.camera, meta)


if __name__ == "__main__":
    main()
