"""``render``: poses drawn back onto their video: every track's 2D skeleton with its id, optionally its body mesh
and a side-view panel of its 3D skeleton; a whole video or one still frame.

Frames are streamed (one decoded frame, one rendered frame and one GL context in memory, whatever the length).
Choices the spec leaves open:
- Drawing order: mesh (blended, see ``mesh.blend``), then the 2D skeleton on top so the detector's keypoints stay
  readable, then the id label; colours per track from ``draw.track_colour``.
- Coordinates: keypoints are pixels of the frame the pose file describes (``Poses.width`` x ``height``); a
  video of another size but the same aspect ratio (e.g. a downscaled copy) is accepted and scaled, a different
  aspect ratio is refused. ``scale`` resizes the output (default 1: the video's own size; big videos with
  ``--mesh`` render faster smaller) and every coordinate and the camera's intrinsics follow.
- Camera: focal length ``meta["focal_px"]`` (what ``estimate`` assumed), else ``camera["K"]``; principal point at
  the image centre as everywhere in posecli (or K's, when K is used).
- Meshes on outputs larger than ``HALF_SIZE_ABOVE`` pixels are rendered at half size and scaled up
  (``mesh_scale``): 720p with three bodies went from 9.8 to the figure in docs/benchmarks.md.
- The side panel (``side.py``): by default an inset over the frame's bottom-right corner (``INSET`` of its width
  and height, slightly see-through), so the output keeps the video's size and encodes as fast as the video
  alone; ``side_layout="beside"`` makes it as large as the frame, right of it (twice the width).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_path, check_writable
from ..console import progress, warn
from ..errors import InputError, OutputError, PoseCliError
from ..poses import FILLED, KEYPOINTS_2D, KEYPOINTS_3D, Poses
from ..video import VideoWriter, probe, read_frames
from .bodies import MeshSource
from .draw import draw_skeleton, track_colour
from .mesh import MeshRenderer, blend
from .side import side_panel

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


SIDE_LAYOUTS = ("inset", "beside")
INSET = 0.4  # the inset side panel's share of the frame's width and height
INSET_OPACITY = 0.85
FILLED_OPACITY = 0.4  # a skeleton placed where the person was hidden (track --fill-gaps), over the picture
# Outputs whose long side exceeds this many pixels get their meshes drawn at HALF_SIZE_MESHES of the size.
HALF_SIZE_ABOVE, HALF_SIZE_MESHES = 960, 0.5


@dataclass
class Camera:
    """Output pixels per pose pixel (``sx``, ``sy``), output size and the pinhole intrinsics in output pixels."""

    width: int
    height: int
    sx: float
    sy: float
    focal: float | None
    cx: float
    cy: float


def camera_for(poses: Poses, video_size: tuple[int, int], scale: float = 1.0,
               path: str | Path | None = None) -> Camera:
    """How the pose file's coordinates land on the (rescaled) video; ``video_size`` = (width, height)."""
    vw, vh = video_size
    pw, ph = poses.width or vw, poses.height or vh
    if abs(pw / ph - vw / vh) > 0.01 * vw / vh:
        raise InputError(f"the pose file describes {pw}x{ph} frames but the video is {vw}x{vh}",
                         "give the video the poses were made from", path)
    width, height = max(2, round(vw * scale)), max(2, round(vh * scale))
    sx, sy = width / pw, height / ph
    focal, cx, cy = poses.meta.get("focal_px"), pw / 2, ph / 2
    if focal is None and "K" in poses.camera:
        k = np.asarray(poses.camera["K"], np.float64)
        focal, cx, cy = (k[0, 0] + k[1, 1]) / 2, k[0, 2], k[1, 2]
    return Camera(width, height, sx, sy, None if focal is None else float(focal) * sx, cx * sx, cy * sy)


class Overlay:
    """Draws one output frame from a video frame; holds the GL renderer, so use it as a context manager."""

    def __init__(self, poses: Poses, camera: Camera, meshes: MeshSource | None = None, side: bool = False,
                 opacity: float = 0.8, labels: bool = True, path: str | Path | None = None,
                 side_layout: str = "inset", mesh_scale: float | None = None):
        if side_layout not in SIDE_LAYOUTS:
            raise ValueError(f"unknown side layout {side_layout!r}")
        if not any(KEYPOINTS_2D in t.keypoints for t in poses.tracks):
            raise InputError("the pose file has no 2D keypoints ('keypoints2d') to draw",
                             "give a file from posecli track, or from posecli estimate with the lifter or --model "
                             "mcss; --model css writes 3D and a box only", path)
        if side and not any(KEYPOINTS_3D in t.keypoints for t in poses.tracks):
            raise InputError("--side needs 3D joints ('keypoints3d'), which the pose file lacks",
                             "run posecli estimate on it first", path)
        if side and "mcss" in poses.meta:
            raise InputError("--side draws 3D in the camera's frame; this file holds MCSS's canonical poses "
                             "(no camera frame)", "render it without --side, or run posecli estimate without "
                             "--model mcss for a side view", path)
        if (side or meshes is not None) and camera.focal is None:
            raise InputError("the pose file has no focal length (meta 'focal_px' or camera K) to place 3D "
                             "poses in the frame", "run posecli estimate on it first", path)
        self.poses, self.camera, self.meshes = poses, camera, meshes
        self.side, self.opacity, self.labels, self.side_layout = side, opacity, labels, side_layout
        self.renderer = None
        if meshes is not None:
            # Meshes are rasterised (and read back) at ``mesh_scale`` of the output and scaled up: the readback
            # and depth conversion cost grows with pixels, while a shaded body loses little at half size.
            self.mesh_scale = mesh_scale if mesh_scale is not None else (
                HALF_SIZE_MESHES if max(camera.width, camera.height) > HALF_SIZE_ABOVE else 1.0)
            s = self.mesh_scale
            self.renderer = MeshRenderer(max(16, round(camera.width * s)), max(16, round(camera.height * s)),
                                         camera.focal * s, camera.cx * s, camera.cy * s)

    def draw(self, image: np.ndarray, frame: int) -> np.ndarray:
        """The output for video frame ``frame`` (``image``: the decoded RGB frame at the video's size)."""
        cam = self.camera
        out = image if image.shape[:2] == (cam.height, cam.width) else cv2.resize(
            image, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
        out = np.array(out, copy=True)  # never draw on the decoder's frame
        visible = [(t, r) for t in self.poses.tracks if (r := t.row(frame)) is not None]
        if self.renderer is not None:
            items = [(v, self.meshes.faces, track_colour(t.id)) for t, r in visible
                     if (v := self.meshes.vertices(t, r)) is not None]
            if items:
                rgb, depth = self.renderer.render(items)
                if rgb.shape[:2] != out.shape[:2]:
                    size = (out.shape[1], out.shape[0])
                    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
                    depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
                blend(out, rgb, depth, self.opacity)
        for t, r in visible:
            kp = t.keypoints.get(KEYPOINTS_2D)
            if kp is not None:
                points = kp.points[r] * np.array([cam.sx, cam.sy], np.float32)
                # A frame where the person was hidden and only placed (track --fill-gaps) is drawn faint: a
                # viewer must not take the guess for a detection.
                filled = FILLED in t.arrays and bool(t.arrays[FILLED][r])
                canvas = out.copy() if filled else out
                draw_skeleton(canvas, points, kp.confidence[r], kp.joint_set, colour=track_colour(t.id),
                              label=str(t.id) if self.labels else None)
                if filled:
                    cv2.addWeighted(canvas, FILLED_OPACITY, out, 1 - FILLED_OPACITY, 0, dst=out)
        if self.side and self.side_layout == "beside":
            panel = side_panel((cam.height, cam.width), visible, cam.focal, cam.cx, cam.cy, self.labels)
            out = np.concatenate([out, panel], axis=1)
        elif self.side:
            ph, pw = max(16, round(cam.height * INSET)), max(16, round(cam.width * INSET))
            panel = side_panel((ph, pw), visible, cam.focal * INSET, cam.cx * INSET, cam.cy * INSET, self.labels)
            margin = max(2, round(0.02 * min(cam.height, cam.width)))
            y0, x0 = cam.height - ph - margin, cam.width - pw - margin
            region = out[y0:y0 + ph, x0:x0 + pw]
            out[y0:y0 + ph, x0:x0 + pw] = cv2.addWeighted(panel, INSET_OPACITY, region, 1 - INSET_OPACITY, 0)
            cv2.rectangle(out, (x0 - 1, y0 - 1), (x0 + pw, y0 + ph), (200, 200, 200), 1)
        return out

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of what ``draw`` returns."""
        wide = self.side and self.side_layout == "beside"
        return self.camera.width * (2 if wide else 1), self.camera.height

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()

    def __enter__(self) -> Overlay:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def render_video(video: str | Path, overlay: Overlay, out: str | Path, start: int = 0, end: int | None = None,
                 every: int = 1) -> int:
    """Write the overlay of frames ``start:end:every`` of ``video`` to ``out``; returns frames written."""
    info = probe(video)
    stop = info.frames if end is None else min(end, info.frames)
    total = len(range(start, stop, every)) if start < stop else 0
    frames = read_frames(video, start=start, end=end, every=every)  # checks the range before any work
    written = 0
    with VideoWriter(out, fps=info.fps / every) as writer, progress("render", total) as advance:
        for frame in frames:
            writer.write(overlay.draw(frame.image, frame.index))
            written += 1
            advance()
    return written


def render_still(video: str | Path, overlay: Overlay, frame: int, out: str | Path) -> None:
    """Write the overlay of one frame as an image (PNG or JPEG by ``out``'s suffix)."""
    out = Path(out)
    check_image_name(out)
    check_frame(video, frame)
    tracks = overlay.poses.tracks
    if tracks and not any(t.row(frame) is not None for t in tracks):
        spans = ", ".join(f"track {t.id}: {int(t.frames[0])}-{int(t.frames[-1])}" for t in tracks if len(t))
        warn(f"nobody was tracked in frame {frame} ({spans}): the image shows the bare frame")
    image = next(iter(read_frames(video, start=frame, end=frame + 1)))
    write_image(overlay.draw(image.image, frame), out)


def check_frame(video: str | Path, frame: int) -> int:
    frames = probe(video).frames
    if not 0 <= frame < frames:
        raise PoseCliError(f"frame {frame} is out of range: the video has {frames} frames",
                           f"give --frame between 0 and {frames - 1}", video)
    return frames


def check_image_name(out: Path) -> None:
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError("a single frame is written as an image", "give -o NAME.png (or .jpg)", out)
    check_writable(out)


def write_image(rgb: np.ndarray, out: str | Path) -> None:
    out = Path(out)
    ok, data = cv2.imencode(out.suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError("cannot be encoded as an image", "give -o NAME.png", out)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data.tobytes())
