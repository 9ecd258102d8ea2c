"""``posecli data ...``: prepare motion capture for training, inspect it, preview it, export it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note, progress, stdout
from ..errors import PoseCliError
from . import app
from .options import Debug, Out, Quiet

data_app = typer.Typer(help="Training data: BVH motion capture -> prepared 3D skeletons; info, preview, export.",
                       epilog="Examples:\n\n  posecli data prepare --mocap ../shared/data/mocap -o cmu.npz\n\n"
                       "  posecli data info cmu.npz --bones\n\n  posecli data preview cmu.npz -o preview.png\n\n"
                       "  posecli data export cmu.npz --to-3d data_3d_cmu.npz",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("prepare", epilog="Examples:\n\n  posecli data prepare --mocap ../shared/data/mocap -o cmu.npz\n\n"
                  "  posecli data prepare --mocap my_bvh/ --rig-map my_rig.json --fps 25 -o mine.npz")
def prepare_cmd(
    mocap: Annotated[Path, typer.Option(help="Folder of .bvh files (searched recursively; subject = folder).")],
    out: Out,
    fps: Annotated[float, typer.Option(min=1.0, help="Target frame rate.")] = 30.0,
    rig_map: Annotated[Optional[Path], typer.Option(help="JSON rig map for your skeleton "
                                                    "(see posecli/mocap/rigs.py).")] = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Read every BVH, map it to H36M-17 and COCO-17 (metres, Y up, floor at 0), resample, save one NPZ."""
    from ..atomic import check_writable
    from ..mocap.prepare import find_bvh_files, prepare

    check_writable(out)
    total = len(find_bvh_files(mocap)) if mocap.is_dir() else None
    with progress("prepare", total, unit="files/s") as advance:
        ds = prepare(mocap, fps=fps, rig=rig_map, progress=lambda *_: advance())
    ds.save(out)
    s = ds.summary()
    note(f"wrote {out}: {len(ds.sequences)} sequences, {s['frames']} frames at {fps:g} fps, "
         f"subjects {', '.join(ds.subjects)}")
    read_as: dict[str, int] = {}
    for seq in ds.sequences:
        key = (f"units {seq.attrs.get('units')} (from {seq.attrs.get('units_from')}), "
               f"position channels: {seq.attrs.get('position_channels')}")
        read_as[key] = read_as.get(key, 0) + 1
    for key, count in read_as.items():
        note(f"  {count} file(s) read with {key}")


@data_app.command("info", epilog="Examples:\n\n  posecli data info cmu.npz\n\n  posecli data info cmu.npz --json --bones")
def info_cmd(
    data: Annotated[str, typer.Argument(help="Prepared .npz, a BVH folder (cmu:DIR) or h36m:data_3d_h36m.npz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    bones: Annotated[bool, typer.Option("--bones", help="Also per-bone length mean and std/mean.")] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Subjects, sequences, frames and fps of a training dataset (and bone-length statistics)."""
    from ..mocap.prepare import bone_stats
    from ..mocap.sources import load_mocap

    ds = load_mocap(data)
    s = ds.summary()
    if bones:
        s["bones"] = bone_stats(ds)
    if as_json:
        print(json.dumps(s, indent=2))
        return
    stdout.print(f"{len(ds.sequences)} sequences, {s['frames']} frames, fps {s['fps']}")
    for subj, d in s["subjects"].items():
        stdout.print(f"  subject {subj}: {d['sequences']} sequences, {d['frames']} frames")
    for bone, st in s.get("bones", {}).items():
        stdout.print(f"  {bone:<28} mean {st['mean']:.3f} m  std/mean {100 * st['std'] / st['mean']:.1f} % "
                     f"(within takes {100 * st['within_std'] / st['mean']:.1f} %)")


@data_app.command("preview", epilog="Examples:\n\n  posecli data preview cmu.npz --sequence 007_03 --frame 60 -o preview.png")
def preview_cmd(
    data: Annotated[str, typer.Argument(help="Prepared .npz, a .bvh file, a BVH folder or h36m:PATH.")],
    out: Out,
    sequence: Annotated[Optional[str], typer.Option(help="Sequence name (default: the first).")] = None,
    frame: Annotated[int, typer.Option(min=0, help="Frame index at the prepared rate.")] = 0,
    cameras: Annotated[int, typer.Option(min=1, max=6, help="Virtual cameras to draw.")] = 3,
    seed: int = 0,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Draw one frame's 3D skeleton and its projections through random virtual cameras to a PNG."""
    from ..mocap.dataset import MocapDataset
    from ..mocap.prepare import prepare_file
    from ..mocap.preview import draw_preview
    from ..mocap.sources import load_mocap

    ds = MocapDataset([prepare_file(data)]) if data.lower().endswith(".bvh") else load_mocap(data)
    seqs = [s for s in ds.sequences if sequence in (None, s.name)]
    if not seqs:
        raise PoseCliError(f"no sequence {sequence!r}", f"some names: {', '.join(s.name for s in ds.sequences[:8])}")
    seq = seqs[0]
    if frame >= len(seq):
        raise PoseCliError(f"frame {frame} is past the end of {seq.name} ({len(seq)} frames)", "choose a smaller --frame")
    draw_preview(seq, frame, out, cameras, seed)
    note(f"wrote {out}")


@data_app.command("export", epilog="Examples:\n\n  posecli data export cmu.npz --to-3d data_3d_cmu.npz "
                  "--to-2d data_2d_cmu_gt.npz --cameras 4")
def export_cmd(
    data: Annotated[str, typer.Argument(help="Prepared .npz, a BVH folder or h36m:PATH.")],
    to_3d: Annotated[Path, typer.Option("--to-3d", help="VideoPose3D-style data_3d file to write.")],
    to_2d: Annotated[Optional[Path], typer.Option("--to-2d", help="Also exact 2D from virtual cameras.")] = None,
    cameras: Annotated[int, typer.Option(min=1)] = 4,
    seed: int = 0,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Write a dataset in VideoPose3D's Human3.6M layouts (positions_3d, positions_2d)."""
    from ..mocap.h36m import write_vp3d_dataset
    from ..mocap.sources import load_mocap

    write_vp3d_dataset(load_mocap(data), to_3d, to_2d, cameras, seed)
    note(f"wrote {to_3d}" + (f" and {to_2d}" if to_2d else ""))
