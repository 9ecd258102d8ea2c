"""``posecli train mcss``: MCSS (seed 002) from person crops, and its evaluation.

Losses (Sec. 3): the hard-negative metric loss (Eq. 1-2, ``mcss.loss``) on multi-view pairs of *all* training
crops (labelled or not) plus the L1 loss on z-scored canonical poses of the labelled crops, summed with weight 1
(the paper does not give a weight). ``baseline=True`` drops the metric loss: the paper's baseline, same network,
same steps and regression batches. Adam (0.9, 0.99), lr 1e-3, x0.1 at half the steps (the paper: 40 epochs, x0.1
every 20). Mixed precision (bf16) on CUDA. Batches: ``mcss.sampling``.

Starting point (the paper starts from ImageNet weights; none exist offline). Trained from scratch on our
renders the embedding **collapses**: every crop maps to the same point (measured on held-out renders: mean
distance 0.000 between positives and between negatives), the pose head then predicts the mean pose, and the
metric loss sits at 0 (once all distances are below beta every negative is masked; with beta = 0 it sits at
alpha with all distances ~0.005). A beta warm-up (rising from 0 over the first 20 % of steps) did not
prevent it either, and was removed. What does: starting from weights that
already tell poses apart - ``init``, e.g. the baseline (pose loss only) trained first on the same labels,
our stand-in for the ImageNet start. From there, 150 steps on renders keep positives at 0.37 and negatives at
0.63 (no collapse).

Supervision levels: ``label_subjects`` is either a list of subject names (Human3.6M: ``["S1"]``) or a share of
the training subjects (first in sorted order: 0.2 = one in five, as S1 is one of Protocol 2's five training
subjects); ``label_fraction`` keeps that share of those subjects' labelled crops, chosen at random by instant
(all views of a chosen instant stay labelled) with the run's seed - the paper's "5 % of S1".

Under ``torchrun`` (``train.distributed``) every process draws the same batch and trains on its share of each
part: the regression crops as evenly as they go (each share's loss weighed by its size), the anchors and
positives in equal shares (the groups x pairs must divide by the number of processes); the metric loss sees
the gathered embeddings, BatchNorm the whole batch's statistics, the augmentation is drawn for the whole batch,
and the time limit is rank 0's clock.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..console import note, progress
from ..errors import InputError, PoseCliError
from ..images.cache import CropSet
from ..mcss.canonical import canonical
from ..mcss.evaluate import pose_errors
from ..mcss.loss import metric_loss, pose_loss
from ..mcss.sampling import pair_index, sample_pairs, to_input
from ..models.mcss import McssConfig, McssNet
from .distributed import average_gradients, gather_rows, join, leave, main_decides, prepare


@dataclass
class McssTrainConfig:
    steps: int = 3000
    groups: int = 5
    pairs: int = 12
    regression_batch: int = 22
    lr: float = 1e-3
    alpha: float = 0.6
    beta: float = 0.3
    gap: float = 0.3  # seconds between two instants of one recording in one metric group
    baseline: bool = False
    label_subjects: list[str] | float = 1.0
    label_fraction: float = 1.0
    seed: int = 0
    model: McssConfig = field(default_factory=McssConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def concat(sets: list[CropSet]) -> CropSet:
    """One CropSet from several (ids renumbered, crops read into memory)."""
    if len(sets) == 1:
        return sets[0]
    sizes = {s.size for s in sets}
    if len(sizes) > 1:
        raise InputError(f"crop caches of different sizes {sorted(sizes)}", "build them with the same --crop-size")
    out: dict[str, list] = {k: [] for k in ("group", "subject", "view")}
    meta = {"groups": [], "subjects": [], "views": [], "source": " + ".join(s.meta.get("source", "?") for s in sets)}
    for s in sets:
        for k, names in (("group", "groups"), ("subject", "subjects")):
            out[k].append(s.__dict__[k] + len(meta[names]))
            meta[names] += s.meta[names]
        for v in s.meta["views"]:  # views are shared by name (cam_01 of two datasets is one view id)
            if v not in meta["views"]:
                meta["views"].append(v)
        views = np.array([meta["views"].index(v) for v in s.meta["views"]], np.int32)
        out["view"].append(views[s.view])
    cat = lambda k: np.concatenate([getattr(s, k) for s in sets])
    return CropSet(cat("crops"), np.concatenate(out["group"]), np.concatenate(out["subject"]),
                   np.concatenate(out["view"]), cat("instant"), cat("pose"), cat("square"), cat("time"), meta)


def supervision(crops: CropSet, label_subjects, label_fraction: float, seed: int) -> np.ndarray:
    """Bool mask of the crops whose 3D labels training may use (module docstring)."""
    has = crops.labelled
    names = crops.names("subjects")
    labelled_subjects = sorted({names[s] for s in np.unique(crops.subject[has])})
    if isinstance(label_subjects, (int, float)):
        n = max(1, math.ceil(float(label_subjects) * len(labelled_subjects))) if labelled_subjects else 0
        chosen = labelled_subjects[:n]
    else:
        chosen = list(label_subjects)
        missing = set(chosen) - set(labelled_subjects)
        if missing:
            raise InputError(f"no labelled crops of subject(s) {sorted(missing)}",
                             f"labelled subjects: {', '.join(labelled_subjects[:10])}")
    ids = np.array([names.index(c) for c in chosen], int)
    mask = has & np.isin(crops.subject, ids)
    if label_fraction < 1.0:
        key = crops.group.astype(np.int64) * 1_000_003 + crops.instant
        instants = np.unique(key[mask])
        rng = np.random.default_rng(seed)
        keep = rng.choice(instants, max(1, round(label_fraction * len(instants))), replace=False)
        mask &= np.isin(key, keep)
    return mask


def canonical_targets(crops: CropSet) -> np.ndarray:
    """(N, 16, 3) canonical poses in metres (NaN where unlabelled)."""
    return canonical(crops.pose).astype(np.float32)


def train_mcss(crops: CropSet, cfg: McssTrainConfig, device: str = "cpu", log_every: int = 100,
               backbone: dict | None = None, on_log=None,
               max_seconds: float | None = None, init: dict | None = None) -> tuple[McssNet, list[dict]]:
    """Train (from ``init``, a state dict of an McssNet of the same config, when given: its pose and pixel
    normalisation are kept); ``max_seconds`` stops early (the learning rate then drops at half that time if
    that comes before half the steps; the history's last row says how many steps ran)."""
    group = join(device, None)  # under torchrun: this process's rank; else a group of one
    device = group.device
    if not cfg.baseline and (cfg.groups * cfg.pairs) % group.size:
        raise PoseCliError(f"{cfg.groups} groups of {cfg.pairs} pairs do not split into {group.size} equal parts "
                           "(one per process)", f"use a --nproc-per-node that divides {cfg.groups * cfg.pairs}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    labelled = np.flatnonzero(supervision(crops, cfg.label_subjects, cfg.label_fraction, cfg.seed))
    if not len(labelled):
        raise InputError("no labelled crops to train the pose head on", "add data with 3D labels (synth: or h36m:)")
    targets = canonical_targets(crops)
    index = pair_index(crops.group, crops.subject, crops.view, crops.time)
    use_metric = not cfg.baseline
    if use_metric and not index.subjects:
        raise InputError("no instant is seen by two views", "MCSS needs synchronised multi-view crops")
    model = McssNet(cfg.model).to(device)
    if backbone is not None:
        model.load_backbone(backbone)
    if init is not None:
        model.load_state_dict({k: v.float() for k, v in init.items()})
    else:
        t = torch.as_tensor(targets[labelled])
        model.mean.copy_(t.mean(0).to(device))
        model.std.copy_(t.std(0).clamp_min(1e-3).to(device))
        sample = np.asarray(crops.crops[rng.choice(len(crops), min(len(crops), 512), replace=False)],
                            np.float32) / 255
        model.pixel_mean.copy_(torch.as_tensor(sample.mean((0, 1, 2))).to(device))
        model.pixel_std.copy_(torch.as_tensor(sample.std((0, 1, 2))).clamp_min(0.05).to(device))
    model = prepare(model, group)
    on_gpu = device.startswith("cuda")
    images = torch.from_numpy(np.array(crops.crops))  # a writable copy in memory
    images = images.to(device) if on_gpu else images
    targets_t = torch.as_tensor(targets, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    decayed = False  # lr x 0.1 once, at half the steps or half of max_seconds, whichever comes first
    history: list[dict] = []
    size = cfg.model.input_size
    model.train()
    start = time.time()
    n_reg, m = cfg.regression_batch, cfg.groups * cfg.pairs
    # regression crops shared as evenly as they go (22 among 4: 6, 6, 5, 5; the loss below weighs each share by
    # its size), pairs in equal shares (the embeddings are gathered)
    reg_rows, pair_rows = np.array_split(np.arange(n_reg), group.size)[group.rank], np.arange(m)[group.shard(m)]
    # this share's places in the whole batch (regression crops, anchors, positives), for the augmentation draws
    share = np.concatenate([reg_rows] + ([n_reg + pair_rows, n_reg + m + pair_rows] if use_metric else []))
    with progress("train mcss", cfg.steps, "steps") as advance:
        for step in range(cfg.steps):
            reg = rng.choice(labelled, n_reg)[reg_rows]
            idx = [reg]
            if use_metric:
                a, p = sample_pairs(rng, index, crops.view, cfg.groups, cfg.pairs, cfg.gap)
                idx += [a.ravel()[pair_rows], p.ravel()[pair_rows]]
            flat = torch.as_tensor(np.concatenate(idx), device=images.device)
            x = to_input(images[flat].to(device), size, gen, train=True, rows=share,
                         of=n_reg + (2 * m if use_metric else 0))
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu):
                phi, pose = model(x)
            r = len(reg)
            # this share's mean, weighed so that the ranks' average is the whole batch's mean (1 in one process)
            lp = pose_loss(pose[:r], model.to_zscore(targets_t[torch.as_tensor(reg, device=device)])) * (
                r * group.size / n_reg)
            loss = lp
            lm = torch.zeros((), device=device)
            if use_metric:
                emb = gather_rows(phi[r:].float(), group, blocks=2)  # the whole batch's anchors, then positives
                lm = metric_loss(emb[:m].view(cfg.groups, cfg.pairs, -1), emb[m:].view(cfg.groups, cfg.pairs, -1),
                                 cfg.alpha, cfg.beta)
                loss = loss + lm
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(model, group)
            opt.step()
            half_time = out_of_time = False
            if max_seconds is not None:  # one small broadcast per step, only when there is a clock to agree on
                elapsed = time.time() - start
                half_time, out_of_time = main_decides([elapsed > max_seconds / 2, elapsed > max_seconds], group)
            if not decayed and (step + 1 >= cfg.steps // 2 or half_time):
                decayed = True
                for g in opt.param_groups:
                    g["lr"] *= 0.1
            advance()
            if (step + 1) % log_every == 0 or step == cfg.steps - 1 or out_of_time:
                row = {"step": step + 1, "lr": opt.param_groups[0]["lr"], "pose_loss": round(float(lp.detach()), 4),
                       "metric_loss": round(float(lm.detach()), 4),
                       "seconds": round(time.time() - start, 1)}
                history.append(row)
                if on_log:
                    on_log(row)
            if out_of_time:
                note(f"stopped after {step + 1} of {cfg.steps} steps: --max-minutes reached")
                break
    leave(group)
    model.eval()
    return model, history


@torch.no_grad()
def predict(model: McssNet, crops: np.ndarray, device: str = "cpu", batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S, 3) uint8 crops -> (embeddings (N, dim), canonical poses (N, 16, 3) metres)."""
    model.eval()
    embs, poses = [], []
    for i in range(0, len(crops), batch):
        x = to_input(torch.as_tensor(np.array(crops[i:i + batch])).to(device), model.cfg.input_size)
        phi, z = model(x)
        embs.append(phi.float().cpu().numpy())
        poses.append(model.to_metres(z.float()).cpu().numpy())
    if not embs:
        return np.zeros((0, model.cfg.dim), np.float32), np.zeros((0, 16, 3), np.float32)
    return np.concatenate(embs), np.concatenate(poses)


def evaluate_mcss(model: McssNet, crops: CropSet, device: str = "cpu") -> dict[str, float]:
    keep = crops.labelled
    if not keep.any():
        raise InputError("the evaluation crops have no 3D labels", "evaluate on synth: or h36m: data")
    _, pred = predict(model, crops.crops[np.flatnonzero(keep)], device)
    return pose_errors(pred, canonical(crops.pose[keep]))
