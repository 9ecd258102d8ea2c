"""``posecli train detector``: BlazePose's person detector fine-tuned on ``posecli synth`` renders."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import note, progress
from .options import Debug, Device, Quiet
from .train import WeightsOut, rank_zero, train_app


@train_app.command("detector", epilog="Examples:\n\n"
                   "  posecli synth --mocap cmu:../shared/data/mocap --exclude-subjects 006 --persons 4 --views 2 "
                   "--clips 30 --frames 90 --step 3 --size 960x540 --layout crossing --truncate 0.5 -o det_a/\n\n"
                   "  posecli train detector --data det_a/ --data det_b/ -o weights/detector.safetensors\n\n"
                   "  posecli track video.mp4 -o poses.npz --detector weights/detector.safetensors   # use them")
def detector(
    out: WeightsOut,
    data: Annotated[list[Path], typer.Option(help="`posecli synth` datasets (repeat to combine); several "
                                             "people per frame, any camera.")],
    steps: Annotated[int, typer.Option(min=1, help="Training steps (batches of --batch crops).")] = 2000,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam's learning rate (warm-up, then cosine decay).")] = 1e-4,
    crops_per_frame: Annotated[int, typer.Option(min=1, help="Squares cut from each frame (a jittered tracker "
                                                 "tile, then random squares).")] = 3,
    every: Annotated[int, typer.Option(min=1, help="Use every N-th frame of the renders.")] = 1,
    anchor_reach: Annotated[float, typer.Option(min=0.0, help="Positives: anchors of the stride-8 and -16 grids "
                                                "within this many strides of a person's box centre.")] = 0.75,
    ignore_reach: Annotated[float, typer.Option(min=0.0, help="Anchors up to this many strides away that are not "
                                                "positives are left out of the loss (beyond: negatives).")] = 1.0,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of the clips held out to report "
                                                "recall on (theirs and the original detector's).")] = 0.1,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fine-tune BlazePose's person detector to find people whose face it cannot use (seen from behind,
    crouched, small, partly hidden), from renders with exact joints.

    Same network, anchors and outputs as the wheel's detector: the weights (safetensors) replace the
    original's when `track --detector FILE` is given.  The card holds recall on held-out clips for both."""
    from ..atomic import check_writable
    from ..train.detector import DetectorConfig, evaluate_detector, module_runner, split_by_clip, train_detector
    from ..train.detector_data import build_crops, count_frames, synth_views
    from ..train.distributed import process_count
    from ..train.weights import git_commit, save_weights

    main_process = rank_zero()
    commit = git_commit()
    check_writable(out)
    check_writable(out.with_suffix(".json"))
    for folder in data:
        synth_views(folder)  # one clear line for a folder that is not a synth dataset, before any work
    cfg = DetectorConfig(steps=steps, batch=batch, lr=lr, crops_per_frame=crops_per_frame, every=every,
                         val_fraction=val_fraction, anchor_reach=anchor_reach, ignore_reach=ignore_reach, seed=seed)
    with progress("cutting crops", count_frames(data, every), unit="frames/s") as advance:
        crops = build_crops(data, crops_per_frame, every, seed, advance)
    train_set, val_set = split_by_clip(crops, val_fraction, seed)
    note(f"{len(train_set.images)} training crops, {len(val_set.images)} held-out crops")
    last: dict[str, float] = {}
    with progress("train detector", steps, unit="steps/s") as advance:
        def on_step(step: int, logs: dict[str, float]) -> None:
            last.update(logs)
            advance()

        module, base_sha = train_detector(train_set, cfg, device, on_step)
    if not main_process:
        return
    metrics = {"final_train_losses": {k: round(v, 4) for k, v in last.items()}}
    if len(val_set.images):
        from ..detect.models import detector_module

        original, _ = detector_module()
        metrics["held_out_clips"] = {"fine_tuned": evaluate_detector(module_runner(module, device), val_set),
                                     "original": evaluate_detector(module_runner(original.eval()), val_set)}
    card = save_weights(module, out, {
        "model": "BlazePoseDetector", "base_model": "mediapipe 0.10.14 pose_detection.tflite",
        "base_sha256": base_sha, "config": cfg.to_dict(), "data": [str(d) for d in data], "seed": seed,
        "git_commit": commit, "crops": {"train": len(train_set.images), "held_out": len(val_set.images)},
        "metrics": metrics, "processes": process_count()})
    note(f"wrote {out} ({card['bytes'] / 1e6:.1f} MB); held-out: {metrics.get('held_out_clips')}")
