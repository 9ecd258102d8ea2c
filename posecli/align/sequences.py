"""Aligning two pose sequences with Pr-VIPE (seed 003, video alignment): frame distance, atrous smoothing,
chirality, DTW, and the measures of an alignment.

Frame distance D(i, j) = -log p(match | x_i, y_j) (:mod:`posecli.embed.matching`), averaged over the paper's
atrous kernel (size 7, rate 3) centred on both frames: D_bar(i, j) = mean_t D(i + 3t, j + 3t), t = -3..3.
Choices the paper leaves open, made here:
- Boundaries: the mean runs over the offsets that fall inside both sequences (near a corner fewer than 7 terms),
  rather than padding, which would invent frames.
- Frames with too few keypoints (no valid embedding) take the embedding of the nearest valid frame in time
  (the paper copies missing boxes from the nearest frame on Penn Action).
- Chirality (embeddings are chiral, so a mirrored performance looks different): ``"pair"`` aligns A with B and
  with mirrored B and keeps the alignment with the lower sequence distance (the paper keeps the larger Kendall
  tau, which is the same idea with its evaluation measure); ``"frame"`` takes per frame pair the smaller of the
  two distances (the paper's action-recognition rule); ``"none"`` uses B as it is.
Sequence distance: the mean of D_bar along the DTW path (the paper's).
Subsequence (``subsequence=True``): A is matched whole to the part of B that fits it best (open-begin/open-end
DTW, :func:`posecli.align.dtw.matrix_dtw`); the path then runs from (0, start) to (N-1, end).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

from ..embed.matching import match_matrix
from ..embed.pipeline import embed_track
from ..errors import PoseCliError
from ..poses import Track
from .dtw import matrix_dtw, path_to_mapping

CHIRALITY = ("pair", "frame", "none")


@dataclass
class Alignment:
    path: np.ndarray  # (K, 2) sequence indices (i into A's frames, j into B's), from (0, 0) to (N-1, M-1)
    #                   (subsequence: from (0, start) to (N-1, end))
    distance: float  # mean smoothed frame distance along the path
    mirrored: bool  # B's mirror image aligned better ("pair")
    cost: np.ndarray  # (N, M) smoothed frame distances used by DTW
    subsequence: bool = False  # A matched to a part of B only

    @property
    def span(self) -> tuple[int, int]:
        """First and last index of B on the path (0 and M-1 unless ``subsequence``)."""
        return int(self.path[0, 1]), int(self.path[-1, 1])

    @property
    def total_cost(self) -> float:
        """Sum of D_bar along the path (``distance`` is its mean per path step)."""
        return float(self.cost[self.path[:, 0], self.path[:, 1]].sum(dtype=np.float64))

    def mapping(self) -> np.ndarray:
        """For each frame of A, the (fractional) position in B matched to it."""
        return path_to_mapping(self.path, self.cost.shape[0])


def atrous_smooth(cost: np.ndarray, size: int = 7, rate: int = 3) -> np.ndarray:
    """D_bar(i, j) = mean over t in [-(size//2), size//2] of D(i + rate t, j + rate t), inside both sequences."""
    if size < 1 or size % 2 == 0 or rate < 1:
        raise PoseCliError(f"atrous kernel size {size} / rate {rate} invalid", "give an odd size >= 1 and rate >= 1")
    n, m = cost.shape
    total = np.zeros((n, m), np.float64)
    count = np.zeros((n, m), np.float64)
    for t in range(-(size // 2), size // 2 + 1):
        s = rate * t
        # D(i + s, j + s) lands at (i, j) for i in [max(0, -s), min(n, n - s)) and likewise j.
        i0, i1, j0, j1 = max(0, -s), min(n, n - s), max(0, -s), min(m, m - s)
        if i1 <= i0 or j1 <= j0:
            continue
        total[i0:i1, j0:j1] += cost[i0 + s:i1 + s, j0 + s:j1 + s]
        count[i0:i1, j0:j1] += 1
    return (total / count).astype(np.float32)


def fill_from_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Rows of ``values`` where ``valid`` is False replaced by the nearest valid row (earlier on ties)."""
    valid = np.asarray(valid, bool)
    if valid.all():
        return values
    if not valid.any():
        raise PoseCliError("no frame of the sequence shows enough of the body to embed",
                           "check that the person is in view (posecli track ... then posecli info)")
    idx = np.flatnonzero(valid)
    pos = np.searchsorted(idx, np.arange(len(valid)))
    before, after = idx[np.clip(pos - 1, 0, len(idx) - 1)], idx[np.clip(pos, 0, len(idx) - 1)]
    frames = np.arange(len(valid))
    nearest = np.where(np.abs(frames - before) <= np.abs(after - frames), before, after)
    return values[nearest]


def frame_distances(model, a: Track, b: Track, mirrored: bool = False, scoring: str = "sampled",
                    seed: int = 0, device: str = "cpu") -> np.ndarray:
    """(N, M) D(i, j) = -log p(match) between the frames of two tracks (B mirrored on request)."""
    ea, eb = embed_track(model, a, device=device), embed_track(model, b, mirrored=mirrored, device=device)
    fa = {k: fill_from_nearest(ea[k], ea["valid"]) for k in ("mu", "sigma")}
    fb = {k: fill_from_nearest(eb[k], eb["valid"]) for k in ("mu", "sigma")}
    return -np.log(match_matrix(model, fa, fb, scoring, seed=seed))


def align_tracks(model, a: Track, b: Track, size: int = 7, rate: int = 3, chirality: str = "pair",
                 scoring: str = "sampled", band: int | None = None, seed: int = 0,
                 device: str = "cpu", subsequence: bool = False) -> Alignment:
    """Align track ``a`` to ``b``; ``subsequence``: find where ``a`` occurs inside the longer ``b``."""
    if subsequence and band is not None:
        raise PoseCliError("--band does not apply with --subsequence (where A lies in B is what is searched)",
                           "drop --band")
    if chirality not in CHIRALITY:
        raise PoseCliError(f"unknown chirality mode {chirality!r}", f"use one of {', '.join(CHIRALITY)}")
    for t, name in ((a, "A"), (b, "B")):
        if len(t) < 2:
            raise PoseCliError(f"sequence {name} (track {t.id}) has {len(t)} frame(s); alignment needs at least 2")
    plain = frame_distances(model, a, b, False, scoring, seed, device)
    if chirality == "none":
        return _align(plain, size, rate, band, False, subsequence)
    mirror = frame_distances(model, a, b, True, scoring, seed, device)
    if chirality == "frame":
        return _align(np.minimum(plain, mirror), size, rate, band, False, subsequence)
    first = _align(plain, size, rate, band, False, subsequence)
    second = _align(mirror, size, rate, band, True, subsequence)
    return second if second.distance < first.distance else first


def _align(cost: np.ndarray, size: int, rate: int, band: int | None, mirrored: bool,
           subsequence: bool = False) -> Alignment:
    smooth = atrous_smooth(cost, size, rate)
    res = matrix_dtw(smooth, band, subsequence)
    return Alignment(res.path, float(smooth[res.path[:, 0], res.path[:, 1]].mean()), mirrored, smooth, subsequence)


def kendall_tau(matched: np.ndarray) -> float:
    """Kendall's tau between frame order in A (0..N-1) and the matched positions in B: 1 = perfectly in order.

    Used as in TCC's evaluation (``scipy.stats.kendalltau``, tau-b, so tied matches count as neither
    concordant nor discordant), on nearest-neighbour matches or on a DTW mapping.
    """
    matched = np.asarray(matched, float)
    if len(matched) < 2 or np.ptp(matched) == 0:
        return float("nan")
    return float(kendalltau(np.arange(len(matched)), matched).statistic)


def nearest_neighbours(cost: np.ndarray) -> np.ndarray:
    """For each frame of A, the frame of B with the lowest distance (TCC's Kendall tau matches)."""
    return np.argmin(cost, axis=1)
