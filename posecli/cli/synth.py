"""``posecli synth``: synthetic multi-view videos of Anny bodies performing mocap, with exact 3D truth."""
from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note
from ..errors import PoseCliError
from . import app
from .options import Debug, Device, Quiet


class Layout(str, Enum):
    ring = "ring"
    crossing = "crossing"


class BackdropKind(str, Enum):
    room = "room"
    flat = "flat"


EPILOG = """Examples:

  posecli synth --mocap ../shared/data/mocap --views 4 -o synth/

  posecli synth --mocap cmu.npz --views 2 --persons 3 --clips 20 --frames 60 --size 960x540 --seed 7 -o synth/

  posecli synth --mocap cmu.npz --clips 200 --workers 4 -o synth/     # 4 clips at a time

  posecli synth --mocap cmu.npz --clips 200 --device cuda -o synth/     # bodies posed and skinned on the GPU

  posecli synth --mocap cmu:../shared/data/mocap --exclude-subjects 006 --clips 80 -o synth_train/

  posecli synth --mocap cmu.npz --backgrounds ../shared/data/videos --truncate 0.3 --occluders 2 --follow -o synth/

  posecli synth --mocap cmu:../shared/data/mocap --persons 4 --layout crossing --truncate 0.5 -o mot/

  posecli synth --mocap cmu:../shared/data/mocap --persons 4 --layout crossing --wide 1 -o mot_small/   # small people

Output: OUT/manifest.json; per clip OUT/clip_0000/calibration.toml (Pose2Sim layout) and, per view,
cam_01.mp4 (H.264) and cam_01.npz (posecli pose file, one track per person: 'keypoints2d' COCO-17 and
'keypoints2d_h36m' H36M-17 pixels with confidence 1 where visible, 'keypoints3d' camera frame, world joints,
per-joint visibility 0/1/2, camera and Anny body parameters). The same --seed gives the same dataset; rerun
the same command to resume an interrupted run (or with a larger --clips to extend it)."""


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m[1]) < 16 or int(m[2]) < 16:
        raise PoseCliError(f"--size {text!r} is not WIDTHxHEIGHT (at least 16x16)", "e.g. --size 640x480")
    return int(m[1]), int(m[2])


@app.command(epilog=EPILOG)
def synth(
    mocap: Annotated[str, typer.Option(help="Motion: a BVH folder or prepared .npz (cmu:PATH), or h36m:PATH.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; resumed if it holds a "
                                      "dataset made with the same options).", file_okay=False)],
    views: Annotated[int, typer.Option(min=1, max=16, help="Cameras per clip.")] = 4,
    persons: Annotated[int, typer.Option(min=1, max=8, help="People per clip.")] = 1,
    size: Annotated[str, typer.Option(help="Image size WIDTHxHEIGHT.")] = "640x480",
    frames: Annotated[int, typer.Option(min=1, help="Frames per clip (at the mocap's 30 fps).")] = 90,
    clips: Annotated[int, typer.Option(min=1, help="Number of clips (scenes).")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: the same seed gives the same dataset.")] = 0,
    backgrounds: Annotated[Optional[Path], typer.Option(help="Folder of videos whose background plates "
                                                        "(people removed by a temporal median) serve as "
                                                        "backgrounds for half the views; else procedural only.")]
    = None,
    follow: Annotated[bool, typer.Option("--follow", help="Cameras pan and tilt to follow the people.")] = False,
    truncate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of views framed so tight that "
                                            "the body leaves the image at times.")] = 0.0,
    wide: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of the other views framed wide: the "
                                        "camera 1.5-3x farther away, so people are small in the image "
                                        "(tracking benchmarks).")] = 0.0,
    layout: Annotated[Layout, typer.Option(help="Where people stand: ring (one in the middle, the others "
                                           "around) or crossing (people who travel cross the middle at different "
                                           "instants; for tracking benchmarks).")] = Layout.ring,
    occluders: Annotated[int, typer.Option(min=0, max=10, help="Boxes standing near the people.")] = 0,
    backdrop: Annotated[BackdropKind, typer.Option(help="room: the background picture on a wall behind the "
                                                   "people and a textured floor, seen through each camera "
                                                   "(its lines converge as in a real video); flat: the picture "
                                                   "pasted behind the render (datasets made before session 15)."
                                                   )] = BackdropKind.room,
    exclude_subjects: Annotated[Optional[list[str]], typer.Option(help="Leave these mocap subjects out (keep "
                                                                  "held-out subjects unseen by training renders).")]
    = None,
    subjects: Annotated[Optional[list[str]], typer.Option(help="Use only these mocap subjects (held-out "
                                                          "renders for evaluation).")] = None,
    step: Annotated[int, typer.Option(min=1, max=30, help="Render every N-th mocap frame (the video's fps is "
                                      "30 / N, motion at real speed): fewer near-duplicate frames for image "
                                      "training sets.")] = 1,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Clips rendered at once, each in its own process "
                                         "(about one per 1-2 CPU cores; the dataset does not depend on it).")]
    = 1,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Render Anny bodies (random phenotypes and clothes) performing mocap, seen by a rig of calibrated cameras."""
    from ..mocap.sources import load_mocap
    from ..synth.dataset import SynthOptions, synthesise
    from ..synth.scene import find_videos

    width, height = parse_size(size)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise PoseCliError(f"{out}: parent folder does not exist", f"create it first: mkdir -p {parent}")
    videos = find_videos(backgrounds) if backgrounds is not None else None
    dataset = load_mocap(mocap)
    if exclude_subjects:
        dataset = dataset.split(list(exclude_subjects))[0]
        mocap = f"{mocap} without subject(s) {', '.join(exclude_subjects)}"
    if subjects:
        dataset = dataset.split(list(subjects))[1]
        mocap = f"{mocap} subject(s) {', '.join(subjects)} only"
    options = SynthOptions(views=views, persons=persons, width=width, height=height, frames=frames, clips=clips,
                           seed=seed, follow=follow, truncate=truncate, wide=wide, occluders=occluders,
                           layout=layout.value, step=step, backdrop=backdrop.value)
    manifest = synthesise(dataset, out, options, videos, mocap_spec=mocap, workers=workers, device=device)
    note(f"wrote {out}: {len(manifest['clips'])} clip(s) x {views} view(s) x {frames} frames; "
         f"manifest {out / 'manifest.json'}")
