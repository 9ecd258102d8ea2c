"""``posecli estimate``: 3D joints per person per frame (tracks first when given a video)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note, plural
from ..errors import InputError
from ..formats import is_pose_input, write_poses
from . import app
from .options import Debug, Device, End, Every, Fps, Quiet, Start
from .pipes import check_output, describe, is_stdio, output_file
from .sources import poses_from

EPILOG = """Examples:

  posecli estimate dance.mp4 -o poses.npz

  posecli track dance.mp4 -o tracks.npz && posecli estimate tracks.npz -o poses.npz

  posecli estimate dance.mp4 -o poses.npz --max-persons 1 --focal 1400

  posecli estimate dance.mp4 -o poses.npz --lifter sps   # the SPS-Net lifter instead of the TCN

  posecli estimate dance.mp4 -o poses.npz --lifter-up    # up direction from the lifter, not the gravity model

  posecli estimate dance.mp4 -o poses.npz --no-verticals  # up from the body only, not the scene's vertical lines

  posecli estimate dance.mp4 -o canonical.npz --model mcss   # 3D from image crops (canonical frame)

  posecli estimate lab.mp4 -o css.npz --model css --weights css.safetensors   # one person, whole frames (seed 001)

  posecli estimate poses.npz ... && posecli export poses.npz --to trc --track 1 -o poses.trc

  posecli estimate dance.mp4 -o poses.npz --body anny

  posecli estimate dance.mp4 -o poses.npz --body smpl --body-model SMPL_NEUTRAL.pkl --vertices

  posecli track dance.mp4 -o - | posecli estimate - -o poses.npz        # through a pipe

  posecli estimate dance.mp4 -o - --format json | jq '.tracks | length'

Output: the input's tracks plus 'keypoints3d' (H36M-17, metres, camera frame x right / y down /
z forward; NaN + confidence 0 for joints the detector did not see), 'root' (estimated pelvis
position) and 'camera_weak' per frame, and 'keypoints3d_world': the same joints upright (y up, the
floor at y = 0 under each person, x right, z towards the camera; from the shipped gravity model's
estimate of the camera's pitch and roll, one per video (per shot where `track` found shot cuts): the
file's meta 'world'; --lifter-up: the
lifter's own estimate; where the video shows a clear set of vertical lines, such as walls' edges, door
frames or poles, their vanishing point gives it instead: --no-verticals turns that off). A keypoint
that jumps away from its own path for a frame is treated as missed and the root's one-frame spikes
are removed (--no-robust: off).
Where the track holds BlazePose's own 3D (videos and `posecli track` files), the output is the
lifter's joints averaged with it (--blend 0.5; 0 = the lifter alone, kept in 'keypoints3d_lifter').
With --body: a body model fitted to each person's 3D joints ('body_pose', 'body_shape',
'body_global_orient', 'body_transl', 'body_joints', 'body_error'; 'body_vertices' with --vertices),
in the same camera frame. Anny (open) builds a cache under ~/.cache/anny on first use (~1.5 min)."""


class PoseFormat(str, Enum):
    npz = "npz"
    json = "json"


class Lifter(str, Enum):
    tcn = "tcn"
    sps = "sps"


class Model(str, Enum):
    lifter = "lifter"
    mcss = "mcss"
    css = "css"


class BodyModel(str, Enum):
    none = "none"
    anny = "anny"
    smpl = "smpl"


@app.command(epilog=EPILOG)
def estimate(
    source: Annotated[Path, typer.Argument(help="Video, image folder, or a pose file from `posecli track`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", dir_okay=False, help="Output file (written "
                                                "atomically; default: <source stem>_poses.npz here; - for "
                                                "stdout).")] = None,
    fmt: Annotated[Optional[PoseFormat], typer.Option("--format", "-f", help="npz or json (posecli's JSON, NaN "
                                                      "as null); default: from -o's extension, npz for "
                                                      "stdout.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Lifter (or, with --model mcss / css, MCSS / CSS) weights "
                                                    "(default: the shipped model).")] = None,
    model: Annotated[Model, typer.Option(help="lifter: 2D keypoints -> 3D in the camera frame (default); mcss: "
                                         "each frame's person crop -> canonical 3D (seed 002; a video is "
                                         "needed; no heading or root position); css: each whole frame -> one "
                                         "person's pelvis-centred 3D in camera axes (seed 001; static camera).")] = Model.lifter,
    lifter: Annotated[Optional[Lifter], typer.Option(help="Shipped lifter: tcn (default; dilated temporal convolutions, "
                                           "the better on held-out subjects) or sps (SPS-Net, seed 004; no up "
                                           "head of its own: its upright frame comes from the gravity "
                                           "model).")] = None,
    up_weights: Annotated[Optional[Path], typer.Option(help="Weights whose up head gives the world's up "
                                                       "direction (default: the shipped gravity model, "
                                                       "trained with leaning trunks).")] = None,
    lifter_up: Annotated[bool, typer.Option("--lifter-up", help="Take the up direction from the lifter's own "
                                            "up head instead of the gravity model.")] = False,
    verticals: Annotated[bool, typer.Option(help="Take the world's up direction from the scene's vertical "
                                            "lines (their vanishing point in the video's first seconds) where "
                                            "there is a clear set of them near the body's up direction; the "
                                            "file's meta world.up_source says which was used.")] = True,
    focal: Annotated[Optional[float], typer.Option(min=1.0, help="Focal length in pixels, for the root depth "
                                                   "(default: a phone's 26 mm-equivalent lens).")] = None,
    blend: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of BlazePose's own 3D (world landmarks, "
                                         "aligned to the lifter's) in the output; 0 = the lifter alone. The "
                                         "lifter's joints are kept in 'keypoints3d_lifter'.")] = 0.5,
    robust: Annotated[bool, typer.Option(help="Drop keypoints that jump off their path for a frame and "
                                         "one-frame root spikes.")] = True,
    max_persons: Annotated[Optional[int], typer.Option(min=1, help="Keep at most N people.")] = None,
    smooth: Annotated[bool, typer.Option("--smooth", help="One-Euro filter the 2D keypoints first.")] = False,
    body: Annotated[BodyModel, typer.Option(help="Fit a body model to each person's 3D joints: anny (open, "
                                            "built in) or smpl (needs --body-model).")] = BodyModel.none,
    body_model: Annotated[Optional[Path], typer.Option(help="SMPL model file (.pkl or .npz) for --body smpl.",
                                                       dir_okay=False)] = None,
    vertices: Annotated[bool, typer.Option("--vertices", help="Also store the body's vertices per frame "
                                           "(large: ~165 kB per person-frame for Anny).")] = False,
    start: Start = 0,
    end: End = None,
    every: Every = 1,
    fps: Fps = None,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Estimate 3D joints (H36M-17, camera frame and upright world) for every tracked person."""
    from ..lifting.pipeline import estimate_poses, lifter_card, load_up_model
    from ..weights_registry import shipped_weight, weight_path

    out = out or Path(f"{source.stem}_poses.{fmt.value if fmt else 'npz'}")
    fmt_name = fmt.value if fmt else ("npz" if is_stdio(out) else None)  # None: from the extension
    check_output(out)
    if body is BodyModel.smpl and body_model is None:
        raise InputError("--body smpl needs the SMPL model file", "add --body-model path/to/SMPL_NEUTRAL.pkl")
    if body_model is not None and body is not BodyModel.smpl:
        raise InputError("--body-model is only used with --body smpl", "add --body smpl, or drop --body-model")
    if vertices and body is BodyModel.none:
        raise InputError("--vertices needs a body model", "add --body anny (or --body smpl --body-model FILE)")
    if body is not BodyModel.none:
        from ..body import load_body

        load_body(body.value, body_model)  # bad model files fail here, before the long work
    if model is not Model.lifter and (up_weights is not None or lifter_up):
        raise InputError(f"--up-weights / --lifter-up choose the lifter's world frame; --model {model.value} has none",
                         "drop them, or use --model lifter")
    if model is Model.mcss:
        from ..mcss.pipeline import load_mcss, mcss_poses

        if is_stdio(source) or is_pose_input(source):
            raise InputError("--model mcss reads the images: give the video, not a pose file",
                             "run posecli estimate VIDEO --model mcss")
        weights_file = weight_path("mcss", weights)
        load_mcss(weights_file)  # wrong weights fail here, before tracking
        poses = poses_from(source, max_persons, smooth, start, end, every, fps)
        result = mcss_poses(poses, source, weights_file, device=device)
    elif model is Model.css:
        from ..css.pipeline import css_poses, load_css

        if is_stdio(source) or is_pose_input(source):
            raise InputError("--model css reads the images: give the video, not a pose file",
                             "run posecli estimate VIDEO --model css")
        if max_persons is not None or smooth:
            raise InputError("--model css follows one person from whole frames (no tracker)",
                             "drop --max-persons / --smooth")
        weights_file = weight_path("css", weights)
        load_css(weights_file)  # wrong weights fail here, before reading the video
        result = css_poses(source, weights_file, device=device, start=start, end=end, every=every, fps=fps)
    else:
        weights_file = weight_path("estimate_sps" if lifter == Lifter.sps else "estimate", weights)
        lifter_card(weights_file)  # wrong weights fail here, before tracking
        if lifter_up and up_weights is not None:
            raise InputError("--lifter-up and --up-weights both choose the up direction", "give one of them")
        up_file = None if lifter_up else (weight_path("estimate_up", up_weights, "--up-weights") if up_weights
                                          else shipped_weight("estimate_up"))  # absent: the lifter's own
        if up_file is not None:
            load_up_model(up_file)  # weights without an up head fail here, before tracking
        poses = poses_from(source, max_persons, smooth, start, end, every, fps)
        result = estimate_poses(poses, weights_file, focal=focal, device=device, blend=blend, robust=robust,
                                up_weights=up_file, verticals=verticals)
    if body is not BodyModel.none:
        from ..body import fit_poses

        result = fit_poses(result, body.value, body_model, vertices=vertices, device=device)
    with output_file(out, f".{fmt_name or 'npz'}") as path:
        write_poses(result, path, fmt_name)
    fitted = f" and a fitted {body.value} body" if body is not BodyModel.none and result.tracks else ""
    note(f"wrote {describe(out)}: {plural(len(result.tracks), 'track')} with 3D joints{fitted}")
