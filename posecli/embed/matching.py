"""Matching probabilities between two sets of Pr-VIPE embeddings, as full (N, M) matrices in bounded memory.

``scoring="sampled"`` is the paper's eq. 7: the mean over K x K sample pairs of sigmoid(-a |z1 - z2| + b),
with K samples per embedding drawn once from a generator seeded per set (so scores are reproducible and a
frame's samples do not depend on which other frames are in the batch). It costs K^2 kernel evaluations per
pair: ~2 s for 1,000 x 1,000 frames with K = 20 on a laptop core. ``"mean"`` applies the kernel to the distance
between means only (1/K^2 of the work; ignores the variances), the shortcut for long videos.
"""
from __future__ import annotations

import numpy as np
import torch

SCORINGS = ("sampled", "mean")
_BLOCK_ELEMENTS = 1 << 24  # distance-matrix elements per block (64 MB of float32)


def draw_samples(mu: np.ndarray, sigma: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(N, d), (N, d) -> (N, K, d) samples mu + sigma eps, eps from ``seed`` frame by frame in order."""
    eps = torch.randn((len(mu), k, mu.shape[1]), generator=torch.Generator().manual_seed(seed)).numpy()
    return (mu[:, None] + sigma[:, None] * eps).astype(np.float32)


def points(model, e: dict[str, np.ndarray], scoring: str = "sampled", samples: int | None = None,
           seed: int = 0) -> torch.Tensor:
    """What gets compared: (N, K, d) samples (``"sampled"``) or (N, d) means (``"mean"``). NaN rows stay NaN."""
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    if scoring == "mean":
        return torch.as_tensor(np.asarray(e["mu"], np.float32))
    return torch.as_tensor(draw_samples(e["mu"], e["sigma"], samples or model.config.samples, seed))


@torch.no_grad()
def scores(model, za: torch.Tensor, zb: torch.Tensor) -> np.ndarray:
    """(N, M) matching probabilities between :func:`points` sets (both of one scoring), row blocks at a time.

    Rows/columns of NaN points (invalid frames) come out NaN.
    """
    per_pair = za.shape[1] * zb.shape[1] if za.ndim == 3 else 1
    rows = max(1, _BLOCK_ELEMENTS // (per_pair * max(len(zb), 1)))
    out = np.empty((len(za), len(zb)), np.float32)
    for s in range(0, len(za), rows):
        q = za[s:s + rows]
        out[s:s + rows] = (model.match_prob_matrix(q, zb) if za.ndim == 3
                           else model.kernel(torch.cdist(q, zb))).numpy()
    return out


def match_matrix(model, a: dict[str, np.ndarray], b: dict[str, np.ndarray], scoring: str = "sampled",
                 samples: int | None = None, seed: int = 0) -> np.ndarray:
    """(N, M) matching probabilities in [0.05, 0.95] between embeddings {"mu", "sigma"} ``a`` and ``b``."""
    return scores(model, points(model, a, scoring, samples, seed), points(model, b, scoring, samples, seed + 1))
