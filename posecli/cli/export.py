"""``posecli export``: convert a pose file to an interchange format."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note
from ..errors import PoseCliError
from ..formats import WRITE_FORMATS, read_poses, write_poses
from . import app
from .options import Debug, Fps, Out, Quiet
from .pipes import describe, input_file, is_stdio, output_file

_FORMATS_HELP = "; ".join(f"{k}: {v}" for k, v in WRITE_FORMATS.items())
ExportFormat = Enum("ExportFormat", {k.replace("-", "_"): k for k in WRITE_FORMATS}, type=str)  # --help lists them


@app.command(epilog="Examples:\n\n  posecli export poses.npz --to trc -o poses.trc --track 1\n\n"
                    "  posecli export tracks.npz --to coco-json -o keypoints.json\n\n"
                    "  posecli export tracks.npz --to vp3d -o data_2d_custom_myvideo.npz\n\n"
                    "  posecli export poses.npz --to bvh -o motion.bvh --track 1\n\n"
                    "  posecli export poses.npz --to obj -o body.obj --frame 120\n\n"
                    "Frames: trc is OpenSim's (Y up, X forward = away from the camera, Z right, metres), from "
                    "estimate's upright 'keypoints3d_world' when the file has it (floor at Y = 0), else the camera "
                    "frame turned so the camera's up is Y; a TRC read in is written as it is. bvh, glb and obj "
                    "are Y up with x right and z towards the camera (Blender / glTF), levelled with the floor at "
                    "y = 0 when estimate found gravity, else the camera's up. coco-json, csv, json and vp3d keep "
                    "posecli's own frames (pixels; 3D in the camera frame: x right, y down, z forward).")
def export(
    file: Annotated[Path, typer.Argument(help="Pose file: posecli NPZ/JSON, COCO JSON, VideoPose3D NPZ, TRC or CSV.")],
    out: Out,
    to: Annotated[Optional[ExportFormat], typer.Option("--to", help=f"Output format ({_FORMATS_HELP}). "
                                                                 "Default: from the output's extension.")] = None,
    track: Annotated[Optional[int], typer.Option("--track", help="Track id, for formats holding one person.")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Keypoint layer to export.")] = None,
    frame: Annotated[Optional[int], typer.Option("--frame", min=0, help="Video frame to export, for --to obj "
                                                                        "(default: the track's first).")] = None,
    fps: Fps = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Convert a pose file to another format (input format is detected)."""
    if is_stdio(out) and to is None:
        raise PoseCliError("-o - (stdout) has no extension to tell the format", "add --to, e.g. --to json")
    with input_file(file) as src:
        poses = read_poses(src, fps=fps)
    fmt = to.value if to is not None else None
    with output_file(out, "." + ("json" if fmt == "coco-json" else fmt or "npz")) as path:
        write_poses(poses, path, fmt, track=track, layer=layer, frame=frame)
    note(f"wrote {describe(out)}")
