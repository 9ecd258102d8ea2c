"""``posecli train ...``: the training recipes, each a thin wrapper over ``posecli.train.<recipe>``."""
from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note, progress
from . import app
from .options import Debug, Device, Quiet

train_app = typer.Typer(help="Train the models posecli ships (from mocap seen by random virtual cameras).",
                        no_args_is_help=True, epilog="Examples:\n\n"
                        "  posecli train estimate --data cmu:../shared/data/mocap --val-subjects 006 -o est.safetensors\n\n"
                        "  posecli train vipe --data cmu:../shared/data/mocap -o vipe.safetensors\n\n"
                        "  posecli train amodal --data cmu:../shared/data/mocap --steps 4000 -o amodal.safetensors\n\n"
                        "Each writes its weights and a JSON card beside them; posecli train COMMAND --help for options.")
app.add_typer(train_app, name="train")

DEFAULT_DATA = "cmu:../shared/data/mocap"
# Options every recipe shares.
WeightsOut = Annotated[Path, typer.Option("--out", "-o", help="Weights file (.safetensors); the card goes beside it.")]
TrainData = Annotated[str, typer.Option(help="cmu:BVH_DIR_or_prepared.npz or h36m:data_3d_h36m.npz")]
ValSubjects = Annotated[list[str], typer.Option(help="Whole subjects held out for validation.")]
# A development split: choose a setting on a training subject (--val-subjects 002) while the real held-out subject
# stays out of training and out of the choice (--exclude-subjects 006).
ExcludeSubjects = Annotated[Optional[list[str]], typer.Option(help="Whole subjects left out of training and "
                                                              "validation (a development split: validate on a "
                                                              "training subject, keep the held-out one unseen).")]


class Temporal(str, Enum):
    attention = "attention"
    gru = "gru"
    none = "none"
    tcn = "tcn"


@train_app.command("estimate", epilog="Examples:\n\n  posecli train estimate --data cmu:../shared/data/mocap "
                   "--val-subjects 006 --val-subjects 131 -o weights/estimate.safetensors   # the shipped TCN\n\n"
                   "  posecli train estimate --temporal attention --no-occlusion-camera -o sps.safetensors   # SPS-Net\n\n"
                   "  posecli train estimate --temporal gru -o /tmp/ablation_gru.safetensors   # SPS ablation\n\n"
                   "  posecli train estimate --receptive-field 81 --no-augment -o /tmp/tcn81.safetensors"
                   "   # VideoPose3D as published\n\n"
                   "  posecli train estimate --data h36m:data/data_3d_h36m.npz --val-subjects S9 S11 -o h36m.safetensors")
def estimate(
    out: WeightsOut,
    data: Annotated[list[str], typer.Option(help="Mocap (cmu:BVH_DIR_or_prepared.npz or h36m:PATH), once; and "
                                            "any number of synth:DIR (`posecli synth` renders: BlazePose is run "
                                            "on their views once, results kept beside them).")]
    = [DEFAULT_DATA],  # noqa: B006
    val_subjects: ValSubjects = ["006"],  # noqa: B006
    exclude_subjects: ExcludeSubjects = None,
    steps: Annotated[int, typer.Option(min=1)] = 3000,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    length: Annotated[int, typer.Option(min=2, help="Clip length N.")] = 32,
    lr: float = 1e-3,
    temporal: Annotated[Temporal, typer.Option(help="tcn (VideoPose3D dilated convolutions: the shipped default), "
                                               "attention (SPS-Net, seed 004), gru / none (SPS ablations).")]
    = Temporal.tcn,
    receptive_field: Annotated[int, typer.Option(help="tcn: frames seen per output (27, 81, 243).")] = 27,
    channels: Annotated[int, typer.Option(min=8, help="tcn: convolution channels (VideoPose3D: 1024).")] = 1024,
    encoder: Annotated[str, typer.Option(help="SPS frame encoder: mlp (per frame) or conv (dilated temporal "
                                         "convolutions, 27 frames of context).")] = "mlp",
    augment: Annotated[bool, typer.Option(help="Body sizes 0.8-1.2x and proportions, speeds 0.7-1.5x, "
                                          "real-footage cameras (elevation -30..50, roll +-30, 18-70 mm).")] = True,
    lean: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of clips whose trunk, head and arms are "
                                        "tilted 0-30 degrees about the pelvis (leaning, bowing), so the up "
                                        "direction is not read off the trunk alone.")] = 0.0,
    limbs: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of clips whose arms (up to 45 degrees) "
                                         "and legs (up to 25) are turned at the shoulders and hips, in the body's "
                                         "frame: poses beyond the training people's.")] = 0.0,
    exact_2d: Annotated[float, typer.Option("--exact-2d", min=0.0, max=1.0, help="Fraction of clips given their "
                                            "exact 2D (as markers or renders give) instead of detector-like "
                                            "noise.")] = 0.0,
    up_head: Annotated[bool, typer.Option(help="Learn the world's up direction in camera axes (estimate's "
                                          "upright keypoints3d_world).")] = True,
    forecast: Annotated[bool, typer.Option(help="Forecasting module and its fusion (ablation: --no-forecast).")] = True,
    mirror: Annotated[bool, typer.Option(help="Also train on left/right mirrored motions.")] = True,
    avoid_glitches: Annotated[bool, typer.Option(help="Skip clips over retargeting pops/flips found by prepare.")]
    = True,
    occlusion_camera: Annotated[bool, typer.Option(help="Occlusion consistency also on the camera (off: joints "
                                                   "only; the single-frame baseline needs it off to stay stable).")]
    = True,
    synth_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of every batch drawn from the "
                                                  "synth:DIR data (when given).")] = 0.5,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train the 3D lifter (2D keypoints -> 3D joints + up direction): TCN or SPS-Net, with a card.

    Weights are written with a JSON card of the exact command, data, seed and held-out metrics."""
    from ..errors import InputError
    from ..models.sps_lifter import LifterConfig
    from ..models.tcn_lifter import receptive_blocks
    from ..train.estimate import EstimateTrainConfig, evaluate_lifter, train_lifter

    mocap = [d for d in data if not d.startswith("synth:")]
    synth_dirs = [d.removeprefix("synth:") for d in data if d.startswith("synth:")]
    if len(mocap) != 1:
        raise InputError(f"--data names {len(mocap)} mocap sources", "give exactly one cmu:... or h36m:... "
                         "(synth:DIR may be added any number of times)")
    cfg = EstimateTrainConfig(steps=steps, batch=batch, length=length, lr=lr, seed=seed, mirror=mirror,
                              avoid_glitches=avoid_glitches, occlusion_camera=occlusion_camera,
                              synth=synth_dirs, synth_fraction=synth_fraction, augment=augment, lean=lean,
                              limbs=limbs, exact=exact_2d,
                              model=LifterConfig(temporal=temporal.value, forecasting=forecast, up_head=up_head,
                                                 encoder=encoder,
                                                 channels=channels, receptive_field=receptive_field))
    if encoder not in ("mlp", "conv"):
        raise InputError(f"--encoder {encoder!r} is not a frame encoder", "use --encoder mlp or --encoder conv")
    if temporal == Temporal.tcn:
        try:
            receptive_blocks(receptive_field)
        except ValueError as exc:
            raise InputError(str(exc), "use --receptive-field 27, 81 or 243") from None
    left_out = list(val_subjects) + list(exclude_subjects or [])
    synth = _synth_sampler(synth_dirs, cfg, left_out) if synth_dirs else None
    _train_and_save("estimate", "TCNLifter" if temporal == Temporal.tcn else "SPSLifter", out, mocap[0],
                    val_subjects, cfg, device,
                    lambda tr, on_step: train_lifter(tr, cfg, device=device, on_step=on_step, synth=synth),
                    lambda m, va, clean: evaluate_lifter(m, va, length, clean=clean, device=device),
                    card_extra=_synth_provenance(synth_dirs, {"synth_detected_person_views": len(synth.people),
                                                              "synth_windows": synth.windows}) if synth else None,
                    exclude=exclude_subjects or [])


def _synth_provenance(dirs: list[str], counts: dict) -> dict:
    """What the card must say for a synth dataset to be made again: how each was rendered, and how much of it
    the detector found."""
    from ..synth.detections import load_manifest

    data = []
    for d in dirs:
        m = load_manifest(d)
        data.append({"dir": d, "mocap": m.get("mocap"), "options": m.get("options"), "clips": len(m["clips"]),
                     "backgrounds": m.get("backgrounds"), "posecli": m.get("posecli")})
    return {"synth_data": data, **counts}


def _detect_synth(dirs: list[str]) -> None:
    """Run BlazePose on every synth view not yet detected (cached beside it)."""
    from ..synth.detections import detect_dataset, views

    for d in dirs:
        with progress(f"detect {d}", len(views(d)), unit="views/s") as advance:
            detect_dataset(d, advance)


def _synth_pairs(dirs: list[str], cfg, val_subjects: list[str]):
    """Pr-VIPE's synth pairs (train.vipe_synth), held-out subjects' motions left out."""
    from ..train.vipe_synth import SynthPairSampler

    _detect_synth(dirs)
    pairs = SynthPairSampler(dirs, cfg.model.window, seed=cfg.seed, mirror=cfg.mirror,
                             exclude_subjects=list(val_subjects), window_fps=cfg.model.window_fps)
    note(f"synth: {len(pairs.pairs)} person view pairs, {pairs.frames} frames detected in both views")
    return pairs


def _synth_sampler(dirs: list[str], cfg, val_subjects: list[str]):
    """Detect every synth view not yet detected (cached beside it), then load the (detected 2D, 3D) clips,
    leaving out people who perform a held-out subject's motion."""
    from ..train.estimate import clip_frames
    from ..train.synth_clips import SynthClipSampler

    _detect_synth(dirs)
    frames = clip_frames(cfg)  # the TCN reads its receptive field around the N frames it is trained on
    sampler = SynthClipSampler(dirs, frames, seed=cfg.seed, mirror=cfg.mirror, exclude_subjects=list(val_subjects))
    note(f"synth: {len(sampler.people)} detected person-views, {sampler.windows} windows of {frames} frames")
    return sampler


@train_app.command("vipe", epilog="Examples:\n\n  posecli train vipe --data cmu:../shared/data/mocap "
                   "--val-subjects 006 --steps 5000 -o weights/vipe.safetensors\n\n"
                   "  posecli train vipe --ema 0.9999 --no-mirror -o /tmp/vipe_paper.safetensors   # nearer the paper")
def vipe(
    out: WeightsOut,
    data: TrainData = DEFAULT_DATA,
    val_subjects: ValSubjects = ["006"],  # noqa: B006
    exclude_subjects: ExcludeSubjects = None,
    steps: Annotated[int, typer.Option(min=1)] = 5000,
    batch: Annotated[int, typer.Option(min=2)] = 256,
    lr: Annotated[float, typer.Option(help="Adagrad learning rate (paper: 0.02).")] = 0.02,
    dim: Annotated[int, typer.Option(min=1, help="Embedding size d.")] = 16,
    samples: Annotated[int, typer.Option(min=1, help="Samples K per embedding.")] = 20,
    ema: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight EMA decay (paper: 0.9999).")] = 0.999,
    noisy: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of 2D inputs with detector-like noise.")]
    = 0.5,
    dropout: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of 2D inputs that lose keypoints "
                                           "(each of the 13 with probability 0.05-0.3). Off by default: 0.3 "
                                           "lowered held-out retrieval (docs/benchmarks.md).")] = 0.0,
    mirror: Annotated[bool, typer.Option(help="Also train on left/right mirrored poses.")] = True,
    cameras: Annotated[int, typer.Option(min=2, help="Cameras per held-out sequence for the retrieval metrics.")] = 4,
    augment: Annotated[bool, typer.Option(help="Train on other body sizes/proportions and real-footage camera "
                                          "angles and lenses (as train estimate). Off by default, as the shipped "
                                          "model: no clear held-out gain (docs/benchmarks.md).")] = False,
    window: Annotated[int, typer.Option(min=1, help="Temporal Pr-VIPE: embed each frame from this many frames "
                                        "around it (odd; 30 fps spacing); 1 = the paper's single-frame model.")] = 1,
    synth: Annotated[Optional[list[Path]], typer.Option(help="A `posecli synth` dataset (any number): pairs of "
                                                        "BlazePose's 2D of one instant in two rendered views "
                                                        "(detected once, kept beside the views).")] = None,
    synth_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of every batch drawn from "
                                                  "--synth.")] = 0.5,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train Pr-VIPE (2D pose -> view-invariant probabilistic embedding), with a card.

    The card holds held-out cross-view retrieval Hit@1/10/20."""
    from ..errors import InputError
    from ..models.prvipe import VipeConfig
    from ..train.vipe import VipeTrainConfig, evaluate_retrieval, train_vipe

    if window % 2 == 0:
        raise InputError(f"--window {window} is even", "use an odd window (the frame embedded is its centre), e.g. 9")
    dirs = [str(d) for d in synth or []]
    cfg = VipeTrainConfig(steps=steps, batch=batch, lr=lr, ema=ema, noisy=noisy, mirror=mirror, seed=seed,
                          augment=augment, dropout=dropout, synth=dirs, synth_fraction=synth_fraction,
                          model=VipeConfig(dim=dim, samples=samples, window=window))
    left_out = list(val_subjects) + list(exclude_subjects or [])
    pairs = _synth_pairs(dirs, cfg, left_out) if dirs else None
    _train_and_save("vipe", "PrVIPE", out, data, val_subjects, cfg, device,
                    lambda tr, on_step: train_vipe(tr, cfg, device=device, on_step=on_step, synth=pairs),
                    lambda m, va, clean: evaluate_retrieval(m, va, cameras, clean=clean, device=device),
                    card_extra=_synth_provenance(dirs, {"synth_person_view_pairs": len(pairs.pairs),
                                                        "synth_pair_frames": pairs.frames}) if pairs else None,
                    exclude=exclude_subjects or [])


@train_app.command("amodal", epilog="Examples:\n\n  posecli train amodal --data cmu:../shared/data/mocap "
                   "--val-subjects 006 --steps 2500 -o weights/amodal.safetensors\n\n"
                   "  posecli train amodal --adapt tracks/*.npz --adapt-steps 500 -o weights/amodal.safetensors"
                   "   # + phase 3 on unlabelled 2D tracks\n\n"
                   "  posecli train amodal --init weights/amodal.safetensors --adapt mine/*.npz -o adapted.safetensors"
                   "   # phase 3 only\n\n"
                   "  posecli train amodal --steps 20 --hidden 32 -o /tmp/amodal_try.safetensors   # smoke test")
def amodal(
    out: WeightsOut,
    data: TrainData = DEFAULT_DATA,
    val_subjects: ValSubjects = ["006"],  # noqa: B006
    exclude_subjects: ExcludeSubjects = None,
    steps: Annotated[int, typer.Option(min=3, help="Phases 0/1/2 share them 15/55/30 %.")] = 2500,
    batch: Annotated[int, typer.Option(min=1, help="Clips of 90 frames per step.")] = 16,
    lr: float = 1e-3,
    hidden: Annotated[int, typer.Option(min=8, help="LSTM units per direction (paper: 512; CPU default 128).")]
    = 128,
    adapt: Annotated[Optional[list[Path]], typer.Option(help="Unlabelled pose files from `posecli track` for "
                                                        "phase 3 (self-supervised adaptation).")] = None,
    adapt_steps: Annotated[int, typer.Option(min=0, help="Phase-3 steps (alternating unsup./sup. batches).")]
    = 500,
    init: Annotated[Optional[Path], typer.Option(help="Start from these amodal weights and run phase 3 only "
                                                 "(needs --adapt): adapt a trained model to your own videos.")]
    = None,
    augment: Annotated[bool, typer.Option(help="Train on other body sizes/proportions, speeds 0.7-1.5x and "
                                          "real-footage cameras (as train estimate). Off by default: it lowered "
                                          "held-out accuracy and the hypotheses' spread (docs/benchmarks.md).")]
    = False,
    occlude: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of training clips with a body part "
                                           "hidden inside the frame for a while (legs, a limb, half the body, "
                                           "scattered joints; 3 frames to the whole window). Off by default: 0.5 "
                                           "did not teach the model to bridge gaps (docs/benchmarks.md).")] = 0.0,
    variety: Annotated[int, typer.Option(min=0, help="Also train the hypotheses with a best-of-K loss: of K "
                                         "drawn per clip, the one closest to the truth on the hidden joints is "
                                         "pulled to it (not in the paper; 0 or 1: the paper's losses only).")] = 0,
    pose_steps: Annotated[int, typer.Option(min=0, help="Phase 0 (the pose auto-encoder) on its own budget of "
                                            "steps, learning rate decayed to 0; 0: 15 % of --steps at a constant "
                                            "rate.")] = 0,
    eval_frames: Annotated[Optional[int], typer.Option(min=90, help="Cap frames per held-out sequence in the "
                                                       "card's evaluation (default: all).")] = None,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train amodal completion (2D tracks -> 3D motion + K hypotheses for unseen joints), with a card.

    The card holds held-out hidden-joint MPJPE, best-of-K, PSS and diversity."""
    from ..errors import InputError
    from ..models.amodal import AmodalConfig
    from ..train.amodal import AmodalTrainConfig, evaluate_amodal, evaluate_leg_gaps, load_unlabelled, train_amodal
    from ..weights_registry import MODELS, weights_dir

    if init is not None and not adapt:
        raise InputError("--init runs phase 3 only, which needs unlabelled tracks", "add --adapt tracks/*.npz")
    model_config = AmodalConfig(hidden=hidden)
    if init is not None:
        from ..amodal.pipeline import load_amodal

        init_card = load_amodal(init)[1]  # checks the file and its card before the long work
        model_config = AmodalConfig(**init_card.get("config", {}).get("model", {}))
    tracks = load_unlabelled(adapt) if adapt else None
    if adapt and not any(len(t["points"]) >= 120 for t in tracks):
        raise InputError("no track in --adapt files is 4 s or longer (phase 3 needs 90 frames + a shift)",
                         "pass longer `posecli track` outputs")
    cfg = AmodalTrainConfig(steps=0 if init else steps, batch=batch, lr=lr, seed=seed,
                            adapt_steps=adapt_steps if adapt else 0, init=str(init) if init else None,
                            augment=augment, occlude=occlude, variety=variety, pose_steps=0 if init else pose_steps,
                            model=model_config)
    estimate_weights = weights_dir() / MODELS["estimate"]
    baseline = estimate_weights if estimate_weights.is_file() else None
    _train_and_save("amodal", "AmodalNet", out, data, val_subjects, cfg, device,
                    lambda tr, on_step: train_amodal(tr, cfg, device=device, on_step=on_step, adapt=tracks),
                    lambda m, va, clean: {**evaluate_amodal(m, va, clean=clean, estimate_weights=baseline,
                                                            device=device, max_frames=eval_frames),
                                          "leg_gaps": evaluate_leg_gaps(m, va, clean=clean, device=device,
                                                                        max_frames=eval_frames,
                                                                        estimate_weights=baseline)},
                    exclude=exclude_subjects or [], total_steps=cfg.total_steps())


def rank_zero() -> bool:
    """Whether this process reports, evaluates and writes: always, but under torchrun only rank 0 (the others
    are made quiet)."""
    from ..console import set_quiet
    from ..train.distributed import is_main_process

    if is_main_process():
        return True
    set_quiet(True)
    return False


def _train_and_save(recipe: str, model_name: str, out: Path, data: str, val_subjects: list[str], cfg,
                    device: str, train: Callable, evaluate: Callable, card_extra: dict | None = None,
                    exclude: list[str] = (), total_steps: int | None = None) -> None:
    """What every recipe does around its own training loop: fail early on the output, split by subject, show
    progress, evaluate on the held-out subjects with detector-like and exact 2D, write weights and card.
    ``total_steps``: the steps the progress bar counts, when they are not ``cfg.steps``."""
    import torch

    from ..atomic import check_writable
    from ..mocap.sources import load_mocap
    from ..train.distributed import process_count
    from ..train.weights import git_commit, save_weights

    main_process = rank_zero()
    commit = git_commit()  # the code that trains, not whatever HEAD is when training ends
    check_writable(out)
    check_writable(out.with_suffix(".json"))
    torch.manual_seed(cfg.seed)
    dataset = load_mocap(data)
    if exclude:  # an unknown subject is a clear SchemaError naming the dataset's subjects
        dataset, _ = dataset.split(list(exclude))
    train_set, val_set = dataset.split(list(val_subjects))
    last: dict[str, float] = {}
    with progress(f"train {recipe}", total_steps or cfg.steps, unit="steps/s") as advance:
        def on_step(step: int, logs: dict[str, float]) -> None:
            last.update(logs)
            advance()

        model = train(train_set, on_step)
    if not main_process:
        return
    metrics = {"held_out_detector_like_2d": evaluate(model, val_set, False),
               "held_out_exact_2d": evaluate(model, val_set, True),
               "final_train_losses": {k: round(v, 4) for k, v in last.items()}}
    card = save_weights(model, out, {
        "model": model_name, "config": cfg.to_dict(), "data": data, "seed": cfg.seed, "git_commit": commit,
        "split": {"train_subjects": train_set.subjects, "val_subjects": val_set.subjects,
                  "train_frames": sum(len(s) for s in train_set.sequences),
                  "val_frames": sum(len(s) for s in val_set.sequences),
                  **({"excluded_subjects": list(exclude)} if exclude else {})},
        "metrics": metrics, "processes": process_count(), **(card_extra or {})})
    note(f"wrote {out} ({card['bytes'] / 1e6:.1f} MB); held-out: {metrics['held_out_detector_like_2d']}")
