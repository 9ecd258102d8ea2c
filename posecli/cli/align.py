"""``posecli align``: time-align two performances of the same movement with Pr-VIPE + DTW."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from ..atomic import atomic_path, check_writable
from ..console import note, stdout, warn
from ..errors import OutputError, PoseCliError
from ..poses import Poses, Track
from ..video.writer import check_video_name
from . import app
from .embed import MaxPersons, Scoring, Weights
from .options import Debug, Device, OptOut, Quiet
from .sources import poses_from

PLOT_SUFFIXES = {".png", ".jpg", ".jpeg", ".pdf", ".svg"}  # what matplotlib writes here


class Chirality(str, Enum):
    pair = "pair"
    frame = "frame"
    none = "none"


EPILOG = """Examples:

  posecli align teacher.mp4 student.mp4 -o align.json --plot align.png --video side.mp4

  posecli align a_tracks.npz b_tracks.npz --track-a 2 --band 300 -o align.json

  posecli align clip.mp4 whole_routine.mp4 --subsequence -o where.json

Output JSON: the frame path (pairs of video frames A, B), for every frame of A the matched (fractional)
frame of B and time, the sequence distance (mean -log p(match) along the path: lower = more alike),
whether B's mirror image was used, and Kendall's tau of the matches. Without -o it goes to stdout.

--subsequence: A is the short query, matched whole; B is the long performance, of which only the best-fitting
part is used (open-begin / open-end DTW). The JSON gains "span": B's first and last matched frame and time and
the cost along the path (total and per step). --plot shows the path over the whole matrix; --video shows A
beside the matched part of B."""


@app.command(epilog=EPILOG)
def align(
    a: Annotated[Path, typer.Argument(help="Reference: video or pose file (--subsequence: the short clip to "
                                      "look for).")],
    b: Annotated[Path, typer.Argument(help="Video or pose file to re-time to A (--subsequence: the long "
                                      "performance to search).")],
    out: OptOut = None,
    plot: Annotated[Optional[Path], typer.Option(help="PNG of the cost matrix with the path.")] = None,
    video: Annotated[Optional[Path], typer.Option(help="MP4 of A and B side by side, B re-timed to A.")] = None,
    track_a: Annotated[Optional[int], typer.Option(help="Track of A (default: the longest).")] = None,
    track_b: Annotated[Optional[int], typer.Option(help="Track of B (default: the longest).")] = None,
    chirality: Annotated[Chirality, typer.Option(help="pair: also try B mirrored, keep the better alignment; "
                                                 "frame: per-frame min; none.")] = Chirality.pair,
    kernel: Annotated[int, typer.Option(min=1, help="Atrous kernel size (odd).")] = 7,
    rate: Annotated[int, typer.Option(min=1, help="Atrous kernel rate (frames).")] = 3,
    band: Annotated[Optional[int], typer.Option(min=0, help="Sakoe-Chiba band half-width in frames "
                                                "(long videos).")] = None,
    subsequence: Annotated[bool, typer.Option("--subsequence", help="Find where A (short, matched whole) occurs "
                                              "inside B (long): open-begin/open-end DTW; the JSON gains B's "
                                              "matched span. Example: posecli align clip.mp4 routine.mp4 "
                                              "--subsequence")] = False,
    scoring: Annotated[Scoring, typer.Option(help="sampled (paper) or mean (fast, long videos).")] = Scoring.sampled,
    weights: Weights = None,
    max_persons: MaxPersons = None,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Find which frame of B corresponds to each frame of A (different people, speeds or camera angles)."""
    from ..align.sequences import align_tracks, kendall_tau, nearest_neighbours
    from ..embed.pipeline import load_vipe
    from ..weights_registry import weight_path

    for path in (out, plot, video):
        if path is not None:
            check_writable(path)
    if plot is not None and plot.suffix.lower() not in PLOT_SUFFIXES:
        raise OutputError(f"cannot draw the plot as {plot.suffix or 'a suffix-less file'}",
                          f"give --plot NAME.png (or {', '.join(sorted(PLOT_SUFFIXES))})", plot)
    if video is not None:
        check_video_name(video, "--video writes a video")
    if kernel % 2 == 0:
        raise PoseCliError(f"--kernel {kernel} is even", "give an odd size such as 7")
    if subsequence and band is not None:
        raise PoseCliError("--band does not apply with --subsequence (where A lies in B is what is searched)",
                           "drop --band")
    model, _ = load_vipe(weight_path("vipe", weights), device)
    pa, pb = poses_from(a, max_persons), poses_from(b, max_persons)
    if (track_a is None and not pa.tracks) or (track_b is None and not pb.tracks):
        # like track / estimate / embed on a video with nobody in it: a valid, empty result and a warning
        empty = [str(p) for p, poses in ((a, pa), (b, pb)) if not poses.tracks]
        warn(f"nobody was found in {' and '.join(empty)}: there is nothing to align; the result is empty"
             + (" and no plot or video was drawn" if plot is not None or video is not None else ""))
        _write_report({"a": {"source": str(a), "track": None, "frames": 0, "fps": pa.fps},
                       "b": {"source": str(b), "track": None, "frames": 0, "fps": pb.fps},
                       "distance": None, "subsequence": subsequence, "b_for_a": [], "path": []}, out)
        return
    ta, tb = _pick(pa, track_a, a), _pick(pb, track_b, b)
    res = align_tracks(model, ta, tb, kernel, rate, chirality.value, scoring.value, band, seed, device,
                       subsequence)
    mapping = res.mapping()
    frames_path = np.stack([ta.frames[res.path[:, 0]], tb.frames[res.path[:, 1]]], 1)
    b_frame = np.interp(mapping, np.arange(len(tb)), tb.frames)
    b_time = np.interp(mapping, np.arange(len(tb)), tb.times)
    report = {
        "a": {"source": str(a), "track": ta.id, "frames": len(ta), "fps": pa.fps},
        "b": {"source": str(b), "track": tb.id, "frames": len(tb), "fps": pb.fps},
        "distance": round(res.distance, 5), "mirrored": res.mirrored, "chirality": chirality.value,
        "kernel": {"size": kernel, "rate": rate}, "band": band, "scoring": scoring.value,
        "subsequence": subsequence,
        "kendall_tau_path": _round(kendall_tau(mapping)),
        "kendall_tau_nearest": _round(kendall_tau(nearest_neighbours(res.cost))),
        "b_for_a": [{"frame_a": int(f), "time_a": round(float(t), 4), "frame_b": round(float(fb), 2),
                     "time_b": round(float(tt), 4)} for f, t, fb, tt in zip(ta.frames, ta.times, b_frame, b_time)],
        "path": frames_path.tolist(),
    }
    first, last = res.span
    if subsequence:
        report["span"] = {"first_frame_b": int(tb.frames[first]), "last_frame_b": int(tb.frames[last]),
                          "first_time_b": round(float(tb.times[first]), 4),
                          "last_time_b": round(float(tb.times[last]), 4), "frames_b": last - first + 1,
                          "cost": round(res.total_cost, 5), "normalized_cost": round(res.distance, 5)}
    _write_report(report, out)
    if plot is not None:
        from ..align.plot import plot_alignment

        title = f"{a.name} vs {b.name}{' (B mirrored)' if res.mirrored else ''}: distance {res.distance:.3f}"
        if subsequence:
            title += f"\nA found in B frames {tb.frames[first]}-{tb.frames[last]}"
        plot_alignment(res.cost, frames_path, plot, ta.frames, tb.frames, title)
    if video is not None:
        from ..align.video import write_side_by_side

        write_side_by_side(_video_of(a, pa), _video_of(b, pb), ta, tb, np.round(b_frame), video)
    wrote = ", ".join(str(p) for p in (out, plot, video) if p is not None)
    found = f", A found in B frames {tb.frames[first]}-{tb.frames[last]}" if subsequence else ""
    note(f"aligned {len(ta)} x {len(tb)} frames: distance {res.distance:.3f}{found}"
         f"{', B mirrored' if res.mirrored else ''}" + (f"; wrote {wrote}" if wrote else ""))


def _write_report(report: dict, out: Path | None) -> None:
    text = json.dumps(report, indent=1) + "\n"
    if out is None:
        stdout.print(text, end="", markup=False, highlight=False)
    else:
        with atomic_path(out) as tmp:
            tmp.write_text(text)


def _round(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)


def _pick(poses: Poses, track_id: int | None, path: Path) -> Track:
    if track_id is not None:
        return poses.track(track_id)
    if not poses.tracks:
        raise PoseCliError(f"{path}: nobody was tracked", "check that a person is in view (posecli track FILE)")
    return max(poses.tracks, key=len)


def _video_of(path: Path, poses: Poses) -> Path:
    """The video behind an input: itself, or the source recorded in a pose file (when it still exists)."""
    from ..formats import is_pose_input

    if not is_pose_input(path):
        return path
    if poses.source and Path(poses.source).is_file():
        return Path(poses.source)
    raise PoseCliError(f"{path}: --video needs the original video, and the file's source "
                       f"{poses.source!r} is not there", "pass the video itself instead of the pose file")
