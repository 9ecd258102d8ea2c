"""``posecli train mcss``: the image-based recipe (person crops -> canonical 3D pose and embedding)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import note
from .data import data_app
from .options import Debug, Device, Quiet
from .train import WeightsOut, rank_zero, train_app

H36M_TRAIN = ["S1", "S5", "S6", "S7", "S8"]  # Protocol 2
H36M_TEST = ["S9", "S11"]


def crop_set(spec: str, cache_root: Path, size: int, every: int, subjects: list[str] | None = None):
    """A data spec -> its CropSet, cropping once into ``cache_root`` (reused on later runs); ``cache:DIR``
    names a cache (or an H.264 pack of one, unpacked beside it) directly."""
    from ..images.cache import is_cache, load_cache
    from ..images.sources import build_cache, parse_spec
    from ..train.distributed import main_first

    if spec.startswith("cache:"):
        path = Path(spec.removeprefix("cache:"))
        if not is_cache(path) and (path / "pack.npz").is_file():
            from ..images.pack import unpack_cache

            unpacked = path.with_name(path.name + ".unpacked")
            if not is_cache(unpacked):
                main_first(lambda: unpack_cache(path, unpacked), lambda: is_cache(unpacked))
            path = unpacked
        return load_cache(path)
    kind, root = parse_spec(spec)
    tag = "-".join(subjects) if subjects and kind == "h36m" else "all"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{kind}_{root.resolve()}_{tag}_every{every}_{size}px").strip("_")
    path = cache_root / slug
    if not is_cache(path):
        def build() -> None:
            note(f"cropping {spec} once into {path}")
            build_cache(spec, path, size, every, subjects)

        main_first(build, lambda: is_cache(path))
    return load_cache(path)


def _label_subjects(value: str):
    try:
        share = float(value)
    except ValueError:
        return [v for v in value.split(",") if v]
    if not 0 < share <= 1:
        raise typer.BadParameter("a share of subjects must be in (0, 1]")
    return share


@train_app.command("mcss", epilog="Examples:\n\n"
                   "  posecli train mcss --data synth:synth_train/ --val synth:synth_heldout/ -o weights/mcss.safetensors"
                   " --device cuda\n\n"
                   "  posecli train mcss --data synth:synth_train/ --val synth:synth_heldout/ --label-subjects 0.2"
                   " --label-fraction 0.05 --baseline -o /tmp/baseline_low.safetensors   # the paper's baseline\n\n"
                   "  posecli train mcss --data h36m:/data/h36m --label-subjects S1 -o h36m_s1.safetensors   "
                   "# Protocol 2: S1 S5-S8 every 5th frame, test S9 S11 every 64th\n\n"
                   "  posecli train mcss --data synth:synth_train/ --data multiview:mylab/ -o lab.safetensors   "
                   "# your own synchronised videos, unlabelled (metric loss only)")
def mcss(
    out: WeightsOut,
    data: Annotated[list[str], typer.Option(help="Training crops: synth:DIR (posecli synth renders), h36m:ROOT "
                                            "(original or processed layout), multiview:DIR (synchronised videos, "
                                            "no labels), cache:DIR (a crop cache); repeat to combine.")],
    val: Annotated[Optional[list[str]], typer.Option(help="Held-out labelled crops for the card's metrics "
                                                     "(default with h36m: S9 and S11 every 64th frame).")] = None,
    cache: Annotated[Path, typer.Option(help="Where crops are cut once and kept (memory-mapped).")]
    = Path("crops"),
    crop_size: Annotated[int, typer.Option(min=32, help="Cached crop side in pixels (the network sees the "
                                           "central 6/7 of it, resized to --input-size).")] = 112,
    input_size: Annotated[int, typer.Option(min=32, help="Network input side (the paper: 224).")] = 96,
    width: Annotated[int, typer.Option(min=8, help="ResNet-18 base width (64 = ResNet-18).")] = 64,
    every: Annotated[int, typer.Option(min=1, help="Keep every N-th frame (Human3.6M Protocol 2: 5).")] = 1,
    steps: Annotated[int, typer.Option(min=1)] = 3000,
    label_subjects: Annotated[str, typer.Option(help="Subjects whose 3D labels are used: names (S1,S5) or a "
                                                "share of the training subjects (0.2).")] = "1.0",
    label_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of those subjects' labelled "
                                                  "instants kept (the paper's 5 %% of S1: 0.05).")] = 1.0,
    baseline: Annotated[bool, typer.Option("--baseline", help="The paper's baseline: pose loss only, same "
                                           "network and budget.")] = False,
    backbone_weights: Annotated[Optional[Path], typer.Option(help="A torchvision ResNet-18 state dict (.pth) to "
                                                             "start the trunk from (none ships: no ImageNet "
                                                             "weights offline).")] = None,
    init: Annotated[Optional[Path], typer.Option(help="Start from these MCSS weights (same --width and "
                                                 "--input-size), e.g. a --baseline run on the same labels: "
                                                 "from scratch the embedding collapses (docs/benchmarks.md).")]
    = None,
    max_minutes: Annotated[Optional[float], typer.Option(min=0.0, help="Stop training after this long (the "
                                                         "card says how many steps ran).")] = None,
    seed: int = 0,
    device: Device = "cpu",
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train MCSS (seed 002): multi-view-consistent semi-supervised 3D pose and embedding from person crops.

    Writes the weights and a JSON card (command, data, supervision, held-out N-MPJPE / MPJPE / PA-MPJPE)."""
    import torch

    from ..atomic import check_writable
    from ..errors import InputError
    from ..models.mcss import McssConfig
    from ..train.distributed import process_count
    from ..train.mcss import McssTrainConfig, concat, evaluate_mcss, supervision, train_mcss
    from ..train.weights import git_commit, save_weights

    main_process = rank_zero()
    commit = git_commit()
    check_writable(out)
    check_writable(out.with_suffix(".json"))
    if label_fraction <= 0:
        raise InputError("--label-fraction 0 leaves no labels", "give a share above 0")
    backbone = None
    if backbone_weights is not None:
        if not backbone_weights.is_file():
            raise InputError("does not exist", "give a torchvision resnet18 .pth file", backbone_weights)
        backbone = torch.load(backbone_weights, map_location="cpu", weights_only=True)
    init_state = None
    if init is not None:
        from ..mcss.pipeline import load_mcss

        init_model, init_card = load_mcss(init)  # checks the card and the sha256
        if (init_model.cfg.width, init_model.cfg.input_size) != (width, input_size):
            raise InputError(f"--init weights are --width {init_model.cfg.width} --input-size "
                             f"{init_model.cfg.input_size}", "give the same --width and --input-size")
        init_state = init_model.state_dict()
    sets = []
    for spec in data:
        subjects = H36M_TRAIN if spec.startswith("h36m:") else None
        sets.append(crop_set(spec, cache, crop_size, every, subjects))
    val_specs = val if val is not None else [d for d in data if d.startswith("h36m:")]
    val_sets = [crop_set(v, cache, crop_size, 64 if v.startswith("h36m:") else 1,
                         H36M_TEST if v.startswith("h36m:") else None) for v in val_specs]
    train_crops = concat(sets)
    cfg = McssTrainConfig(steps=steps, baseline=baseline, label_subjects=_label_subjects(label_subjects),
                          label_fraction=label_fraction, seed=seed,
                          model=McssConfig(width=width, input_size=input_size))
    labelled = supervision(train_crops, cfg.label_subjects, cfg.label_fraction, seed)
    note(f"{len(train_crops)} training crops, {int(labelled.sum())} with 3D labels used")
    model, history = train_mcss(train_crops, cfg, device=device, backbone=backbone, init=init_state,
                                max_seconds=None if max_minutes is None else 60 * max_minutes)
    if not main_process:
        return
    metrics = {"held_out": {v: evaluate_mcss(model, s, device) for v, s in zip(val_specs, val_sets)},
               "final_train_losses": history[-1] if history else {}}
    card = save_weights(model, out, {
        "model": "McssNet", "config": cfg.to_dict(), "data": data, "val": val_specs, "seed": seed,
        "git_commit": commit, "crop_size": crop_size, "every": every,
        "supervision": {"crops": len(train_crops), "labelled_crops_used": int(labelled.sum()),
                        "subjects": len(train_crops.meta["subjects"])},
        "backbone_weights": str(backbone_weights) if backbone_weights else "none (trained from scratch)",
        "init": ({"file": str(init), "sha256": init_card["sha256"], "command": init_card.get("command")}
                 if init else None),
        "metrics": metrics, "history": history, "processes": process_count()})
    note(f"wrote {out} ({card['bytes'] / 1e6:.1f} MB); held-out: {metrics['held_out']}")


@data_app.command("crops", epilog="Examples:\n\n"
                  "  posecli data crops synth:synth_train/ --every 4 -o crops/train\n\n"
                  "  posecli data crops h36m:/data/h36m --subjects S1 S5 S6 S7 S8 --every 5 -o crops/h36m_train\n\n"
                  "  posecli data crops synth:synth_train/ -o crops/train --pack packed/train   # ~1 kB a crop, "
                  "for a GPU machine\n\n"
                  "Use the result with posecli train mcss --data cache:crops/train (a pack is unpacked on first use).")
def crops_cmd(
    spec: Annotated[str, typer.Argument(help="synth:DIR, h36m:ROOT or multiview:DIR")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New cache folder.")],
    every: Annotated[int, typer.Option(min=1, help="Keep every N-th frame.")] = 1,
    crop_size: Annotated[int, typer.Option(min=32, help="Crop side in pixels.")] = 112,
    subjects: Annotated[Optional[list[str]], typer.Option(help="h36m: the subjects to read (default: all seven "
                                                          "with 3D poses).")] = None,
    pack: Annotated[Optional[Path], typer.Option(help="Also write an H.264 pack of the cache here (lossy, ~40x "
                                                 "smaller: for copying to another machine).")] = None,
    crf: Annotated[int, typer.Option(min=0, max=51, help="H.264 quality of the pack (lower = better, bigger).")] = 23,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Cut person crops once (square, 1.4 x the keypoints' extent) into a memory-mapped cache for training."""
    from ..images.cache import load_cache
    from ..images.sources import build_cache

    build_cache(spec, out, crop_size, every, subjects)
    n = len(load_cache(out))
    note(f"wrote {out}: {n} crops")
    if pack is not None:
        from ..images.pack import pack_cache

        pack_cache(out, pack, crf)
        size = sum(f.stat().st_size for f in pack.iterdir())
        note(f"wrote {pack}: {size / 1e6:.1f} MB ({size / max(n, 1):.0f} bytes a crop)")
