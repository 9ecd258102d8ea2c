"""``posecli train ...``: the training recipes, each a thin wrapper over ``posecli.train.<recipe>``."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..console import note, progress
from . import app
from .options import Debug, Device, Quiet

train_app = typer.Typer(help="Train the models posecli ships (from mocap seen by random virtual cameras).",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")

DEFAULT_DATA = "cmu:../shared/data/mocap"


class Temporal(str, Enum):
    attention = "attention"
    gru = "gru"
    none = "none"


@train_app.command("estimate", epilog="Examples:\n\n  posecli train estimate --data cmu:../shared/data/mocap "
                   "--val-subjects 006 -o weights/estimate_sps.safetensors\n\n"
                   "  posecli train estimate --temporal gru -o /tmp/ablation_gru.safetensors   # ablation\n\n"
                   "  posecli train estimate --data h36m:data/data_3d_h36m.npz --val-subjects S9 S11 -o h36m.safetensors")
def estimate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights file (.safetensors); the card goes beside it.")],
    data: Annotated[str, typer.Option(help="cmu:BVH_DIR_or_prepared.npz or h36m:data_3d_h36m.npz")] = DEFAULT_DATA,
    val_subjects: Annotated[list[str], typer.Option(help="Whole subjects held out for validation.")] = ["006"],  # noqa: B006
    steps: Annotated[int, typer.Option(min=1)] = 3000,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    length: Annotated[int, typer.Option(min=2, help="Clip length N.")] = 32,
    lr: float = 1e-3,
    temporal: Annotated[Temporal, typer.Option(help="attention (SPS-Net), gru (ablation), none (single frame).")]
    = Temporal.attention,
    forecast: Annotated[bool, typer.Option(help="Forecasting module and its fusion (ablation: --no-forecast).")] = True,
    mirror: Annotated[bool, typer.Option(help="Also train on left/right mirrored motions.")] = True,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train the SPS-Net lifter (2D keypoints -> 3D joints) and write weights with a card of held-out metrics."""
    import torch

    from ..atomic import check_writable
    from ..mocap.sources import load_mocap
    from ..models.sps_lifter import LifterConfig
    from ..train.estimate import EstimateTrainConfig, evaluate_lifter, train_lifter
    from ..train.weights import git_commit, save_weights

    commit = git_commit()  # the code that trains, not whatever HEAD is when training ends
    check_writable(out)
    check_writable(out.with_suffix(".json"))
    torch.manual_seed(seed)
    dataset = load_mocap(data)
    train_set, val_set = dataset.split(list(val_subjects))
    cfg = EstimateTrainConfig(steps=steps, batch=batch, length=length, lr=lr, seed=seed, mirror=mirror,
                              model=LifterConfig(temporal=temporal.value, forecasting=forecast))
    with progress("train estimate", steps, unit="steps/s") as advance:
        last: dict[str, float] = {}

        def on_step(step: int, logs: dict[str, float]) -> None:
            last.update(logs)
            advance()

        model = train_lifter(train_set, cfg, device=device, on_step=on_step)
    metrics = {"held_out_detector_like_2d": evaluate_lifter(model, val_set, length, device=device),
               "held_out_exact_2d": evaluate_lifter(model, val_set, length, clean=True, device=device),
               "final_train_losses": {k: round(v, 4) for k, v in last.items()}}
    card = save_weights(model, out, {
        "model": "SPSLifter", "config": cfg.to_dict(), "data": data, "seed": seed, "git_commit": commit,
        "split": {"train_subjects": train_set.subjects, "val_subjects": val_set.subjects,
                  "train_frames": sum(len(s) for s in train_set.sequences),
                  "val_frames": sum(len(s) for s in val_set.sequences)},
        "metrics": metrics})
    note(f"wrote {out} ({card['bytes'] / 1e6:.1f} MB); held-out: {metrics['held_out_detector_like_2d']}")
