"""MCSS's evaluation (seed 002, Sec. 4-5): pose errors in the canonical frame, and cross-view retrieval.

- N-MPJPE / MPJPE / PA-MPJPE (mm) on the 16 canonical joints, prediction and truth both canonical (the paper
  scores MCSS in the canonical frame).
- Mean-PA-MPJPE@K: for each query crop, the K nearest crops by embedding (L2) among crops of *other views*
  (case 1: all subjects; case "cross": the query's subject left out), and the mean PA-MPJPE between the query's
  true pose and theirs. The oracle ranks the same database by the true canonical poses (MPJPE between canonical
  skeletons; the paper only says "using ground-truth 3D poses") and is scored the same way; the paper reports
  the difference to it, we print both.
"""
from __future__ import annotations

import numpy as np

from ..metrics import mpjpe, n_mpjpe, pa_mpjpe, procrustes_align

KS = (1, 5, 10, 20)


def pose_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """(N, J, 3) canonical predictions and truths in metres -> errors in mm."""
    return {"n_mpjpe_mm": round(1000 * n_mpjpe(pred, gt), 1), "mpjpe_mm": round(1000 * mpjpe(pred, gt), 1),
            "pa_mpjpe_mm": round(1000 * pa_mpjpe(pred, gt), 1), "frames": len(gt)}


def _pa_errors(query: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(Q, J, 3) truths, (Q, K, J, 3) retrieved truths -> (Q, K) PA-MPJPE in metres."""
    q, k = found.shape[:2]
    a = procrustes_align(found.reshape(q * k, *found.shape[2:]), np.repeat(query, k, 0))
    return np.linalg.norm(a - np.repeat(query, k, 0), axis=-1).mean(-1).reshape(q, k)


def retrieval(emb: np.ndarray, poses: np.ndarray, view: np.ndarray, subject: np.ndarray, queries: np.ndarray,
              cross: bool = False, ks=KS) -> dict[str, float]:
    """Mean-PA-MPJPE@K (mm) of embedding retrieval and of the oracle for the crops ``queries`` (indices).

    ``emb`` (N, d); ``poses`` (N, J, 3) canonical truths; a query's database is every crop of another view
    (and, with ``cross``, of another subject)."""
    kmax = max(ks)
    flat = poses.reshape(len(poses), -1)
    out: dict[str, float] = {}
    found: dict[str, list] = {"embedding": [], "oracle": []}
    used = []
    for i in queries:
        ok = view != view[i]
        if cross:
            ok &= subject != subject[i]
        cand = np.flatnonzero(ok)
        if len(cand) < kmax:
            continue
        used.append(i)
        for name, d in (("embedding", np.linalg.norm(emb[cand] - emb[i], axis=1)),
                        ("oracle", np.linalg.norm(flat[cand] - flat[i], axis=1))):
            found[name].append(cand[np.argsort(d, kind="stable")[:kmax]])
    if not used:
        return {}
    for name, idx in found.items():
        errs = _pa_errors(poses[used], poses[np.stack(idx)])
        for k in ks:
            out[f"{name}@{k}_mm"] = round(1000 * float(errs[:, :k].mean()), 1)
    for k in ks:
        out[f"above_oracle@{k}_mm"] = round(out[f"embedding@{k}_mm"] - out[f"oracle@{k}_mm"], 1)
    out["queries"] = len(used)
    return out
