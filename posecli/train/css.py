"""``posecli train css``: CSS (seed 001) - the self-supervised phase on single-camera videos, then phase 2's pose
regressor on the frozen features, and its evaluation.

Phase 1 (Eq. 14 without the diving-only and 2D terms): reconstruction (``css.loss.reconstruction``) + alpha x the
contrastive loss + the box prior, alpha = 0.01 as in the paper. Variants (the paper's Table 1/5 rows, same
detector, encoder, decoder and budget):

- ``full``: TV/TI split, DSL (Eq. 5-6) on TV, TI swapped among frames of one video, colour-jittered TV input;
- ``css``: no split, Eq. 3 on the whole latent with one nearby positive and two away negatives (CSS-STN-Dec);
- ``ae``: no split, no contrastive loss (AE-STN-Dec);
- ``dsl``: no split, DSL on the whole latent (DSL-STN-Dec).

Without the split there is no TI to swap and the input is not jittered (jitter exists to push appearance into TI).
Adam at a fixed learning rate (the paper: 1e-4 for 250K steps; our CPU runs are ~100x shorter, so 5e-4 - a
choice, not tuned). Batches: ``css.sampling``.

Phase 2 (Eq. 15): the latent is frozen and computed once per frame; Phi (``models.css.CssPoseHead``) learns the
pelvis-centred camera-frame pose by MSE on z-scored targets, Adam 1e-3 then x0.1 at half the steps, batch 128.
Label fractions follow the paper: every K-th labelled training frame (K = round(1 / fraction)).

Under ``torchrun`` (``train.distributed``) phase 1 is data-parallel: every process draws the same batch of videos
and trains on its share of them (``groups`` must divide by the number of processes); BatchNorm uses the whole
batch's statistics, the colour jitter is drawn for the whole batch, the box prior (a function of the batch's
mean box) sees the gathered boxes, and the time limit is rank 0's clock. Phase 2 (a small head on frozen
features) runs whole on rank 0; the other processes stop after phase 1.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from scipy.optimize import linear_sum_assignment

from ..console import note, progress
from ..errors import InputError
from ..images.cache import CropSet
from ..metrics import mpjpe, n_mpjpe, pa_mpjpe
from ..models.css import CssConfig, CssModel, CssNet, CssPoseHead
from .distributed import (
    ALONE,
    Group,
    average_gradients,
    gather_rows,
    is_main_process,
    join,
    leave,
    main_decides,
    prepare,
)

VARIANTS = ("full", "css", "ae", "dsl")
PELVIS = 0


@dataclass
class CssTrainConfig:
    variant: str = "full"
    steps: int = 3000
    groups: int = 8  # videos per batch (4 frames each: 32 frames, the paper's batch size)
    lr: float = 5e-4
    alpha: float = 0.01
    box_weight: float = 0.1
    positive: float = 0.2  # seconds
    negative: float = 2.0  # seconds (= DSL's d_max)
    seed: int = 0
    model: CssConfig = field(default_factory=CssConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def model_config(variant: str, **kw) -> CssConfig:
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}", f"use one of {', '.join(VARIANTS)}")
    return CssConfig(split=variant == "full", **kw)


def to_tensor(frames: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255)


def fetch(cs: CropSet, rows: np.ndarray) -> np.ndarray:
    """Frames of ``rows`` in that order (memory-mapped reads in file order)."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows),) + cs.crops.shape[1:], np.uint8)
    out[order] = np.asarray(cs.crops[rows[order]])
    return out


def ssl_losses(model: CssNet, frames: torch.Tensor, bg: torch.Tensor, dist: torch.Tensor, perm: torch.Tensor,
               cfg: CssTrainConfig, gen: torch.Generator, group: Group = ALONE,
               rows: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """One batch (groups x 4 frames, group-major) -> the loss terms (and the boxes, for the log). Under torchrun
    ``frames`` are the ``rows`` of the whole batch this process trains on."""
    from ..css.loss import box_prior, css_contrastive, dsl_all, reconstruction
    from ..css.sampling import colour_jitter

    box = model.detect(frames)
    crops = model.crop(frames, box)
    if model.cfg.split:
        tv = model.encode_tv(colour_jitter(crops, gen, rows=rows, of=cfg.groups * 4 if rows is not None else None))
        ti = model.encode_ti(crops)
        rgb, mask = model.decode(tv, ti[perm])
    else:
        tv = model.encode_tv(crops)
        rgb, mask = model.decode(tv)
    recon = model.composite(rgb, mask, box, bg)
    out = {"reconstruction": reconstruction(frames, recon), "box": box_prior(gather_rows(box, group)),
           "box_values": box}
    z = tv.view(-1, 4, tv.shape[-1])
    if cfg.variant in ("full", "dsl"):
        out["contrastive"] = dsl_all(z[:, 0], z[:, 1], z[:, 2], z[:, 3], dist[:, 1], dist[:, 2], dist[:, 3],
                                     cfg.negative)
    elif cfg.variant == "css":
        out["contrastive"] = css_contrastive(z[:, 0], z[:, 1], [z[:, 2], z[:, 3]])
    else:
        out["contrastive"] = torch.zeros((), device=frames.device)
    out["loss"] = out["reconstruction"] + cfg.alpha * out["contrastive"] + cfg.box_weight * out["box"]
    return out


def set_pixel_stats(model: CssNet, cs: CropSet, rng: np.random.Generator) -> None:
    sample = fetch(cs, np.sort(rng.choice(len(cs), min(len(cs), 256), replace=False))).astype(np.float32) / 255
    model.pixel_mean.copy_(torch.as_tensor(sample.mean((0, 1, 2))))
    model.pixel_std.copy_(torch.as_tensor(sample.std((0, 1, 2))).clamp_min(0.05))


def train_ssl(cs: CropSet, backgrounds: np.ndarray, cfg: CssTrainConfig, device: str = "cpu",
              init: dict | None = None, max_seconds: float | None = None, log_every: int = 50, on_log=None,
              pictures: Path | None = None, picture_every: int = 500) -> tuple[CssNet, list[dict]]:
    """Phase 1 on a frame cache (``images.frames``) with one background per group."""
    from ..css.grid import write_grid
    from ..css.sampling import sample_batch, ti_permutation, video_index

    group = join(device, cfg.groups)  # under torchrun: this process's rank; else a group of one
    device = group.device
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    index = video_index(cs.group, cs.time)
    if not len(index.usable):
        raise InputError("no video has two frames", "CSS learns from videos: give videos with many frames")
    if cs.size != cfg.model.frame_size:
        raise InputError(f"the frame cache is {cs.size} px, the model expects {cfg.model.frame_size}",
                         "use the same --frame-size for the cache and the model")
    model = CssNet(cfg.model).to(device)
    if init is not None:
        model.load_state_dict({k: v.float() for k, v in init.items()})
    else:
        set_pixel_stats(model, cs, rng)
        model.to(device)
    model = prepare(model, group)
    share = group.shard(cfg.groups)  # this process's videos of each batch
    flat_share = np.arange(cfg.groups * 4).reshape(cfg.groups, 4)[share].ravel()  # and their frames
    bgs = to_tensor(backgrounds, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict] = []
    sums: dict[str, float] = {}
    fixed = np.sort(rng.choice(index.usable, min(4, len(index.usable)), replace=False))  # grid's videos
    model.train()
    start = time.time()
    with progress(f"train css ({cfg.variant})", cfg.steps, "steps") as advance:
        for step in range(cfg.steps):
            rows, dist = sample_batch(rng, index, cfg.groups, cfg.positive, cfg.negative, cfg.variant == "css")
            rows, dist = rows[share], dist[share]
            flat = rows.ravel()
            frames = to_tensor(fetch(cs, flat), device)
            bg = bgs[torch.as_tensor(cs.group[flat])].to(device)
            # TI swaps stay inside a video, so this share's part of the permutation stays inside the share
            perm = torch.as_tensor(ti_permutation(rng, cfg.groups)[flat_share] - flat_share[0], device=device)
            terms = ssl_losses(model, frames, bg, torch.as_tensor(dist, dtype=torch.float32, device=device), perm,
                               cfg, gen, group, flat_share)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            average_gradients(model, group)
            opt.step()
            for k in ("loss", "reconstruction", "contrastive", "box"):
                sums[k] = sums.get(k, 0.0) + float(terms[k].detach())
            advance()
            out_of_time = max_seconds is not None and main_decides([time.time() - start > max_seconds], group)[0]
            last = step == cfg.steps - 1 or out_of_time
            if (step + 1) % log_every == 0 or last:
                n = (step % log_every) + 1
                box = terms["box_values"].detach()
                row = {"step": step + 1, **{k: round(v / n, 5) for k, v in sums.items()},
                       "box_side": round(float(box[:, :2].mean()), 3), "seconds": round(time.time() - start, 1)}
                sums = {}
                history.append(row)
                if on_log:
                    on_log(row)
            if pictures is not None and group.main and ((step + 1) % picture_every == 0 or last):
                model.eval()
                write_grid(model, cs, backgrounds, [index.rows[g] for g in fixed],
                           pictures / f"step_{step + 1:06d}.png", device)
                model.train()
            if out_of_time:
                note(f"stopped after {step + 1} of {cfg.steps} steps: --max-minutes reached")
                break
    leave(group)
    model.eval()
    return model, history


@torch.no_grad()
def encode(model: CssNet, cs: CropSet, rows: np.ndarray | None = None, device: str = "cpu",
           batch: int = 128) -> dict[str, np.ndarray]:
    """Frames -> ``box`` (N, 4), ``latent`` (N, D: TV, or the whole latent without the split), ``ti`` (N, d)."""
    model.eval()
    rows = np.arange(len(cs)) if rows is None else np.asarray(rows)
    out: dict[str, list] = {"box": [], "latent": [], "ti": []}
    for i in range(0, len(rows), batch):
        box, tv, ti = model.features(to_tensor(fetch(cs, rows[i:i + batch]), device))
        out["box"].append(box.cpu().numpy())
        out["latent"].append(tv.cpu().numpy())
        if ti is not None:
            out["ti"].append(ti.cpu().numpy())
    return {k: (np.concatenate(v) if v else np.zeros((0, 0), np.float32)) for k, v in out.items()}


def relative_poses(pose: np.ndarray) -> np.ndarray:
    """Camera-frame poses -> pelvis-centred (the paper's target)."""
    return pose - pose[:, PELVIS:PELVIS + 1]


def label_rows(cs: CropSet, fraction: float) -> np.ndarray:
    """Every K-th labelled frame, K = round(1 / fraction) (the paper's label fractions)."""
    labelled = np.flatnonzero(cs.labelled)
    if not len(labelled):
        raise InputError("the labelled data has no 3D poses", "give synth: renders (or your own labels) for phase 2")
    k = max(1, int(round(1.0 / fraction)))
    return labelled[::k]


def train_pose_head(latent: np.ndarray, targets: np.ndarray, steps: int = 1500, batch: int = 128, seed: int = 0,
                    device: str = "cpu") -> CssPoseHead:
    """Phase 2: Phi on frozen latents (N, D) -> pelvis-centred poses (N, 17, 3) metres."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = CssPoseHead(latent.shape[1]).to(device)
    x = torch.as_tensor(latent, dtype=torch.float32, device=device)
    y = torch.as_tensor(targets, dtype=torch.float32, device=device)
    head.latent_mean.copy_(x.mean(0))
    head.latent_std.copy_(x.std(0).clamp_min(1e-4) if len(x) > 1 else torch.ones_like(x[0]))
    head.mean.copy_(y.mean(0))
    head.std.copy_(y.std(0).clamp_min(1e-3) if len(y) > 1 else torch.ones_like(y[0]))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    head.train()
    for step in range(steps):
        idx = torch.as_tensor(rng.integers(0, len(x), batch), device=device)
        loss = torch.nn.functional.mse_loss(head(x[idx]), (y[idx] - head.mean) / head.std)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step + 1 == steps // 2:
            for g in opt.param_groups:
                g["lr"] *= 0.1
    return head.eval()


@torch.no_grad()
def predict_poses(head: CssPoseHead, latent: np.ndarray, device: str = "cpu") -> np.ndarray:
    head.eval()
    return head.metres(torch.as_tensor(latent, dtype=torch.float32, device=device)).cpu().numpy()


def pose_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """mm, pelvis-centred: N-MPJPE (the paper's table metric), MPJPE, PA-MPJPE."""
    return {"n_mpjpe": round(1000 * n_mpjpe(pred, truth), 1), "mpjpe": round(1000 * mpjpe(pred, truth), 1),
            "pa_mpjpe": round(1000 * pa_mpjpe(pred, truth), 1), "frames": int(len(truth))}


def kmeans_accuracy(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """The paper's subject clustering: K-means with K = number of subjects on L2-normalised features, clusters
    matched to subjects one-to-one (Hungarian), share of frames in their subject's cluster."""
    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    names, y = np.unique(labels, return_inverse=True)
    k = len(names)
    _, assign = kmeans2(x.astype(np.float64), k, minit="++", seed=seed, iter=50)
    counts = np.zeros((k, k))
    np.add.at(counts, (assign, y), 1)
    r, c = linear_sum_assignment(-counts)
    return float(counts[r, c].sum() / len(y))


def train_css(data: CropSet, backgrounds: np.ndarray, labels: CropSet, cfg: CssTrainConfig,
              label_fraction: float = 1.0, pose_steps: int = 1500, device: str = "cpu", init: dict | None = None,
              max_seconds: float | None = None, pictures: Path | None = None, picture_every: int = 500,
              on_log=None) -> tuple[CssModel | None, list[dict], int]:
    """Both phases: the self-supervised network on ``data``, then Phi on ``labels`` (every K-th labelled frame).
    Returns the model, phase 1's history and the number of labelled frames used (under torchrun, on processes
    other than rank 0: no model, phase 1's history, 0)."""
    net_init = None if init is None else {k.removeprefix("net."): v for k, v in init.items() if k.startswith("net.")}
    net, history = train_ssl(data, backgrounds, cfg, device, net_init, max_seconds, pictures=pictures,
                             picture_every=picture_every, on_log=on_log)
    if not is_main_process():
        return None, history, 0
    rows = label_rows(labels, label_fraction)
    note(f"phase 2: the pose regressor on {len(rows)} labelled frames")
    latent = encode(net, labels, rows, device)["latent"]
    head = train_pose_head(latent, relative_poses(labels.pose[rows]), pose_steps, seed=cfg.seed, device=device)
    return CssModel(net=net, head=head).eval(), history, len(rows)


def evaluate_css(model: CssModel, cs: CropSet, device: str = "cpu") -> dict[str, float]:
    rows = np.flatnonzero(cs.labelled)
    if not len(rows):
        raise InputError("the evaluation frames have no 3D labels", "evaluate on synth: renders")
    latent = encode(model.net, cs, rows, device)["latent"]
    return pose_metrics(predict_poses(model.head, latent, device), relative_poses(cs.pose[rows]))
