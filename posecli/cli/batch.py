"""``posecli batch``: a pipeline step over a folder (or list) of videos; the work lives in ``posecli.batch``."""
from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note, plural, progress, stderr
from ..errors import PoseCliError
from . import app
from .options import Debug, Quiet


class Engine(str, Enum):
    local = "local"
    ray = "ray"


EPILOG = """Examples:

  posecli batch track videos/ -o tracks/ --workers 2

  posecli batch estimate videos/ more/clip.mp4 -o poses/ --args "--max-persons 2 --body anny"

  posecli batch embed session/*.mp4 -o embeddings/

  posecli batch track /shared/videos -o /shared/tracks --engine ray --address auto   # on a Ray cluster

  posecli batch estimate study.csv -o poses/   # a manifest: columns input[,args,output], one row per video

Each video runs as its own `posecli STEP VIDEO -o OUT.npz` process (a bad file fails alone); outputs mirror
the inputs' folders under -o; a rerun skips outputs that are already complete and retries the rest;
OUT/failures.json lists the files that failed, with the step's error line. Exit status 1 if any failed."""


@app.command(epilog=EPILOG)
def batch(
    step: Annotated[str, typer.Argument(help="track, estimate, embed or complete.")],
    inputs: Annotated[list[Path], typer.Argument(help="Videos, folders of videos (searched recursively) and/or "
                                                 "manifests (.csv / .jsonl: input[, args, output] per video).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; outputs mirror the inputs).",
                                      file_okay=False)],
    workers: Annotated[int, typer.Option(min=1, max=64, help="Files processed at once (each step uses several "
                                         "threads itself: 1-2 on a laptop).")] = 1,
    args: Annotated[str, typer.Option(help="Options passed to every step, as one string.")] = "",
    engine: Annotated[Engine, typer.Option(help="local: a pool of --workers processes here; ray: one Ray task per "
                                           "video (pip install 'posecli[ray]').")] = Engine.local,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster to use (auto, or ray://HOST:PORT); default: "
                                                   "a local Ray instance with --workers CPUs.")] = None,
    cpus_per_task: Annotated[float, typer.Option(min=0.0, help="CPUs Ray reserves per video.")] = 1.0,
    gpus_per_task: Annotated[float, typer.Option(min=0.0, help="GPUs Ray reserves per video.")] = 0.0,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Run one pipeline step over many videos, one process per file, resumable, failures isolated."""
    from ..batch import STEPS, find_inputs, plan, run_batch, write_failures

    if step not in STEPS:
        raise PoseCliError(f"unknown step {step!r}", f"choose one of: {', '.join(STEPS)}")
    extra = shlex.split(args)
    if address is not None and engine.value != "ray":
        raise PoseCliError("--address is for --engine ray", "add --engine ray, or drop --address")
    if any(a in ("-o", "--out") for a in extra):
        raise PoseCliError("--args must not set -o: batch names every output", "drop -o from --args")
    jobs = plan(find_inputs(inputs), out)
    out.mkdir(parents=True, exist_ok=True)
    with progress(f"batch {step}", len(jobs), unit="files/s") as advance:
        run_batch(step, jobs, extra, workers, advance, engine.value, address, cpus_per_task, gpus_per_task)
    failures = write_failures(jobs, out)
    counts = {s: sum(j.status == s for j in jobs) for s in ("ok", "done", "failed")}
    if not quiet:
        from rich.table import Table

        table = Table(title=f"posecli batch {step}", show_lines=False)
        for col in ("input", "status", "seconds", "error"):
            table.add_column(col)
        for j in jobs:
            table.add_row(str(j.source.name), j.status, f"{j.seconds:.1f}" if j.status == "ok" else "", j.error[:80])
        stderr.print(table)
    note(f"{plural(counts['ok'], 'file')} processed, {counts['done']} already done, {counts['failed']} failed"
         + (f" (see {failures})" if counts["failed"] else "") + f"; outputs under {out}")
    if counts["failed"]:
        raise typer.Exit(1)
