"""Hypotheses for a hidden stretch from the person's own seen motion (exemplar in-painting, as motion matching).

The model's hypotheses vary around its deterministic guess, and on a person it was not trained on that guess
falls back towards an average pose (docs/benchmarks.md, session 23): the best of 10 lands only a few per cent
nearer the truth. But a person who walks, dances or trains repeats themselves, and the frames where the camera
does see their legs show how *they* move. So, for each run of frames where joints are occluded (hidden for
``runs.MIN_RUN`` frames or more; H = those joints, S = the rest):

1. every window of the same length elsewhere in the track, where H is seen throughout (and on the frames just
   outside it, when the run has seen frames there), is scored by how far its S joints are from the run's (mean
   distance over the window, canonical frame: the upper body says which phase of the motion the legs are in),
   plus how far its H joints just outside the window are from the run's seen H joints just outside the run (the
   two terms are both mean distances in metres and are weighed alike);
2. the best K windows, at least a run length apart (different moments, not the same one shifted by a frame),
   give the H joints' motion; each is shifted to meet the seen joints at the run's edges (the edge differences
   ramped linearly across the run, as in motion in-betweening; a constant shift with one edge), and the moved
   joints get the canonical bone lengths back;
3. a run longer than any seen stretch (issue 20's outside check hides the legs for the middle half of a clip)
   has no such window: then chains of shorter windows fill the slots left. The run is cut into equal pieces as
   long as the longest seen stretch allows; chain i starts with the i-th best window for the first piece, and
   each later piece takes the best window whose frame before it is nearest the chain's last pose (its seen
   joints scored as above), shifted to meet it, the last one also ramped to the run's right edge;
4. they replace the model's hypotheses on the run's H joints; slots without a window keep the model's.

No training and no tuned constant. The deterministic output stays the model's (the best window alone was worse
at a clip's end on the development subjects). Only the joints in H move, only inside the run.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .runs import MIN_RUN, hidden_runs, keep_bone_lengths, occluded


def matched_motions(e: np.ndarray, hidden: np.ndarray, count: int) -> list[tuple[int, int, np.ndarray, list]]:
    """Canonical poses e (T, 17, 3), hidden (T, 17) -> for each occluded run: (start, end, H (17,) bool, up to
    ``count`` motions (end - start, 17, 3), best first, already joined to the run's edges): whole windows of the
    run's length first, then (for the slots left) chains of shorter windows."""
    t_len = len(e)
    occ = occluded(hidden) & (~hidden).any(0)  # a joint never seen in the track has no motion of its own to match
    out = []
    for a, b in hidden_runs(occ.any(1)):
        held = occ[a:b].any(0)
        if held.all():  # nobody in view (or nothing seen): nothing to match the run by
            continue
        free = ~occ[:, held].any(1)  # frames where every H joint is seen (isolated dropouts aside)
        # the S joints per axis, (T, |S|) each and contiguous: what every window's cost reads
        axes = [np.ascontiguousarray(e[:, ~held, i], dtype=np.float64) for i in range(3)]
        motions = _whole_windows(e, axes, a, b, held, free, count) if 2 * (b - a) <= t_len else []
        motions += _chains(e, axes, a, b, held, free, count - len(motions))
        out.append((a, b, held, motions))
    return out


def _window_costs(axes: list[np.ndarray], lo: int, hi: int) -> np.ndarray:
    """Mean distance of the S joints (``axes``: x, y, z, each (T, |S|)) of every window of length hi - lo (by
    start) to those of [lo, hi)."""
    n_run, n = hi - lo, len(axes[0]) - (hi - lo) + 1
    cost = np.zeros(n)
    diff, dist = np.empty((n, axes[0].shape[1])), np.empty((n, axes[0].shape[1]))
    for t in range(n_run):  # frame by frame: memory stays O(T) for long tracks and long runs
        dist.fill(0.0)
        for a in axes:
            np.subtract(a[t:t + n], a[lo + t], out=diff)
            dist += diff * diff
        cost += np.sqrt(dist, out=dist).mean(1)
    return cost / n_run


def _edge_costs(e: np.ndarray, held: np.ndarray, pose: np.ndarray, n: int, offset: int) -> np.ndarray:
    """(n,) distance of the H joints at frame s + offset to ``pose`` (inf where that frame is outside the track)."""
    cost = np.full(n, np.inf)
    lo, hi = max(0, -offset), min(n, len(e) - offset)
    cost[lo:hi] = np.linalg.norm(e[lo + offset:hi + offset][:, held] - pose, axis=-1).mean(1)
    return cost


def _joined(e: np.ndarray, s: int, n_run: int, held: np.ndarray, left, right) -> np.ndarray:
    """Window [s, s + n_run) with its H joints shifted to meet ``left`` (the pose before it) and ``right`` (the
    pose after it): the edge differences ramped across it, or one of them held constant (None: no such edge)."""
    m = e[s:s + n_run].astype(np.float64)  # a copy
    dl = None if left is None else left - e[s - 1, held]
    dr = None if right is None else right - e[s + n_run, held]
    ramp = ((np.arange(n_run) + 1) / (n_run + 1))[:, None, None]
    if dl is not None and dr is not None:
        m[:, held] += (1 - ramp) * dl + ramp * dr
    elif dl is not None or dr is not None:
        m[:, held] += dl if dr is None else dr
    return m


def _spaced_best(cost: np.ndarray, count: int, spacing: int) -> list[int]:
    """Up to ``count`` window starts of finite cost, best first, each at least ``spacing`` from those taken
    (different moments, not the same one shifted by a frame)."""
    picked: list[int] = []
    for s in np.argsort(cost, kind="stable"):
        if len(picked) == count or not np.isfinite(cost[s]):
            break
        if all(abs(int(s) - p) >= spacing for p in picked):
            picked.append(int(s))
    return picked


def _whole_windows(e, axes, a, b, held, free, count) -> list[np.ndarray]:
    """The best ``count`` windows of the run's own length, at least a run length apart."""
    t_len, n_run = len(e), b - a
    n = t_len - n_run + 1
    starts = np.arange(n)
    ok = sliding_window_view(free, n_run).all(1) & (np.abs(starts - a) >= n_run)
    cost = _window_costs(axes, a, b)
    left = e[a - 1, held] if a > 0 else None
    right = e[b, held] if b < t_len else None
    if left is not None:  # the window's left neighbour must be seen, and near the run's
        ok &= np.concatenate([[False], free[: n - 1]])
        cost = cost + _edge_costs(e, held, left, n, -1)
    if right is not None:
        ok &= np.concatenate([free[n_run:], [False]])
        cost = cost + _edge_costs(e, held, right, n, n_run)
    return [_joined(e, s, n_run, held, left, right) for s in _spaced_best(np.where(ok, cost, np.inf), count, n_run)]


def _chains(e, axes, a, b, held, free, count) -> list[np.ndarray]:
    """``count`` motions for a run longer than the seen stretches hold: the run cut into equal pieces as long as
    the longest seen stretch allows (a window needs a seen frame before it, and the last one after it too);
    chain i starts with the i-th best window of the first piece (a piece apart), and each later piece takes the
    best window whose frame before it meets the chain's last pose."""
    if count <= 0:
        return []
    t_len, n_run = len(e), b - a
    longest = max((y - x for x, y in hidden_runs(free)), default=0)
    piece = longest - 2
    if piece < MIN_RUN or piece >= n_run:  # a whole window fits: _whole_windows has had every candidate
        return []
    bounds = np.linspace(a, b, int(np.ceil(n_run / piece)) + 1).round().astype(int)
    right = e[b, held] if b < t_len else None
    pieces = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        n_p = hi - lo
        n = t_len - n_p + 1
        last = i == len(bounds) - 2
        ok = sliding_window_view(free, n_p).all(1) & np.concatenate([[False], free[: n - 1]])
        if last and right is not None:
            ok &= np.concatenate([free[n_p:], [False]])
        cost = np.where(ok, _window_costs(axes, lo, hi), np.inf)
        if last and right is not None:
            cost = cost + _edge_costs(e, held, right, n, n_p)
        pieces.append((n_p, last, cost))
    n_first, _, first_cost = pieces[0]
    if a > 0:
        first_cost = first_cost + _edge_costs(e, held, e[a - 1, held], len(first_cost), -1)
    motions = []
    for s0 in _spaced_best(first_cost, count, n_first):
        parts, pose = [], e[a - 1, held] if a > 0 else None
        for i, (n_p, last, cost) in enumerate(pieces):
            s = s0 if i == 0 else int(np.argmin(cost + _edge_costs(e, held, pose, len(cost), -1)))
            if not np.isfinite(cost[s]):
                break
            parts.append(_joined(e, s, n_p, held, pose, right if last else None))
            pose = parts[-1][-1, held]
        if len(parts) == len(pieces):
            motions.append(np.concatenate(parts))
    return motions


def matched_hypotheses(e: np.ndarray, hyps: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """e (T, 17, 3), the model's hypotheses (T, K, 17, 3), hidden (T, 17) -> hypotheses whose occluded runs take
    the person's own best-matching seen motions (slot i: the i-th best window; slots beyond the windows found keep
    the model's)."""
    out = hyps.astype(np.float64)  # a copy
    for a, b, held, motions in matched_motions(e, hidden, hyps.shape[1]):
        moved = np.zeros((b - a, e.shape[1]), bool)
        moved[:, held] = True
        for slot, m in enumerate(motions):
            pose = out[a:b, slot].copy()
            pose[:, held] = m[:, held]
            out[a:b, slot] = keep_bone_lengths(pose, moved)
    return out
