"""``posecli info``: what a video, image folder or pose file holds."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..console import plural, stdout
from ..formats import is_pose_input, read_poses
from ..video import probe
from . import app
from .options import Debug, Fps, Quiet

def describe(path: Path, fps: float | None = None) -> dict:
    if is_pose_input(path):
        return {"kind": "poses", "path": str(path), **read_poses(path, fps=fps).summary()}
    return probe(path, fps=fps).to_dict()


def _print_human(d: dict) -> None:
    if d["kind"] != "poses":
        for key in ("path", "kind", "codec", "frames", "fps", "width", "height", "rotation", "duration",
                    "pix_fmt", "bit_rate"):
            if d.get(key) is not None:
                value = round(d[key], 3) if isinstance(d[key], float) else d[key]  # duration 1.667, not 1.6666666666666667
                stdout.print(f"{key:>9}: {value}")
        return
    for key in ("path", "schema", "version", "source", "fps", "width", "height", "num_frames"):
        if d.get(key) is not None:
            stdout.print(f"{key:>10}: {d[key]}")
    if d["camera"]:
        stdout.print(f"{'camera':>10}: {', '.join(d['camera'])}")
    for key, label in (("shot_cuts", "shot cuts"), ("light_changes", "light")):
        if d.get(key):
            stdout.print(f"{label:>10}: {', '.join(map(str, d[key]))}")
    stdout.print(f"{'tracks':>10}: {len(d['tracks'])}")
    for t in d["tracks"]:
        span = (f"frame {t['first_frame']}" if t["first_frame"] == t["last_frame"] else
                f"frames {t['first_frame']}-{t['last_frame']}") if t["frames"] else "empty"
        stdout.print(f"  id {t['id']}: {plural(t['frames'], 'frame')} ({span}); {'; '.join(t['fields'])}")


@app.command(epilog="Examples:\n\n  posecli info dance.mp4\n\n  posecli info tracks.npz --json | jq .tracks")
def info(
    file: Annotated[Path, typer.Argument(help="A video, an image or image folder, or a pose file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    fps: Fps = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Print what a video or pose file holds: frames, fps, size, codec, rotation; or tracks, joint sets, fields."""
    d = describe(file, fps)
    if as_json:
        print(json.dumps(d, indent=2))
    else:
        _print_human(d)
