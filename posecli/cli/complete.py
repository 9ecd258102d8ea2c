"""``posecli complete``: per person, a deterministic 3D motion and K plausible completions of unseen joints."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note, plural
from ..formats import write_poses
from . import app
from .options import Debug, Device, End, Every, Fps, OptOut, Quiet, Start
from .pipes import check_output, describe, output_file
from .sources import poses_from

EPILOG = """Examples:

  posecli complete tracks.npz -o completed.npz -k 10

  posecli track dance.mp4 -o tracks.npz && posecli complete tracks.npz -o completed.npz -k 50 --seed 3

  posecli complete dance.mp4 -o completed.npz   # tracks the video first

  posecli complete match.mp4 -o completed.npz --max-persons 2 --start 300 --end 900

  posecli complete tracks.npz -o completed.npz --join-gaps   # brief occlusions: follow the frames around them

Output: the input's tracks (2D kept) plus 'keypoints3d' (H36M-17, camera frame x right / y down /
z forward, the deterministic motion; every joint filled, confidence 1 where seen and 0.25 where
completed), arrays 'hypotheses3d' (T, K, 17, 3) in the same frame (joints seen in the input identical
across hypotheses, unseen ones varying; where joints are hidden for a stretch and the track shows the
person's motion elsewhere, hypothesis i takes the i-th best-matching moment), 'hidden' (T, 17) 1 where
a joint was unseen (confidence < 0.5 or outside the image), 'keypoints3d_canonical' (pelvis-centred,
facing +Z, Y up, canonical bone lengths), 'view_rotation' and 'root'. Sizes are those of the canonical
skeleton (~1.7 m person); depth assumes a phone lens. Runs in overlapping 90-frame (3 s at 30 fps)
windows; a seed reproduces the output."""


@app.command(epilog=EPILOG)
def complete(
    source: Annotated[Path, typer.Argument(help="Pose file from `posecli track` (or a video to track first).")],
    out: OptOut = None,
    k: Annotated[int, typer.Option("-k", "--hypotheses", min=1, max=500, help="Hypotheses K per person.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the random vectors r_a (track id is added).")] = 0,
    weights: Annotated[Optional[Path], typer.Option(help="Amodal weights (default: the shipped model).")] = None,
    focal: Annotated[Optional[float], typer.Option(min=1.0, help="Focal length in pixels, for the root depth.")]
    = None,
    max_persons: Annotated[Optional[int], typer.Option(min=1, help="Keep at most N people (when tracking a "
                                                       "video).")] = None,
    join_gaps: Annotated[bool, typer.Option(
        "--join-gaps", help="Join each stretch where a joint is hidden to the seen frames around it (a second "
        "pass of the model). Held out: 10-14 % closer on gaps of 3-10 frames, worse on long ones (1 s: +2 %, the "
        "middle half of a clip: +6 %).")] = False,
    match: Annotated[bool, typer.Option(
        "--match/--no-match", help="Hypotheses for a stretch where joints are hidden from the person's own seen "
        "motion (the K best-matching moments of the track), the model's where none matches. Held out: best of 10 "
        "10 % closer on 1 s leg gaps, 5 % at a clip's end, 4 % with the middle half hidden.")] = True,
    start: Start = 0,
    end: End = None,
    every: Every = 1,
    fps: Fps = None,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Complete every tracked person's 3D motion, with K hypotheses for the joints the camera does not see."""
    from ..amodal.pipeline import complete_poses
    from ..weights_registry import MODELS, weight_path, weights_dir

    out = out or Path(f"{source.stem}_completed.npz")
    check_output(out)
    weights_file = weight_path("amodal", weights)
    poses = poses_from(source, max_persons, False, start, end, every, fps)
    # each person's size as estimate's lifter sees it, so both commands put them at one distance
    lifter = weights_dir() / MODELS["estimate"]
    result = complete_poses(poses, weights_file, k=k, seed=seed, focal=focal, device=device,
                            lifter=lifter if lifter.is_file() else None, join_gaps=join_gaps, match=match)
    with output_file(out) as path:
        write_poses(result, path, "npz")
    note(f"wrote {describe(out)}: {plural(len(result.tracks), 'track')}, {plural(k, 'hypothesis', 'hypotheses')} each")
