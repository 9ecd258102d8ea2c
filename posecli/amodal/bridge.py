"""Joining a completed hidden run to the seen frames around it, by kriging the completion's own residual
(``complete --join-gaps``).

The amodal model reads hidden joints from the rest of the body and hardly from the frames around a gap: with
the knees and ankles hidden for 3 frames in the middle of seen motion, its guess is nearly as far off as with them
hidden for the whole clip (docs/benchmarks.md, "Short gaps joined to the frames around them"). What the frames
around a gap do say is measured here on each clip itself, without ground truth and without a tuned constant:

1. A second model pass hides, on *every* frame, each joint that is hidden for ``runs.MIN_RUN`` frames or more
   in a row somewhere, so it completes those joints from the rest of the body everywhere (``e_all``;
   ``pipeline.hidden_everywhere_pass``). Joints that only drop out for a frame or two (a detector drops every
   joint now and then) stay as they are in both passes: hiding them all would leave the second pass nothing to
   read.
2. Where such a joint is seen, the residual r(t) = e(t) - e_all(t) (the model with the joint seen, minus its
   completion) is observed. Its correlation rho(d) over lags d is taken from the clip's own seen frames
   (pooled over joints and axes, ``residual_correlation``).
3. Inside a hidden run, r is predicted from the run's nearest seen frame on each side by simple kriging (the
   best linear predictor of a zero-mean process with that correlation), and the output is e_all + r_hat.
   A short gap in a smooth motion then follows its seen edges; in a long one, or where the residual
   decorrelates quickly, the correction fades and the model's completion stays. A residual with a lasting bias
   (a person the model reads badly) keeps a high correlation over long lags, so the correction carries further.
4. The hypotheses take the same correction; their variation around the deterministic output is scaled by the
   kriging's remaining standard deviation (none at a seen edge, all of it where the edges say nothing).

Bones between a moved joint and its parent get the canonical length back (the model's skeletons have exact
lengths); seen joints are never moved. Lags with fewer than ``MIN_PAIRS`` observed pairs count as uncorrelated.
"""
from __future__ import annotations

import numpy as np

from .runs import hidden_runs, keep_bone_lengths

MIN_PAIRS = 30  # joint-frame pairs a lag needs before its correlation is trusted (else taken as 0)
MAX_RHO = 0.99  # keeps the two-edge system invertible when both edges are nearly the same observation


def residual_correlation(residual: np.ndarray, observed: np.ndarray, max_lag: int) -> np.ndarray:
    """(T, J, 3) residual, (T, J) where it is observed -> rho (max_lag + 1,): the residual's correlation at each
    lag (second moments, not centred: a lasting offset is part of what the edges tell), 0 where the lag has
    fewer than MIN_PAIRS pairs, clipped to [0, MAX_RHO] beyond lag 0. Sums over all frame pairs at every lag
    come from FFTs (a track can be minutes long and a gap seconds)."""
    t = len(residual)
    rho = np.zeros(max_lag + 1)
    if observed.sum() < MIN_PAIRS:
        return rho
    r = np.where(observed[..., None], residual, 0.0).reshape(t, -1)
    size = 1 << int(np.ceil(np.log2(2 * t)))  # zero-padded: no wrap-around

    def lagged_sums(a: np.ndarray) -> np.ndarray:  # sum over t and columns of a[t] * a[t + d], d = 0..max_lag
        f = np.fft.rfft(a, size, axis=0)
        return np.fft.irfft(f * f.conj(), size, axis=0)[: min(max_lag, t - 1) + 1].sum(1)

    products = lagged_sums(r)
    pairs = np.rint(lagged_sums(observed.astype(np.float64)))
    if products[0] <= 1e-12:
        return rho
    c0 = products[0] / pairs[0]
    lags = np.arange(1, len(pairs))
    ok = pairs[1:] >= MIN_PAIRS
    rho[0] = 1.0
    rho[lags[ok]] = np.clip(products[1:][ok] / pairs[1:][ok] / c0, 0.0, MAX_RHO)
    return rho


def kriging_weights(rho: np.ndarray, left: int | None, right: int | None) -> tuple[float, float, float]:
    """Weights of the residual seen ``left`` and ``right`` frames away (None: no seen frame on that side) and the
    remaining variance as a fraction of the residual's, by simple kriging with correlation ``rho``."""
    at = lambda d: float(rho[d]) if d is not None and d < len(rho) else 0.0  # noqa: E731
    if left is None and right is None:
        return 0.0, 0.0, 1.0
    if left is None or right is None:
        r = at(left if right is None else right)
        wl, wr = (r, 0.0) if right is None else (0.0, r)
        return wl, wr, 1.0 - r * r
    k = np.array([at(left), at(right)])
    c = at(left + right)
    w = np.linalg.solve(np.array([[1.0, c], [c, 1.0]]), k)
    return float(w[0]), float(w[1]), float(max(0.0, 1.0 - k @ w))


def bridge(e: np.ndarray, e_all: np.ndarray, hyps: np.ndarray, hidden: np.ndarray,
           hidden_all: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical poses e (T, 17, 3) with ``hidden`` (T, 17) joints, e_all (T, 17, 3) from the pass with
    ``hidden_all`` (some joints hidden on every frame), hypotheses (T, K, 17, 3) of the first pass ->
    (deterministic, hypotheses) with every hidden run of those joints joined to the seen frames beside it.
    The residual's correlation is measured over the whole track."""
    out, out_h = e.astype(np.float64), hyps.astype(np.float64)  # copies
    observed = hidden_all & ~hidden
    runs = {j: hidden_runs(hidden[:, j] & hidden_all[:, j]) for j in np.flatnonzero(observed.any(0))}
    longest = max((b - a for rs in runs.values() for a, b in rs), default=0)
    if longest == 0:
        return out, out_h
    residual = e - e_all
    rho = residual_correlation(residual, observed, longest + 1)  # lags up to the two edges of the longest run
    variation = hyps - e[:, None]
    moved = np.zeros_like(hidden)
    for j, rs in runs.items():
        for a, b in rs:
            left = a - 1 if a > 0 else None
            right = b if b < len(e) else None
            for t in range(a, b):
                wl, wr, var = kriging_weights(rho, None if left is None else t - left,
                                              None if right is None else right - t)
                r_hat = (wl * residual[left, j] if left is not None else 0.0) + \
                        (wr * residual[right, j] if right is not None else 0.0)
                out[t, j] = e_all[t, j] + r_hat
                out_h[t, :, j] = out[t, j] + np.sqrt(var) * variation[t, :, j]
                moved[t, j] = True
    return keep_bone_lengths(out, moved), np.stack([keep_bone_lengths(out_h[:, i], moved)
                                                    for i in range(out_h.shape[1])], 1)
