"""``posecli embed`` and ``posecli retrieve``: Pr-VIPE view-invariant pose embeddings and pose search."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..atomic import atomic_path, check_writable
from ..console import note, plural, stdout
from ..formats import write_poses
from . import app
from .options import Debug, Device, End, Every, Fps, OptOut, Quiet, Start
from .pipes import check_output, describe, output_file
from .sources import poses_from

Weights = Annotated[Optional[Path], typer.Option(help="Pr-VIPE weights (default: the shipped model).")]
MaxPersons = Annotated[Optional[int], typer.Option(min=1, help="Keep at most N people (videos).")]


class EmbedModel(str, Enum):
    vipe = "vipe"
    vipe_temporal = "vipe-temporal"
    mcss = "mcss"

    @property
    def registry(self) -> str:
        return self.value.replace("-", "_")


class Scoring(str, Enum):
    sampled = "sampled"
    mean = "mean"


EMBED_EPILOG = """Examples:

  posecli embed dance.mp4 -o dance_emb.npz

  posecli track dance.mp4 -o tracks.npz && posecli embed tracks.npz -o dance_emb.npz --samples 20

  posecli embed dance.mp4 --model vipe -o dance_emb.npz   # each frame's 2D alone (the default uses 17 frames)

Output: the input's tracks plus, per frame, 'embedding_mu' and 'embedding_sigma' (16-d Gaussian: mean and
standard deviation), 'embedding_valid' (enough of the body seen) and, with --samples K, 'embedding_samples'.
Poses that look alike in 3D get nearby embeddings whatever the camera angle.

  posecli embed dance.mp4 --model mcss -o dance_mcss.npz   # from image crops: 'embedding_mcss' (T, 128)

With --model mcss (seed 002) each frame's person crop is embedded (unit vectors; compare by L2 distance),
and the file also holds MCSS's canonical 3D pose."""


@app.command(epilog=EMBED_EPILOG)
def embed(
    source: Annotated[Path, typer.Argument(help="Video, image folder, or a pose file with 2D keypoints.")],
    out: OptOut = None,
    samples: Annotated[Optional[int], typer.Option(min=1, help="Also store K samples per frame.")] = None,
    weights: Weights = None,
    model: Annotated[EmbedModel, typer.Option(help="vipe-temporal (default): Pr-VIPE on the 2D of the 17 frames "
                                              "around each frame (ahead of vipe at Hit@1 on every held-out test); "
                                              "vipe: Pr-VIPE on each frame's 2D alone (align's model; for poses "
                                              "without neighbours in time); mcss: MCSS on image crops (a video "
                                              "is needed).")] = EmbedModel.vipe_temporal,
    max_persons: MaxPersons = None,
    seed: Annotated[int, typer.Option(help="Seed of the samples (reproducible).")] = 0,
    start: Start = 0,
    end: End = None,
    every: Every = 1,
    fps: Fps = None,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Embed every tracked person's 2D pose per frame into Pr-VIPE's view-invariant probabilistic space."""
    from ..embed.pipeline import embed_file
    from ..weights_registry import weight_path

    out = out or Path(f"{source.stem}_emb.npz")
    check_output(out)
    if model is EmbedModel.mcss:
        from ..errors import InputError
        from ..formats import is_pose_input
        from ..mcss.pipeline import load_mcss, mcss_poses

        if source == Path("-") or is_pose_input(source):
            raise InputError("--model mcss reads the images: give the video, not a pose file",
                             "run posecli embed VIDEO --model mcss")
        weights_file = weight_path("mcss", weights)
        load_mcss(weights_file)
        poses = poses_from(source, max_persons, False, start, end, every, fps)
        result = mcss_poses(poses, source, weights_file, device=device)
    else:
        weights_file = weight_path(model.registry, weights)
        poses = poses_from(source, max_persons, False, start, end, every, fps)
        result = embed_file(poses, weights_file, samples=samples, seed=seed, device=device)
    with output_file(out) as path:
        write_poses(result, path, "npz")
    note(f"wrote {describe(out)}: {plural(len(result.tracks), 'track')} with embeddings")


RETRIEVE_EPILOG = """Examples:

  posecli retrieve query.mp4 library/*.npz -k 5

  posecli retrieve query_emb.npz a.npz b.npz --frame 120 --mirror -o matches.json

  posecli retrieve query.mp4 cam2.mp4 --model mcss -k 3   # by image embedding (L2 distance)

Scores are Pr-VIPE matching probabilities in [0.05, 0.95] (the paper's sampled estimate; --scoring mean is
faster for large indexes). Prints a table, or writes JSON with -o (.json) or CSV (.csv)."""


@app.command(epilog=RETRIEVE_EPILOG)
def retrieve(
    query: Annotated[Path, typer.Argument(help="Video or pose/embedding file whose poses are looked up.")],
    index: Annotated[list[Path], typer.Argument(help="One or more videos or pose/embedding files to search.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Matches per query pose.")] = 5,
    frame: Annotated[Optional[int], typer.Option(min=0, help="Only the query's video frame N.")] = None,
    track: Annotated[Optional[int], typer.Option(help="Only this track of the query.")] = None,
    min_prob: Annotated[float, typer.Option(min=0.0, max=1.0, help="Drop matches below this probability.")] = 0.0,
    mirror: Annotated[bool, typer.Option(help="Also match mirror images of the index poses.")] = False,
    scoring: Annotated[Scoring, typer.Option(help="sampled (paper) or mean (fast).")] = Scoring.sampled,
    out: OptOut = None,
    weights: Weights = None,
    model: Annotated[EmbedModel, typer.Option(help="vipe-temporal (default): Pr-VIPE on 17 frames of 2D around "
                                              "each frame; vipe: each frame's 2D alone; mcss: MCSS image "
                                              "embeddings (videos, or files from embed --model mcss); scores "
                                              "are then L2 distances.")] = EmbedModel.vipe_temporal,
    max_persons: MaxPersons = None,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Find the most similar poses (whatever the camera angle) in other videos or pose files."""
    from ..embed.pipeline import load_vipe
    from ..embed.search import PoseIndex, search
    from ..weights_registry import weight_path

    if out is not None:
        check_writable(out)
        if out.suffix.lower() not in (".json", ".csv"):
            from ..errors import PoseCliError

            raise PoseCliError(f"{out}: unknown output type {out.suffix!r}", "name it .json or .csv")
    if model is EmbedModel.mcss:
        from ..mcss import search as image_search

        weights_file = weight_path("mcss", weights)
        def load(p: Path):
            return image_search.embedded(p, weights_file, lambda v: poses_from(v, max_persons), device)
        q = image_search.build_index([(query, load(query))], tracks=track, frame=frame)
        idx = image_search.build_index([(p, load(p)) for p in index])
        results = image_search.search(q, idx, k)
    else:
        vipe, _ = load_vipe(weight_path(model.registry, weights), device)
        q = PoseIndex.build(vipe, [(query, poses_from(query, max_persons))], device=device, tracks=track, frame=frame)
        idx = PoseIndex.build(vipe, [(p, poses_from(p, max_persons)) for p in index], device=device, mirror=mirror)
        results = search(vipe, q, idx, k, scoring.value, min_prob, seed, exclude_self=True)
    if out is None:
        _print_table(results)
        return
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".json":
            tmp.write_text(json.dumps(results, indent=1) + "\n")
        else:
            score = "distance" if model is EmbedModel.mcss else "prob"
            rows = [f"query_file,query_track,query_frame,rank,file,track,frame,time,mirrored,{score}"]
            for r in results:
                qq = r["query"]
                rows += [f"{qq['file']},{qq['track']},{qq['frame']},{m['rank']},{m['file']},{m['track']},"
                         f"{m['frame']},{m['time']:.4f},{int(m['mirrored'])},{m[score]:.4f}" for m in r["matches"]]
            tmp.write_text("\n".join(rows) + "\n")
    note(f"wrote {out}: matches for {len(results)} query pose(s)")


def _print_table(results: list[dict]) -> None:
    from rich.table import Table

    distance = any("distance" in m for r in results for m in r["matches"])
    table = Table("query (track:frame)", "rank", "match (file track:frame)", "time s",
                  "distance" if distance else "p(match)", box=None, header_style="bold")
    for r in results:
        qq = r["query"]
        for m in r["matches"]:
            table.add_row(f"{qq['track']}:{qq['frame']}" if m["rank"] == 1 else "", str(m["rank"]),
                          f"{Path(m['file']).name} {m['track']}:{m['frame']}" + (" (mirror)" if m["mirrored"] else ""),
                          f"{m['time']:.2f}", f"{m['distance' if distance else 'prob']:.3f}")
    stdout.print(table)
