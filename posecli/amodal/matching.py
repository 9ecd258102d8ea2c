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
3. they replace the model's hypotheses on the run's H joints; slots without a window keep the model's.

No training and no tuned constant. The deterministic output stays the model's (the best window alone was worse
at a clip's end on the development subjects). Only the joints in H move, only inside the run.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .runs import MIN_RUN, hidden_runs, keep_bone_lengths, occluded


def matched_motions(e: np.ndarray, hidden: np.ndarray, count: int) -> list[tuple[int, int, np.ndarray, list]]:
    """Canonical poses e (T, 17, 3), hidden (T, 17) -> for each occluded run: (start, end, H (17,) bool, up to
    ``count`` motions (end - start, 17, 3) of the best windows, best first, already joined to the run's edges)."""
    t_len = len(e)
    occ = occluded(hidden)
    out = []
    for a, b in hidden_runs(occ.any(1)):
        n_run = b - a
        if n_run < MIN_RUN or 2 * n_run > t_len:
            continue
        held = occ[a:b].any(0)
        seen = ~held
        if not seen.any():  # nobody in view (or nothing seen): nothing to match the run by
            continue
        free = ~occ[:, held].any(1)  # frames where every H joint is seen (isolated dropouts aside)
        n = t_len - n_run + 1
        starts = np.arange(n)
        ok = sliding_window_view(free, n_run).all(1) & (np.abs(starts - a) >= n_run)
        cost = np.zeros(n)
        for t in range(n_run):  # frame by frame: memory stays O(T) for long tracks and long runs
            cost += np.linalg.norm(e[t:t + n][:, seen] - e[a + t, seen], axis=-1).mean(1)
        cost /= n_run
        if a > 0:  # the window's left neighbour must be seen, and near the run's
            left = np.full(n, np.inf)
            left[1:] = np.linalg.norm(e[: n - 1][:, held] - e[a - 1, held], axis=-1).mean(1)
            ok &= np.concatenate([[False], free[: n - 1]])
            cost = cost + left
        if b < t_len:
            right = np.full(n, np.inf)
            right[: t_len - n_run] = np.linalg.norm(e[n_run:][:, held] - e[b, held], axis=-1).mean(1)
            ok &= np.concatenate([free[n_run:], [False]])
            cost = cost + right
        cost = np.where(ok, cost, np.inf)
        picked: list[int] = []
        for s in np.argsort(cost, kind="stable"):
            if len(picked) == count or not np.isfinite(cost[s]):
                break
            if all(abs(int(s) - p) >= n_run for p in picked):
                picked.append(int(s))
        ramp = ((np.arange(n_run) + 1) / (n_run + 1))[:, None, None]
        motions = []
        for s in picked:
            m = e[s:s + n_run].astype(np.float64).copy()
            dl = e[a - 1, held] - e[s - 1, held] if a > 0 else None
            dr = e[b, held] - e[s + n_run, held] if b < t_len else None
            shift = (1 - ramp) * dl + ramp * dr if dl is not None and dr is not None else (dl if dr is None else dr)
            m[:, held] += shift
            motions.append(m)
        out.append((a, b, held, motions))
    return out


def matched_hypotheses(e: np.ndarray, hyps: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """e (T, 17, 3), the model's hypotheses (T, K, 17, 3), hidden (T, 17) -> hypotheses whose occluded runs take
    the person's own best-matching seen motions (slot i: the i-th best window; slots beyond the windows found keep
    the model's)."""
    out = hyps.astype(np.float64).copy()
    for a, b, held, motions in matched_motions(e, hidden, hyps.shape[1]):
        moved = np.zeros((b - a, e.shape[1]), bool)
        moved[:, held] = True
        for slot, m in enumerate(motions):
            pose = out[a:b, slot].copy()
            pose[:, held] = m[:, held]
            out[a:b, slot] = keep_bone_lengths(pose, moved)
    return out
