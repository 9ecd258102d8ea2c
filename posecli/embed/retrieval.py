"""Ranking an index of poses for each query, and Hit@k: shared by evaluation and ``posecli retrieve``.

Scores may be similarities (Pr-VIPE's matching probability, ``largest=True``) or distances (Procrustes
baselines, ``largest=False``); the score matrix is computed a block of queries at a time so that big indexes
fit in memory, and only the top k of each row is kept. Rankings are deterministic (equal scores inside the top k
are ordered by index).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def top_k(scores: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """(Q, N) scores -> (Q, min(k, N)) indices of the best first."""
    s = -np.asarray(scores) if largest else np.asarray(scores)
    k = min(k, s.shape[1])
    part = np.argpartition(s, k - 1, axis=1)[:, :k] if k < s.shape[1] else np.broadcast_to(
        np.arange(s.shape[1]), s.shape)
    # Sort the kept candidates by (score, index): a stable order whatever argpartition returned.
    order = np.lexsort((part, np.take_along_axis(s, part, 1)), axis=1)
    return np.take_along_axis(part, order, 1)


def rank(score_block: Callable[[slice], np.ndarray], num_queries: int, k: int, largest: bool = True,
         block: int = 64) -> np.ndarray:
    """Top-k indices (Q, k) of an index for every query; ``score_block(queries)`` gives their (q, N) scores."""
    parts = [top_k(score_block(slice(s, min(s + block, num_queries))), k, largest)
             for s in range(0, num_queries, block)]
    return np.concatenate(parts) if parts else np.zeros((0, k), np.int64)


def hit_at_k(accurate: np.ndarray, ks: Sequence[int] = (1, 10, 20)) -> dict[str, float]:
    """(Q, K) bool, retrieval j of query q is accurate -> {"hit@k": fraction of queries with one in the top k}."""
    accurate = np.asarray(accurate, bool)
    if len(accurate) == 0:
        return {f"hit@{k}": float("nan") for k in ks}
    return {f"hit@{k}": float(accurate[:, :k].any(1).mean()) for k in ks}
