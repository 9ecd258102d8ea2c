"""Dynamic time warping over a precomputed cost matrix: exact, numpy-only, bounded memory.

Recurrence (steps (1,0), (0,1), (1,1)): D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1]), D[0,0] = C[0,0].
Ties prefer the diagonal, then the previous row (i-1), then the previous column (j-1).

Speed without a compiled loop: rows are swept one at a time, each with a handful of whole-row numpy calls.
The previous row gives E[j] = C[i,j] + min(D[i-1,j-1], D[i-1,j]) at once; the remaining in-row dependency
D[i,j] = min(E[j], D[i,j-1] + C[i,j]) unrolls to D[i,j] = S[j] + min_{k<=j}(E[k] - S[k]) with S the prefix
sum of the row, i.e. one cumsum and one ``minimum.accumulate``. Rows keep the cost matrix's memory order
(anti-diagonal sweeps would gather with a stride of M and are cache-hostile at 10k x 10k). Accumulation is
float64 whatever the cost dtype: 20k float32 additions would lose about three digits. The prefix-sum form
rounds a little differently from adding along the path (relative ~1e-16 x row sum / distance), so on
non-integer costs a path can differ from a sequential implementation only between near-equal optima.

Memory: the path needs one decision per cell for backtracking. Instead of the float64 matrix (800 MB at
10k x 10k) or one uint8 code per cell (100 MB), each decision is two bits kept in two packbits planes
("came from j-1", "came from i-1"; neither = diagonal): 25 MB at 10k x 10k, small beside the cost matrix
itself (400 MB as float32), so a band needs no layout of its own. ``dtw_distance`` keeps only two rows.

Two implementations of that one recurrence:
- ``dtw`` / ``dtw_distance`` (this file, numpy): over a precomputed cost matrix. The reference the compiled
  sweep is tested against, and what the benchmark shows as "before".
- ``feature_dtw`` / ``feature_dtw_distance`` / ``matrix_dtw`` (``posecli/align/_dtw.c``, a C extension): one
  cell at a time, summing along the path as the textbook recurrence does. ``feature_dtw`` computes each cell's
  cost on the fly from the two feature sequences, so the cost matrix is never held, and recovers the path by
  checkpointing (every K-th row of D kept, decisions recomputed one block of rows at a time during the
  backtrack): about 3 MB at 10k x 10k instead of 400 MB of costs + 25 MB of decision planes. ``matrix_dtw`` takes a
  precomputed matrix (``posecli align``'s Pr-VIPE costs, which are no feature-space metric). Both accumulate in
  float64; on the same costs, paths equal the numpy sweep's and distances agree to rounding (~1e-15 relative).
- ``subsequence=True`` (compiled only): open begin and end on B. The query A is matched whole, B's part is
  free: D[0, j] = C[0, j] for every j, the answer is min_j D[N-1, j] (the first such j on a tie), the path is
  backtracked to row 0. See :class:`SubsequenceMatch`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posecli.errors import PoseCliError

try:
    from posecli.align import _dtw
except ImportError:  # a source tree used without `pip install -e .`: say so when DTW is first needed
    _dtw = None

METRICS = ("euclidean", "sqeuclidean", "cosine", "cityblock")
# What a row's costs are made of in the C kernel: a precomputed matrix, or one of METRICS on the fly.
_PRECOMPUTED = 0
_KINDS = {"euclidean": 1, "sqeuclidean": 2, "cosine": 3, "cityblock": 4}
# cost_matrix works in float64 blocks of about this many bytes before storing them in the output dtype.
_CHUNK_BYTES = 32 << 20


@dataclass(frozen=True)
class DtwResult:
    distance: float  # accumulated cost along the optimal path
    path: np.ndarray  # (K, 2) int (i, j), from (0, 0) to (N-1, M-1)

    @property
    def normalized_distance(self) -> float:
        """Distance per path step: comparable across pairs of different lengths."""
        return self.distance / len(self.path)


def dtw(cost: np.ndarray, band: int | None = None) -> DtwResult:
    """Optimal monotone alignment of an (N, M) cost matrix, optionally within a Sakoe-Chiba ``band``.

    Ties prefer the diagonal step, then (i-1, j), then (i, j-1).

    ``band`` is a half-width in frames of B around the straight line from (0, 0) to (N-1, M-1):
    cell (i, j) is allowed when |i (M-1)/(N-1) - j| <= band.
    """
    cost = _check_cost(cost)
    lo, hi = _windows(*cost.shape, band)
    n, m = cost.shape
    planes = np.zeros((2, n, (m + 7) // 8), np.uint8)
    distance = _accumulate(cost, lo, hi, planes)
    return DtwResult(distance, _backtrack(planes, n, m))


def dtw_distance(cost: np.ndarray, band: int | None = None) -> float:
    """``dtw(cost, band).distance`` without the path, in O(N + M) extra memory."""
    cost = _check_cost(cost)
    return _accumulate(cost, *_windows(*cost.shape, band))


@dataclass(frozen=True)
class SubsequenceMatch(DtwResult):
    """Where the query A (matched whole) lies in B: ``path`` runs from (0, start) to (N-1, end)."""

    @property
    def start(self) -> int:
        """First frame of B matched (to A's first frame)."""
        return int(self.path[0, 1])

    @property
    def end(self) -> int:
        """Last frame of B matched (to A's last frame)."""
        return int(self.path[-1, 1])


def feature_dtw(a: np.ndarray, b: np.ndarray, metric: str = "euclidean", band: int | None = None,
                subsequence: bool = False) -> DtwResult:
    """DTW between the frames of ``a`` (N, d) and ``b`` (M, d), the cost of each cell computed on the fly.

    Equals ``dtw(cost_matrix(a, b, metric, np.float64), band)`` (same path; distance to rounding) without the
    cost matrix. ``subsequence``: find A inside B (returns a :class:`SubsequenceMatch`; no band).
    """
    return _run(*_features(a, b, metric), band, subsequence, True)


def feature_dtw_distance(a: np.ndarray, b: np.ndarray, metric: str = "euclidean", band: int | None = None,
                         subsequence: bool = False) -> float:
    """``feature_dtw(...).distance`` without the path: O(N + M) memory."""
    return _run(*_features(a, b, metric), band, subsequence, False)


def matrix_dtw(cost: np.ndarray, band: int | None = None, subsequence: bool = False) -> DtwResult:
    """The compiled sweep over a precomputed (N, M) cost matrix: ``dtw(cost, band)``'s path, or a subsequence."""
    cost = _check_cost(cost)
    if cost.dtype != np.float32:  # the kernel reads float32 or float64 rows; integers, float16 etc. are widened
        cost = cost.astype(np.float64)
    none = np.empty(0)
    return _run(_PRECOMPUTED, none, none, none, none, np.ascontiguousarray(cost), *cost.shape, band, subsequence,
                True)


def _features(a: np.ndarray, b: np.ndarray, metric: str):
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or 0 in a.shape or 0 in b.shape:
        raise PoseCliError(f"cannot align frames of shapes {a.shape} and {b.shape}",
                           "pass two non-empty (frames, features) arrays with the same feature count")
    if metric not in METRICS:
        raise PoseCliError(f"unknown metric {metric!r}", f"use one of {', '.join(METRICS)}")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = (np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)) if metric == "cosine" else (np.empty(0),) * 2
    # The kernel wants B transposed (features x frames): its cost loop runs over columns, features outer.
    return (_KINDS[metric], np.ascontiguousarray(a), np.ascontiguousarray(b.T), *norms, np.empty(0), len(a),
            len(b))


def _run(kind, a, bt, na, nb, cost, n, m, band, subsequence, want_path):
    if subsequence:
        if band is not None:
            raise PoseCliError("a band does not apply to subsequence DTW (B's part is free)", "drop the band")
        lo, hi = np.zeros(n, np.int64), np.full(n, m - 1, np.int64)
    else:
        lo, hi = _windows(n, m, band)
    if _dtw is None:
        raise PoseCliError("posecli's compiled DTW kernel (posecli/align/_dtw.c) is not built",
                           "install posecli with pip (pip install -e . builds it; it needs a C compiler)")
    path = np.empty((n + m, 2), np.int64) if want_path else None  # a path has at most n + m - 1 cells
    d = a.shape[1] if a.ndim == 2 else 0
    distance, _end, bad, length = _dtw.run(kind, a, bt, na, nb, cost, int(cost.dtype == np.float32), lo, hi, n, m,
                                           d, int(subsequence), path)
    if bad >= 0:
        raise PoseCliError(f"the cost matrix has NaN or infinite values in row {bad} (inside the band)",
                           "compute costs from finite features" + (" (cosine: no all-zero frame)"
                                                                   if kind == _KINDS["cosine"] else ""))
    if not want_path:
        return float(distance)
    return (SubsequenceMatch if subsequence else DtwResult)(float(distance), path[:length].copy())


def cost_matrix(a: np.ndarray, b: np.ndarray, metric: str = "euclidean", dtype=np.float32) -> np.ndarray:
    """(N, M) distances between the rows of ``a`` (N, d) and ``b`` (M, d), one of ``METRICS``.

    Computed by scipy's ``cdist`` in row blocks, so only the output plus ~32 MB of float64 is held
    (10k x 10k float32: 400 MB). ``cdist`` subtracts directly rather than expanding |a|^2 + |b|^2 - 2ab,
    which keeps identical frames at exactly 0.
    """
    from scipy.spatial.distance import cdist  # here, not at import: scipy costs ~20 MB to every aligning process

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise PoseCliError(f"cannot compare frames of shapes {a.shape} and {b.shape}",
                           "pass two (frames, features) arrays with the same feature count")
    if metric not in METRICS:
        raise PoseCliError(f"unknown metric {metric!r}", f"use one of {', '.join(METRICS)}")
    out = np.empty((len(a), len(b)), dtype)
    rows = max(1, _CHUNK_BYTES // (8 * max(len(b), 1)))
    for start in range(0, len(a), rows):
        out[start:start + rows] = cdist(a[start:start + rows], b, metric)
    return out


def path_to_mapping(path: np.ndarray, n: int) -> np.ndarray:
    """For each of the ``n`` frames i of A, the position of B matched to it (float, in B's frames).

    On a monotone continuous path the j's paired with one i are consecutive integers, so their mean and
    median coincide: (first + last) / 2. Re-timing B to A samples B at these positions.
    """
    path = np.asarray(path)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0 or path[0, 0] != 0 or path[-1, 0] != n - 1:
        raise PoseCliError(f"a warping path over {n} frames must be (K, 2) and run from i = 0 to {n - 1}")
    return np.bincount(path[:, 0], weights=path[:, 1], minlength=n) / np.bincount(path[:, 0], minlength=n)


def _check_cost(cost: np.ndarray) -> np.ndarray:
    cost = np.asarray(cost)
    if cost.ndim != 2 or 0 in cost.shape:
        raise PoseCliError(f"DTW needs a non-empty (N, M) cost matrix, got shape {cost.shape}")
    if not np.issubdtype(cost.dtype, np.floating) and not np.issubdtype(cost.dtype, np.integer):
        raise PoseCliError(f"DTW costs must be numbers, got dtype {cost.dtype}")
    return cost


def _windows(n: int, m: int, band: int | None) -> tuple[np.ndarray, np.ndarray]:
    """First and last allowed column of each row; raises when the band disconnects the corners."""
    if band is None:
        return np.zeros(n, np.int64), np.full(n, m - 1, np.int64)
    if int(band) != band or band < 0:
        raise PoseCliError(f"band must be a whole number of frames >= 0, got {band}")
    lo, hi = _band_limits(n, m, int(band))
    if not _connected(lo, hi):
        need = _narrowest_band(n, m)
        raise PoseCliError(f"band={band} leaves no warping path through {n} x {m} frames "
                           f"(the end cannot be reached from the start)", f"use band >= {need}, or no band")
    return lo, hi


def _band_limits(n: int, m: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    # Corner to corner (slope (M-1)/(N-1)) rather than i*M/N, so the end cell is always inside the band;
    # integer arithmetic |i(M-1) - j(N-1)| <= band(N-1) avoids rounding at the window edges.
    if n == 1:  # the only path is the whole row
        return np.zeros(1, np.int64), np.full(1, m - 1, np.int64)
    i = np.arange(n, dtype=np.int64)
    centre, half, den = i * (m - 1), band * (n - 1), n - 1
    lo = np.maximum(-((half - centre) // den), 0)  # ceil((centre - half) / den)
    hi = np.minimum((centre + half) // den, m - 1)
    return lo, hi


def _connected(lo: np.ndarray, hi: np.ndarray) -> bool:
    # Windows only move right, so a path exists iff none is empty and each row starts at most one column
    # past where the previous row ends (reached by a diagonal step).
    return bool(np.all(lo <= hi) and np.all(lo[1:] <= hi[:-1] + 1))


def _narrowest_band(n: int, m: int) -> int:
    good, bad = max(n, m), -1  # band max(n, m) allows every cell
    while good - bad > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if _connected(*_band_limits(n, m, mid)) else (good, mid)
    return good


def _accumulate(cost: np.ndarray, lo: np.ndarray, hi: np.ndarray, planes: np.ndarray | None = None) -> float:
    """D[N-1, M-1], sweeping rows inside their windows; records decisions in ``planes`` when given."""
    n, m = cost.shape
    # Buffers of m + 1 entries: [j + 1] holds D[., j] and [0] stands for column -1. Row 0 sees a virtual
    # D[-1, -1] = 0 there, so (0, 0) "steps diagonally" from it and needs no special case.
    prev, cur = np.full(m + 1, np.inf), np.full(m + 1, np.inf)
    prev[0] = 0.0
    prev_used, cur_used = slice(0, 1), slice(0, 0)
    for i in range(n):
        a, b = int(lo[i]), int(hi[i]) + 1
        c = cost[i, a:b]  # float32 rows are promoted by the float64 operations below, never copied whole
        diag, up = prev[a:b], prev[a + 1:b + 1]
        e = np.minimum(diag, up)
        e += c
        s = np.cumsum(c, dtype=np.float64)
        if not math.isfinite(s[-1]):  # one scalar test per row catches any NaN or inf in the window
            raise PoseCliError(f"the cost matrix has NaN or infinite values in row {i} (inside the band)",
                               "compute costs from finite features")
        es = e - s
        run = np.minimum.accumulate(es)
        from_left = np.zeros(b - a, bool)
        np.less(run[:-1], es[1:], out=from_left[1:])  # strict: on a tie the previous row wins
        s += run
        # Clear what this buffer held two rows ago outside the new window: O(window) per row, not O(M).
        cur[cur_used.start:a + 1] = np.inf
        cur[b + 1:cur_used.stop] = np.inf
        cur[a + 1:b + 1] = np.where(from_left, s, e)  # e stays exact where no left run is taken
        cur_used = slice(a + 1, b + 1)
        if planes is not None:
            _store_bits(planes[0, i], a, from_left)
            _store_bits(planes[1, i], a, up < diag)  # strict: on a tie the diagonal wins
        prev, cur, prev_used, cur_used = cur, prev, cur_used, prev_used
    return float(prev[m])


def _store_bits(plane_row: np.ndarray, start: int, bits: np.ndarray) -> None:
    """Write ``bits`` for columns start, start+1, ... into a np.packbits row (big-endian within a byte)."""
    pad = start % 8  # packbits fills whole bytes: align the window to a byte boundary
    if pad:
        bits = np.concatenate((np.zeros(pad, bool), bits))
    packed = np.packbits(bits)
    first = (start - pad) // 8
    plane_row[first:first + len(packed)] = packed


def _backtrack(planes: np.ndarray, n: int, m: int) -> np.ndarray:
    """The path from the decision planes, walked back from (N-1, M-1): a plain loop, the reference the C
    kernel's block-wise walk is tested against."""
    def bit(plane: np.ndarray, i: int, j: int) -> int:
        return (int(plane[i, j >> 3]) >> (7 - (j & 7))) & 1

    i, j, out = n - 1, m - 1, [(n - 1, m - 1)]
    while i > 0 or j > 0:
        if bit(planes[0], i, j):
            j -= 1
        elif bit(planes[1], i, j):
            i -= 1
        else:
            i, j = i - 1, j - 1
        out.append((i, j))
    return np.array(out[::-1], np.int64)
