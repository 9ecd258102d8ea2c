"""MCSS batches (seed 002, Sec. 3.1.1) from a crop cache, and the images the network sees.

Metric batches: ``groups`` x ``pairs``; every pair is one instant of one recording seen from two different views
(drawn at random among the views that have a crop then); the pairs of one group all come from one subject
(same body and, for renders, the same background), so the hard negatives that Eq. 1 mines share appearance
and only the pose tells them apart; within a subject no two instants of one recording are closer than
``gap`` seconds (the paper keeps temporally close frames out of a batch by sub-sampling). Eq. 1 is applied to
each group's m x m distance matrix separately.

Choices where the paper is silent: 5 groups of 12 pairs (60 pairs against a regression batch of 22, near the
paper's 3 : 1; 12 because a 6 s render sampled at 2.5 Hz has 15 instants), a 0.3 s gap, regression crops drawn uniformly from all labelled crops.

Images: crops are cached with a 1.4 margin (``images.crops.MARGIN``); training takes a random square of 0.75-0.95
of the cached side, shifted by up to 5 % of it, with brightness / contrast / saturation jitter of +-20 %
(the paper mentions no augmentation; ours has a few thousand renders, not Human3.6M's 300k frames); evaluation
and inference take the centred 0.857 (96 px of 112). All of it runs on the training device with one
``grid_sample``, so the CPU does not become the bottleneck on a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

EVAL_ZOOM = 96 / 112
TRAIN_ZOOM = (0.75, 0.95)
SHIFT = 0.05
JITTER = 0.2


@dataclass
class PairIndex:
    """Instants seen by two or more views: per subject, rows of (group, time, crop indices by view)."""
    subjects: list[int]
    rows: dict[int, list[tuple[int, float, np.ndarray]]]


def pair_index(group: np.ndarray, subject: np.ndarray, view: np.ndarray, time: np.ndarray) -> PairIndex:
    order = np.lexsort((view, time, group))
    rows: dict[int, list] = {}
    start = 0
    n = len(order)
    while start < n:
        i = order[start]
        end = start + 1
        while end < n and group[order[end]] == group[i] and time[order[end]] == time[i]:
            end += 1
        members = order[start:end]
        if len(np.unique(view[members])) >= 2:
            rows.setdefault(int(subject[i]), []).append((int(group[i]), float(time[i]), members))
        start = end
    return PairIndex(sorted(s for s, r in rows.items() if len(r) >= 2), rows)


def sample_pairs(rng: np.random.Generator, index: PairIndex, view: np.ndarray, groups: int, pairs: int,
                 gap: float) -> tuple[np.ndarray, np.ndarray]:
    """(anchor, positive) crop indices, each (groups, pairs); a subject with too few instants is topped up by
    repeating instants (rare: only tiny datasets)."""
    anchors = np.zeros((groups, pairs), np.int64)
    positives = np.zeros((groups, pairs), np.int64)
    for g in range(groups):
        rows = index.rows[index.subjects[int(rng.integers(len(index.subjects)))]]
        chosen: list[int] = []
        taken: dict[int, list[float]] = {}
        for r in rng.permutation(len(rows)):
            grp, t, _ = rows[r]
            if all(abs(t - u) >= gap for u in taken.get(grp, ())):
                chosen.append(int(r))
                taken.setdefault(grp, []).append(t)
                if len(chosen) == pairs:
                    break
        while len(chosen) < pairs:
            chosen.append(chosen[len(chosen) % max(1, len(chosen))] if chosen else 0)
        for k, r in enumerate(chosen):
            members = rows[r][2]
            views = np.unique(view[members])
            va, vb = rng.choice(views, 2, replace=False)
            anchors[g, k] = rng.choice(members[view[members] == va])
            positives[g, k] = rng.choice(members[view[members] == vb])
    return anchors, positives


def to_input(crops: torch.Tensor, size: int, generator: torch.Generator | None = None,
             train: bool = False, rows: np.ndarray | None = None, of: int | None = None) -> torch.Tensor:
    """(B, S, S, 3) uint8 crops (any device) -> (B, 3, size, size) float 0..1 network input. ``rows`` / ``of``:
    the crops are these rows of a batch of ``of`` (one process's share under torchrun); the random
    augmentation is drawn for the whole batch and these rows' part used, so every share gets what one process
    would have given it."""
    x = crops.permute(0, 3, 1, 2).float() / 255.0
    b = x.shape[0]
    dev = x.device
    if train:
        def uniform(lo, hi, *shape):
            draw = torch.rand(of or shape[0], *shape[1:], generator=generator, device="cpu")
            return lo + (hi - lo) * (draw if rows is None else draw[torch.as_tensor(rows)]).to(dev)
        zoom = uniform(*TRAIN_ZOOM, b)
        shift = uniform(-SHIFT, SHIFT, b, 2) * 2  # grid units span 2 per crop side
    else:
        zoom = torch.full((b,), EVAL_ZOOM, device=dev)
        shift = torch.zeros(b, 2, device=dev)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0] = zoom
    theta[:, 1, 1] = zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, (b, 3, size, size), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if train:
        gray = x.mean(1, keepdim=True)
        sat = uniform(1 - JITTER, 1 + JITTER, b, 1, 1, 1)
        x = gray + (x - gray) * sat
        mean = x.mean((1, 2, 3), keepdim=True)
        x = mean + (x - mean) * uniform(1 - JITTER, 1 + JITTER, b, 1, 1, 1)
        x = x * uniform(1 - JITTER, 1 + JITTER, b, 1, 1, 1)
        x = x.clamp(0, 1)
    return x
