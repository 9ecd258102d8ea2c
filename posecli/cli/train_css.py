"""``posecli train css``: CSS (seed 001) from single-camera videos, then a pose regressor from a few 3D labels."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note
from .options import Debug, Device, Quiet
from .train import WeightsOut, rank_zero, train_app


def frame_set(spec: str, cache_root: Path, size: int, every: int):
    """A data spec -> its frame cache (built once into ``cache_root``, reused later); ``cache:DIR`` names one."""
    from ..images.cache import is_cache, load_cache
    from ..images.frames import build_frame_cache, check_frames, parse_frames_spec
    from ..train.distributed import main_first

    if spec.startswith("cache:"):
        path = Path(spec.removeprefix("cache:"))
        return check_frames(load_cache(path), path)
    kind, root = parse_frames_spec(spec)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{kind}_{root.resolve()}_every{every}_{size}px").strip("_")
    path = cache_root / slug
    if not is_cache(path):
        def build() -> None:
            note(f"reading the frames of {spec} once into {path}")
            build_frame_cache(spec, path, size, every)

        main_first(build, lambda: is_cache(path))
    return check_frames(load_cache(path), path)


@train_app.command("css", epilog="Examples:\n\n"
                   "  posecli train css --data synth:synth_static/ --val synth:synth_heldout/ -o css.safetensors\n\n"
                   "  posecli train css --data synth:synth_static/ --variant ae -o ae.safetensors   # a baseline: "
                   "no contrastive loss\n\n"
                   "  posecli train css --init css.safetensors --data videos:mylab/ --labels "
                   "synth:synth_static/ --label-fraction 0.01 -o mylab_css.safetensors   # adapt to your own "
                   "videos, then 1 %% of the labels\n\n"
                   "Pictures of the detector's box, the reconstruction and a TI swap go to --pictures every "
                   "--picture-every steps.")
def css(
    out: WeightsOut,
    data: Annotated[list[str], typer.Option(help="Videos for the self-supervised phase: synth:DIR (static-camera "
                                            "renders), videos:DIR (your videos, one person, static camera), "
                                            "cache:DIR (a frame cache); repeat to combine.")],
    labels: Annotated[Optional[list[str]], typer.Option(help="Frames with 3D labels for the pose regressor "
                                                        "(default: the labelled frames of --data).")] = None,
    val: Annotated[Optional[list[str]], typer.Option(help="Held-out labelled frames for the card's metrics.")]
    = None,
    variant: Annotated[str, typer.Option(help="full (TV/TI split + DSL, the paper's method), css (no split, "
                                         "Eq. 3), ae (no contrastive loss), dsl (DSL without the split).")]
    = "full",
    cache: Annotated[Path, typer.Option(help="Where frames are read once and kept (memory-mapped).")]
    = Path("frames"),
    frame_size: Annotated[int, typer.Option(min=64, help="Frames are letterboxed to this square (the paper: "
                                            "500).")] = 128,
    every: Annotated[int, typer.Option(min=1, help="Keep every N-th frame of each video.")] = 1,
    steps: Annotated[int, typer.Option(min=1, help="Self-supervised steps (batches of 8 videos x 4 frames).")]
    = 3000,
    pose_steps: Annotated[int, typer.Option(min=1, help="Steps of the pose regressor (phase 2).")] = 1500,
    label_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the labelled frames used: "
                                                  "every K-th, K = 1 / share (the paper: 0.003 ... 1).")] = 1.0,
    width: Annotated[int, typer.Option(min=8, help="Encoder width (ResNet-18 layout; 64 = ResNet-18).")] = 32,
    tv_dim: Annotated[int, typer.Option(min=8, help="Time-variant latent size (the paper: 600).")] = 256,
    ti_dim: Annotated[int, typer.Option(min=4, help="Time-invariant latent size (the paper: 129).")] = 64,
    positive: Annotated[float, typer.Option(min=0.0, help="Nearby window, seconds.")] = 0.2,
    negative: Annotated[float, typer.Option(min=0.0, help="Away window (DSL's d_max), seconds.")] = 2.0,
    init: Annotated[Optional[Path], typer.Option(help="Start the self-supervised phase from these CSS weights "
                                                 "(their sizes and variant are kept).")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(min=0.0, help="Stop the self-supervised phase after "
                                                         "this long.")] = None,
    pictures: Annotated[Optional[Path], typer.Option(help="Folder for the PNG grids (default: beside --out, "
                                                     "OUT_pictures/).")] = None,
    picture_every: Annotated[int, typer.Option(min=1)] = 500,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train CSS (seed 001): self-supervised pose features from single-camera videos, then 3D from few labels.

    Writes the weights (network + pose regressor) and a JSON card (command, data, labels used, held-out
    N-MPJPE / MPJPE / PA-MPJPE)."""
    from ..atomic import check_writable
    from ..errors import InputError
    from ..images.frames import backgrounds
    from ..train.css import CssTrainConfig, evaluate_css, model_config, train_css
    from ..train.distributed import process_count
    from ..train.mcss import concat
    from ..train.weights import git_commit, save_weights

    main_process = rank_zero()  # under torchrun rank 0 also fits the pose head alone
    commit = git_commit()
    check_writable(out)
    check_writable(out.with_suffix(".json"))
    if label_fraction <= 0:
        raise InputError("--label-fraction 0 leaves no labels", "give a share above 0")
    if negative <= positive:
        raise InputError(f"--negative {negative} s is not beyond --positive {positive} s",
                         "the away window must start after the nearby one")
    cfg_kw = dict(frame_size=frame_size, width=width, tv_dim=tv_dim, ti_dim=ti_dim)
    init_state = None
    if init is not None:
        from ..css.pipeline import load_css

        init_model, init_card = load_css(init)
        variant = init_card["config"]["variant"]
        cfg_kw = {k: init_card["config"]["model"][k] for k in cfg_kw}
        init_state = init_model.state_dict()
    cfg = CssTrainConfig(variant=variant, steps=steps, positive=positive, negative=negative, seed=seed,
                         model=model_config(variant, **cfg_kw))
    size = cfg.model.frame_size
    train = concat([frame_set(s, cache, size, every) for s in data])
    label_set = concat([frame_set(s, cache, size, every) for s in labels]) if labels else train
    val_sets = [frame_set(v, cache, size, every) for v in (val or [])]
    note(f"{len(train)} frames from {len(train.meta['groups'])} videos; {int(label_set.labelled.sum())} labelled")
    picture_dir = pictures or out.with_name(out.stem + "_pictures")
    model, history, used = train_css(train, backgrounds(train), label_set, cfg, label_fraction, pose_steps, device,
                                     init_state, None if max_minutes is None else 60 * max_minutes, picture_dir,
                                     picture_every)
    if not main_process:
        return
    metrics = {"held_out": {v: evaluate_css(model, s, device) for v, s in zip(val or [], val_sets)},
               "final_train_losses": history[-1] if history else {}}
    card = save_weights(model, out, {
        "model": "CssModel", "config": cfg.to_dict(), "data": data, "labels": labels or data, "val": val or [],
        "seed": seed, "git_commit": commit, "every": every, "label_fraction": label_fraction,
        "pose_steps": pose_steps,
        "supervision": {"frames": len(train), "videos": len(train.meta["groups"]), "labelled_frames_used": used},
        "perceptual_loss": "dropped (needs ImageNet features, none offline); its weight moved to the pixel term",
        "init": ({"file": str(init), "sha256": init_card["sha256"], "command": init_card.get("command")}
                 if init else None),
        "pictures": str(picture_dir), "metrics": metrics, "history": history,
        "processes": process_count()})
    note(f"wrote {out} ({card['bytes'] / 1e6:.1f} MB); held-out: {metrics['held_out']}")
