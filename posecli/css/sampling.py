"""CSS batches (seed 001 Sec. 3.1): per video a reference frame and three others chosen by time, the TI swap and
the colour jitter for the TV encoder.

Windows are in seconds so that videos at any frame rate are treated alike: a *nearby* frame is at most
``positive`` seconds from the reference, an *away* one at least ``negative`` (= DSL's d_max), an *intermediate*
one in between. The paper's Human3.6M windows (10 / 200 frames) are 0.2 s / 4 s at 50 Hz; our renders are 6 s
long, so the default negative window is 2 s (chosen, with the positive one at 0.2 s, for clips of a few
seconds; both are options). A video too short for a window falls back to the nearest frame in time to it.

Batch layout: ``groups`` videos x 4 frames, flattened group-major; DSL models use (reference, nearby,
intermediate, away), the plain CSS baseline (reference, nearby, away, away) - one positive, two negatives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class VideoIndex:
    rows: list[np.ndarray]  # per group: cache rows sorted by time
    times: list[np.ndarray]  # their times (s)
    usable: np.ndarray  # groups with at least two frames


def video_index(group: np.ndarray, time: np.ndarray) -> VideoIndex:
    order = np.lexsort((time, group))  # by group, then time: one sort for all videos
    bounds = np.searchsorted(group[order], np.arange((int(group.max()) + 2) if len(group) else 1))
    rows = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    times = [np.asarray(time[r], np.float64) for r in rows]
    usable = np.array([g for g, r in enumerate(rows) if len(r) >= 2], int)
    return VideoIndex(rows, times, usable)


def _pick(rng, t: np.ndarray, ref: int, lo: float, hi: float, target: float) -> int:
    d = np.abs(t - t[ref])
    ok = np.flatnonzero((d > lo) & (d <= hi) & (np.arange(len(t)) != ref))
    if len(ok):
        return int(rng.choice(ok))
    d = np.where(np.arange(len(t)) == ref, np.inf, np.abs(d - target))
    return int(np.argmin(d))


def sample_batch(rng: np.random.Generator, index: VideoIndex, groups: int, positive: float, negative: float,
                 plain_css: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """-> (rows (groups, 4), seconds from the reference (groups, 4)); column 0 is the reference."""
    chosen = rng.choice(index.usable, groups, replace=len(index.usable) < groups)
    rows = np.zeros((groups, 4), np.int64)
    dist = np.zeros((groups, 4))
    for i, g in enumerate(chosen):
        t = index.times[g]
        ref = int(rng.integers(len(t)))
        near = _pick(rng, t, ref, 0.0, positive, 0.0)
        away = _pick(rng, t, ref, negative, np.inf, np.inf)
        other = (_pick(rng, t, ref, negative, np.inf, np.inf) if plain_css
                 else _pick(rng, t, ref, positive, negative, (positive + negative) / 2))
        cols = [ref, near, other, away]
        rows[i] = index.rows[g][cols]
        dist[i] = np.abs(t[cols] - t[ref])
    return rows, dist


def ti_permutation(rng: np.random.Generator, groups: int, per_group: int = 4) -> np.ndarray:
    """Flat indices: frame k's TI comes from another frame of the same video (a random cyclic shift >= 1)."""
    shift = rng.integers(1, per_group, groups)
    j = np.arange(per_group)
    return (np.arange(groups)[:, None] * per_group + (j[None] + shift[:, None]) % per_group).ravel()


def colour_jitter(x: torch.Tensor, gen: torch.Generator, strength: float = 1.0, rows: np.ndarray | None = None,
                  of: int | None = None) -> torch.Tensor:
    """Per image: brightness x0.6-1.4, contrast x0.6-1.4, saturation x0.3-1.7, per-channel gain x0.8-1.2 (the
    paper gives no values; strong enough that a colour cannot identify a frame). ``rows`` / ``of``: the images
    are these rows of a batch of ``of`` (one process's share under torchrun): the draws are made for the whole
    batch and these rows' part used."""
    b = of or len(x)

    def u(lo, hi, *shape):
        draw = torch.rand(b, *shape, 1, 1, generator=gen)
        return lo + (hi - lo) * (draw if rows is None else draw[torch.as_tensor(rows)]).to(x)

    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * u(1 - 0.7 * strength, 1 + 0.7 * strength, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * u(1 - 0.4 * strength, 1 + 0.4 * strength, 1)
    x = x * u(1 - 0.4 * strength, 1 + 0.4 * strength, 1) * u(1 - 0.2 * strength, 1 + 0.2 * strength, 3)
    return x.clamp(0, 1)
