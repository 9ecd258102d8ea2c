"""``posecli track``: multi-person 2D keypoints with stable IDs."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note, plural
from ..errors import InputError
from ..formats import write_poses
from ..track.backends import AUTO, BACKENDS, NEW_FLAG, PYRAMID_BACKOFF
from ..track.gaps import FILLED_CONFIDENCE
from ..track.pipeline import TrackOptions, track_video
from . import app
from .options import Debug, End, Every, Fps, OptOut, Quiet, Start, check_device
from .pipes import check_output, describe, output_file


class Backend(str, Enum):
    blazepose = "blazepose"
    blazepose_torch = "blazepose-torch"
    mediapipe_single = "mediapipe-single"


class PyramidLevels(str, Enum):
    two = "2"
    three = "3"
    auto = "auto"


class Order(str, Enum):
    length = "length"
    size = "size"


class TrackFormat(str, Enum):
    npz = "npz"
    json = "json"


EPILOG = """Examples:

  posecli track dance.mp4 -o tracks.npz

  posecli track dance.mp4 -o keypoints.json --format json     # COCO keypoint results

  posecli track match.mp4 -o tracks.npz --max-persons 2 --smooth --start 300 --end 900

  posecli track frames/ --fps 25 -o tracks.npz                # a folder of images

  posecli track stadium.mp4 -o tracks.npz --pyramid-levels 3  # small people everywhere (slower)

  posecli track broadcast.mp4 -o tracks.npz   # shot cuts found: an ID crosses one only beyond doubt

  posecli track gait.mp4 -o tracks.npz --fill-gaps 0.5   # no holes where someone was hidden for < 0.5 s

  posecli track dance.mp4 --backend blazepose-torch --device cuda   # BlazePose on the GPU

  posecli track dance.mp4 -o - | posecli estimate - -o poses.npz   # -o -: to stdout, -: from stdin

Output: per person track, COCO-17 'keypoints2d' (pixels, confidence per joint), the raw BlazePose-33
points ('blazepose2d'), BlazePose's metric 3D world landmarks ('blazepose_world'), boxes. Track 1 is
the longest-seen person (see --order)."""


@app.command(epilog=EPILOG)
def track(
    video: Annotated[Path, typer.Argument(help="Video file, image, or folder of images.")],
    out: OptOut = None,
    fmt: Annotated[TrackFormat, typer.Option("--format", "-f", help="npz: posecli pose file; "
                                             "json: COCO keypoint results (image_id = frame).")] = TrackFormat.npz,
    backend: Annotated[Backend, typer.Option(help="2D model: multi-person BlazePose run by LiteRT (fastest on a "
                                             "CPU), the same models ported to torch (any --device, all people "
                                             "of a frame in one batch), or MediaPipe's one-person legacy "
                                             "solution for reference.")] = Backend.blazepose,
    device: Annotated[Optional[str], typer.Option(
        "--device", callback=lambda v: None if v is None else check_device(v),
        help="Torch device for --backend blazepose-torch: cpu, cuda, cuda:1, mps, or auto (the default: CUDA "
             "when present). The other backends run on the CPU.")] = None,
    detector: Annotated[Optional[Path], typer.Option(
        help="Person detector weights from `posecli train detector` (BlazePose's detector fine-tuned to find "
             "people seen from behind, crouched or small). Default: mediapipe's own (none trained so far beats it: "
             "docs/benchmarks.md).")] = None,
    max_persons: Annotated[Optional[int], typer.Option(min=1, help="Keep at most N people (first by --order).")] = None,
    max_age: Annotated[float, typer.Option(min=0.0, help="Seconds a person may be unseen and keep their ID.")] = 1.0,
    min_frames: Annotated[Optional[int], typer.Option(min=1, help="Drop tracks seen in fewer frames "
                                                      "(default: 0.25 s of video, at least 5).")] = None,
    detect_every: Annotated[Optional[int], typer.Option(
        min=1, help="Run the person detector every N frames (and whenever someone is lost or people overlap); "
                    "people are followed in between. Default: a third of a second of video (10 frames at 30 fps, "
                    "20 at 60).")] = None,
    order: Annotated[Order, typer.Option(help="Track order and IDs: longest-seen or largest person first.")]
    = Order.length,
    smooth: Annotated[bool, typer.Option("--smooth", help="One-Euro filter the keypoints against jitter.")] = False,
    sides: Annotated[bool, typer.Option(help="Keep left and right consistent along each track: undo the 2D "
                                        "model's sudden left/right label flips (a person facing the camera "
                                        "taken for one seen from behind for a moment); frames changed are "
                                        "marked in the track array 'sides_swapped'.")] = True,
    stitch: Annotated[bool, typer.Option(help="Whole-video pass: undo identities swapped where two people "
                                         "crossed, cut a track where its look changes for good (it slid onto "
                                         "someone else) and join pieces of one person split by a loss "
                                         "(distance- and appearance-gated).")] = True,
    reid: Annotated[float, typer.Option(min=0.0, help="Seconds within which a person who left the frame or "
                                        "stayed hidden is re-identified by their clothes' colours (with "
                                        "--stitch; unambiguous matches only).")] = 5.0,
    cuts: Annotated[bool, typer.Option(help="Find shot cuts (an edited clip or a broadcast switching camera): "
                                       "everyone is looked for afresh in the new shot and keeps their ID "
                                       "across the cut only where their clothes' colours match beyond doubt "
                                       "(with --stitch; otherwise a new ID). Where only the light changes "
                                       "colour (stage light), everyone keeps their ID and their looks are "
                                       "learnt again. The frames are written to the file's meta "
                                       "('shot_cuts', 'light_changes').")] = True,
    min_height: Annotated[float, typer.Option(min=0.0, max=1.0, help="Drop people whose median height is "
                                              "below this fraction of the frame height (BlazePose cannot "
                                              "resolve them and sees people in small objects).")] = 0.04,
    min_joints: Annotated[int, typer.Option(min=0, max=17, help="Drop people who show fewer of their 17 COCO "
                                            "joints inside the image (confidence >= 0.5) in most frames (a "
                                            "skeleton the landmark model placed outside the frame); 0 keeps "
                                            "all.")] = 5,
    min_flag: Annotated[float, typer.Option(min=0.0, max=1.0, help="Drop people whose median pose flag (the "
                                            "landmark model's confidence that a person is there) is below this: "
                                            "objects it takes for a person for a while; 0 keeps all.")] = 0.95,
    fill_gaps: Annotated[float, typer.Option(min=0.0, help="Fill gaps of up to this many seconds inside a track "
                                             "(the person hidden for a moment, or missed) by linear interpolation: "
                                             f"joint confidence {FILLED_CONFIDENCE:g} there (not seen), track "
                                             "array 'filled'; not "
                                             "across a shot cut or where the person was at the image border. 0: "
                                             "gaps stay gaps. More people found, more skeletons off them "
                                             "(docs/benchmarks.md).")] = 0.0,
    pyramid_every: Annotated[Optional[int], typer.Option(
        min=0, help="Search the frame for small people (a finer grid of detector tiles) every N frames; 0: never. "
                    "Default: once a second of video.")] = None,
    pyramid_levels: Annotated[PyramidLevels, typer.Option(help="Finest grid of that search: 3 adds tiles of a "
                                                          "quarter of the frame's short side (3x the detector "
                                                          "passes), for wide shots of people under ~15 % of the "
                                                          "frame height; auto adds them while someone that small "
                                                          "is followed (the default: a wide shot shows itself by "
                                                          "its people).")] = PyramidLevels.auto,
    lost_frames: Annotated[Optional[int], typer.Option(
        min=1, help="Frames on which the detector looks again for a lost person, on a square around where they "
                    "were lost (1: only the frame of the loss). Default: half a second of video.")] = None,
    new_flag: Annotated[float, typer.Option(min=0.0, max=1.0, help="Pose flag (the landmark model's confidence "
                                            "that a person is there) a new skeleton needs to start a person where it "
                                            "overlaps someone followed; elsewhere 0.5.")] = NEW_FLAG,
    pyramid_backoff: Annotated[int, typer.Option(min=1, help="While the small-person search finds nobody new, "
                                                 "each search waits twice as long as the last, up to N x "
                                                 "--pyramid-every (1: a fixed schedule).")] = PYRAMID_BACKOFF,
    start: Start = 0,
    end: End = None,
    every: Every = 1,
    fps: Fps = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Find every person in every frame, give each a stable ID, and write their 2D keypoints."""
    out = out or Path(f"{video.stem}_tracks.{'json' if fmt is TrackFormat.json else 'npz'}")
    check_output(out)  # fail before minutes of work, not after
    if backend is Backend.blazepose_torch:
        device = device or check_device("auto")
    elif device is not None and device.split(":")[0] != "cpu":
        raise InputError(f"--backend {backend.value} runs on the CPU only, not on {device}",
                         "add --backend blazepose-torch to run BlazePose on that device")
    if backend is Backend.mediapipe_single:
        if detector is not None:
            raise InputError("--detector replaces BlazePose's detector; MediaPipe's one-person solution has its own",
                             "drop --backend mediapipe-single")
        model = BACKENDS["mediapipe-single"]()
    else:
        levels = AUTO if pyramid_levels is PyramidLevels.auto else int(pyramid_levels.value)
        model = BACKENDS["blazepose"](detect_every=detect_every, max_persons=max_persons,
                                      pyramid_every=pyramid_every, pyramid_levels=levels,
                                      lost_frames=lost_frames, new_flag=new_flag,
                                      pyramid_backoff=pyramid_backoff,
                                      runtime="torch" if backend is Backend.blazepose_torch else "litert",
                                      device=device or "cpu", detector_weights=detector)
    opts = TrackOptions(start=start, end=end, every=every, fps=fps, max_age=max_age, min_frames=min_frames,
                        max_persons=max_persons, order=order.value, smooth=smooth,
                        sides=sides, stitch=stitch, reid=reid, cuts=cuts, min_height=min_height,
                        min_joints=min_joints, min_flag=min_flag, fill_gaps=fill_gaps)
    poses = track_video(video, model, opts)
    with output_file(out, ".json" if fmt is TrackFormat.json else ".npz") as path:
        write_poses(poses, path, "coco-json" if fmt is TrackFormat.json else "npz")
    note(f"wrote {describe(out)}: {plural(len(poses.tracks), 'track')}" + (": " if poses.tracks else "") +
         ", ".join(f"id {t.id}: {plural(len(t), 'frame')}" for t in poses.tracks))
