"""``posecli train detector``: BlazePose's person detector fine-tuned on ``posecli synth`` renders.

Why: BlazePose's detector descends from a face detector and needs the face at a usable size; on the tracking
benchmark's renders (people 15-60 % of a 960x540 frame) it found 17 % of the people on the whole frame and 57 % on
the level-1 tiles (docs/benchmarks.md), and people seen from behind, crouched or small are where it fails.  The
renders give every person's exact joints, so the same network (the torch port of the wheel's file, same
anchors, same outputs, same decoding) is trained further to fire on every person whose joints are visible,
whatever the face does.  Starting from mediapipe's weights, not from scratch, keeps what it learnt from real
photographs; the renders alone would not teach that.

Assignment (what the original does, measured: ``train.detector_data``): a person is a positive for the anchors of
the stride-8 and stride-16 grids whose centre lies within ``anchor_reach`` strides of the target box centre (and
always for the nearest anchor cell of each of those grids); anchors up to ``ignore_reach`` strides away, and every
anchor on a person who cannot be a positive (fewer than 5 joints visible in the crop, head outside the crop, body
radius under ``min_radius`` pixels), are left out of the loss; every other anchor is a negative.  Scores: focal
loss (the positives are ~10 of 2,254 anchors); boxes and keypoints: L1 in units of the person's body radius.

Under ``torchrun`` (``train.distributed``) every process draws and augments the same batch of crops and trains on
its share; the losses divide by the whole batch's count of positives, and the gradients are averaged.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..detect.anchors import INPUT_SIZE, generate_anchors
from ..detect.models import detector_module
from .detector_data import CropSet, countable, targets_of
from .distributed import ALONE, Group, average_gradients, group_mean, join, leave, prepare

# The anchor rows, grid by grid: 28x28x2 (stride 8), 14x14x2 (stride 16), 7x7x6 (stride 32).
_GRID_SIZES = ((8, 28 * 28 * 2), (16, 14 * 14 * 2), (32, 7 * 7 * 6))
REG_WEIGHTS = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0.2, 0.2, 0.2, 0.2], dtype=np.float32)  # upper-body points unused


@dataclass
class DetectorConfig:
    steps: int = 2000
    batch: int = 16
    lr: float = 1e-4
    crops_per_frame: int = 3
    every: int = 1  # frames of the renders
    val_fraction: float = 0.1  # clips kept out of training to report on
    anchor_reach: float = 0.75
    # 1.0, not 1.5: leaving anchors out up to 1.5 strides let them fire freely, and one person got several
    # detections (1.29 extra per person on held-out training clips; 0.62 with 1.0; docs/benchmarks.md)
    ignore_reach: float = 1.0
    min_radius: float = 6.0  # pixels of the 224 input: smaller people are neither positives nor negatives
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def anchor_strides() -> np.ndarray:
    return np.concatenate([np.full(n, s, dtype=np.float32) for s, n in _GRID_SIZES])


def assign(persons: np.ndarray, cfg: DetectorConfig, anchors: np.ndarray, strides: np.ndarray):
    """One crop's people -> per anchor: label (1 positive, 0 negative, -1 left out), 12 regression targets
    relative to the anchor (crop pixels, the model's own encoding) and the person's radius (for the L1 scale)."""
    n = anchors.shape[0]
    labels = np.zeros(n, dtype=np.float32)
    reg = np.zeros((n, 12), dtype=np.float32)
    radius = np.ones(n, dtype=np.float32)
    best = np.full(n, np.inf)
    fine = strides < 32  # the grids the original detector fires on
    for row in persons:
        if not countable(row, cfg.min_radius):
            box = row[9:13]
            pad = 0.1 * max(box[2] - box[0], box[3] - box[1]) + 8
            near = ((anchors >= box[:2] - pad) & (anchors <= box[2:] + pad)).all(1)
            labels[near & (labels == 0)] = -1
            continue
        centre, values = targets_of(row)
        dist = np.linalg.norm(anchors - centre, axis=1) / strides
        labels[(dist <= cfg.ignore_reach) & (labels == 0)] = -1
        pos = fine & (dist <= cfg.anchor_reach)
        for s in (8, 16):  # the nearest cell of each fine grid always (a cell's anchors share its centre)
            grid = strides == s
            pos |= grid & (dist <= dist[grid].min() + 1e-6)
        take = pos & (dist < best)  # an anchor claimed by two people goes to the nearer one
        labels[pos] = 1
        best[take] = dist[take]
        reg[take] = values[None, :]
        reg[take, 0:2] -= anchors[take]
        for k in range(4):
            reg[take, 4 + 2 * k: 6 + 2 * k] -= anchors[take]
        radius[take] = row[6]
    return labels, reg, radius


def _augment(images: np.ndarray, persons: list[np.ndarray], rng: np.random.Generator):
    """Mirror half the crops (the targets have no left/right), and vary exposure, colour, blur and noise: real
    cameras are softer and noisier than the renders."""
    import cv2

    out, rows = images.astype(np.float32), []
    for i in range(len(out)):
        p = persons[i].copy()
        if rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
            for col in (0, 2, 4):
                p[:, col] = INPUT_SIZE - p[:, col]
            p[:, [9, 11]] = INPUT_SIZE - p[:, [11, 9]]
        if rng.random() < 0.3:
            out[i] = cv2.GaussianBlur(out[i], (0, 0), rng.uniform(0.5, 1.5))
        gain = rng.uniform(0.6, 1.3) * rng.uniform(0.85, 1.15, 3)
        out[i] = (out[i] - 128) * rng.uniform(0.7, 1.2) + 128 + rng.uniform(-30, 30)
        out[i] *= gain / gain.mean()
        if rng.random() < 0.3:
            out[i] += rng.normal(0, rng.uniform(2, 8), out[i].shape)
        rows.append(p)
    return np.clip(out, 0, 255), rows


def detector_loss(raw: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, reg: torch.Tensor,
                  radius: torch.Tensor, cfg: DetectorConfig, group: Group = ALONE
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """Focal loss on the scores over labelled anchors, L1 / radius on the positives' 12 values, both divided by
    the number of positives (under torchrun the whole batch's, ``group_mean``)."""
    logits = logits.squeeze(-1).clamp(-100, 100)
    used = labels >= 0
    target = labels.clamp(min=0)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    pt = torch.where(target > 0, p, 1 - p)
    alpha = torch.where(target > 0, cfg.focal_alpha, 1 - cfg.focal_alpha)
    n_pos = group_mean((labels > 0).sum().to(logits.dtype), group).clamp(min=1)
    cls = (alpha * (1 - pt) ** cfg.focal_gamma * bce)[used].sum() / n_pos
    pos = labels > 0
    weights = torch.as_tensor(REG_WEIGHTS, device=raw.device)
    box = ((raw[pos] - reg[pos]).abs() / radius[pos][:, None] * weights).sum() / n_pos
    return cls + box, {"score": float(cls.detach()), "box": float(box.detach())}


def train_detector(crops: CropSet, cfg: DetectorConfig, device: str = "cpu",
                   on_step: Callable[[int, dict], None] = lambda step, logs: None):
    """Fine-tune the detector on the crops; returns the module (eval mode) and the base file's sha256."""
    group = join(device, cfg.batch)  # under torchrun: this process's rank; else a group of one
    device, share = group.device, group.shard(cfg.batch)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    module, base_sha = detector_module()
    module = prepare(module.to(device).train().requires_grad_(True), group)
    anchors = generate_anchors() * INPUT_SIZE
    strides = anchor_strides()
    # The pointwise convolutions of the wheel's file are stored block-sparse (75 % zeros, TFLite's DENSIFY): their
    # zeros stay zeros, so the trained weights can be written back into the same sparse layout and run by LiteRT
    # at the original speed (``detect.tflite_patch``).
    masks = [(layer.weight, layer.weight != 0) for layer in module.layers if getattr(layer, "sparse", False)]
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr)
    warmup = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    order = rng.permutation(len(crops.images))
    cursor = 0
    for step in range(cfg.steps):
        if cursor + cfg.batch > len(order):
            order, cursor = rng.permutation(len(crops.images)), 0
        idx = order[cursor: cursor + cfg.batch]
        cursor += cfg.batch
        # the whole batch augmented on every process (the random stream stays in step), this share trained on
        images, rows = _augment(crops.images[idx], [crops.persons[i] for i in idx], rng)
        images, rows = images[share], rows[share]
        assigned = [assign(r, cfg, anchors, strides) for r in rows]
        labels, reg, radius = (torch.from_numpy(np.stack(a)).to(device) for a in zip(*assigned))
        x = torch.from_numpy(images * np.float32(2.0 / 255.0) - np.float32(1.0)).to(device)
        raw, logits = module(x)
        loss, logs = detector_loss(raw, logits, labels, reg, radius, cfg, group)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(module, group)
        opt.step()
        sched.step()
        with torch.no_grad():
            for p, keep in masks:
                p.mul_(keep)
        if group.main:
            on_step(step, logs)
    leave(group)
    return module.eval().requires_grad_(False), base_sha


def evaluate_detector(run: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], crops: CropSet,
                      min_score: float = 0.5, batch: int = 32) -> dict:
    """Recall of the people a detector should find (positives, as in training), extra detections on them and
    false detections per crop.

    ``run(images uint8 (N, 224, 224, 3))`` -> raw (N, 2254, 12), logits (N, 2254, 1).  A person is found when a
    detection's hip centre is within a quarter of their body radius of the truth; every further detection within
    0.6 radius of them is an *extra* (one person seen twice: the tracker gets a second skeleton on them); a
    detection is *false* when its hip centre is further than 0.6 radius from every person in the crop (people too
    hidden to count included)."""
    from ..detect.detector import decode, weighted_nms

    anchors = generate_anchors()
    found, extra, false, bins = [], 0, 0, {}
    edges = [6, 15, 25, 40, 60, 100, 1e9]
    for start in range(0, len(crops.images), batch):
        raw, logits = run(crops.images[start: start + batch])
        for k in range(raw.shape[0]):
            rows = crops.persons[start + k]
            scores, boxes, kps = decode(raw[k], logits[k], anchors, min_score)
            hips = np.array([kp[0] * INPUT_SIZE for _, _, kp in weighted_nms(scores, boxes, kps)]).reshape(-1, 2)
            for row in rows:
                if not countable(row, edges[0]):
                    continue
                dist = np.linalg.norm(hips - row[0:2], axis=1) / row[6]
                hit = bool((dist < 0.25).any())
                extra += max(int((dist < 0.6).sum()) - 1, 0)
                found.append(hit)
                b = int(np.searchsorted(edges, row[6], side="right")) - 1
                bins.setdefault(b, []).append(hit)
            for h in hips:
                if not len(rows) or (np.linalg.norm(rows[:, 0:2] - h, axis=1) / rows[:, 6]).min() > 0.6:
                    false += 1
    return {"people": len(found), "recall": round(float(np.mean(found)), 4) if found else None,
            "recall_by_radius_px": {f"{edges[b]:g}-{edges[b + 1]:g}": round(float(np.mean(v)), 4)
                                    for b, v in sorted(bins.items())},
            "extra_per_person": round(extra / max(len(found), 1), 4),
            "false_per_crop": round(false / max(len(crops.images), 1), 4)}


def module_runner(module, device: str = "cpu") -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A torch detector module as ``evaluate_detector``'s ``run``."""
    def run(images: np.ndarray):
        with torch.inference_mode():
            x = torch.from_numpy(images.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)).to(device)
            raw, logits = module(x)
        return raw.float().cpu().numpy(), logits.float().cpu().numpy()
    return run


def split_by_clip(crops: CropSet, fraction: float, seed: int) -> tuple[CropSet, CropSet]:
    """Whole clips (people, backgrounds, cameras) held out from training, to report on."""
    clips = np.unique(crops.clip)
    n_val = int(round(fraction * len(clips)))
    if n_val == 0:
        return crops, crops.subset(np.zeros(len(crops.clip), dtype=bool))
    val = np.random.default_rng(seed).choice(clips, n_val, replace=False)
    is_val = np.isin(crops.clip, val)
    return crops.subset(~is_val), crops.subset(is_val)

