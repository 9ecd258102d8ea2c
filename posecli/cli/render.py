"""``posecli render``: draw a pose file back onto its video (skeletons, ids, body meshes, a side view)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..atomic import check_writable
from ..console import note, plural
from ..errors import PoseCliError
from ..formats import read_poses
from ..video.writer import check_video_name
from . import app
from .options import Debug, Device, End, Every, OptOut, Quiet, Start

class SideLayout(str, Enum):
    inset = "inset"
    beside = "beside"


EPILOG = """Examples:

  posecli render dance.mp4 poses.npz -o overlay.mp4

  posecli render dance.mp4 poses.npz -o overlay.mp4 --mesh --side --height 720

  posecli render dance.mp4 poses.npz --frame 120 -o frame120.png --mesh

  posecli render dance.mp4 poses.npz -o overlay.mp4 --mesh --device cuda   # body meshes rebuilt on the GPU

  posecli track dance.mp4 -o tracks.npz && posecli render dance.mp4 tracks.npz -o check.mp4

Skeletons come from 'keypoints2d' (any file from track or estimate); --side needs 'keypoints3d' (estimate);
--mesh needs a body (estimate --body anny) and a headless OpenGL (EGL or OSMesa; PYOPENGL_PLATFORM is
respected). The output keeps the video's size unless --height or --scale shrink it: big videos render
faster small, especially with --mesh."""


@app.command(epilog=EPILOG)
def render(
    video: Annotated[Path, typer.Argument(help="The video (or image folder) the poses were made from.")],
    poses: Annotated[Path, typer.Argument(help="Pose file (from track or estimate).")],
    out: OptOut = None,
    mesh: Annotated[bool, typer.Option("--mesh", help="Overlay each person's body mesh.")] = False,
    side: Annotated[bool, typer.Option("--side", help="Add a side-view panel of the 3D skeletons.")] = False,
    side_layout: Annotated[SideLayout, typer.Option(help="inset: the panel over the frame's bottom-right corner "
                                                    "(the video's size); beside: as large as the frame, right "
                                                    "of it (twice the width).")] = SideLayout.inset,
    frame: Annotated[Optional[int], typer.Option(min=0, help="Render only this frame, to an image (-o x.png).")] = None,
    height: Annotated[Optional[int], typer.Option(min=16, help="Output height in pixels (keeps the aspect).")] = None,
    scale: Annotated[Optional[float], typer.Option(min=0.05, max=4.0, help="Output size / video size.")] = None,
    opacity: Annotated[float, typer.Option(min=0.0, max=1.0, help="Mesh opacity.")] = 0.8,
    device: Device = "cpu",
    start: Start = 0,
    end: End = None,
    every: Every = 1,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Draw skeletons with track ids (and optionally body meshes and a side view) onto the video."""
    from ..render.bodies import BodyMeshes
    from ..render.overlay import Overlay, camera_for, check_frame, check_image_name, render_still, render_video
    from ..video import probe

    if height is not None and scale is not None:
        raise PoseCliError("--height and --scale both set the output size", "give one of them")
    if frame is not None:
        out = out or Path(f"{video.stem}_frame{frame}.png")
        check_image_name(out)
    else:
        out = out or Path(f"{video.stem}_overlay.mp4")
        check_video_name(out)
        check_writable(out)
    info = probe(video)
    if frame is not None:
        check_frame(video, frame)
    pose_set = read_poses(poses)
    factor = scale if scale is not None else (height / info.height if height is not None else 1.0)
    camera = camera_for(pose_set, (info.width, info.height), factor, poses)
    meshes = BodyMeshes(pose_set, str(poses), device) if mesh else None
    if mesh and max(camera.width, camera.height) > 1280:
        note(f"rendering meshes at {camera.width}x{camera.height}; --height 720 is faster")
    with Overlay(pose_set, camera, meshes, side=side, opacity=opacity, path=poses,
                 side_layout=side_layout.value) as overlay:
        if frame is not None:
            render_still(video, overlay, frame, out)
            note(f"wrote {out}: frame {frame}")
        else:
            n = render_video(video, overlay, out, start, end, every)
            width, height = overlay.output_size
            note(f"wrote {out}: {plural(n, 'frame')} at {width}x{height}")
