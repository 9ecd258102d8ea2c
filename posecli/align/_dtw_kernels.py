"""Compiled (numba) DTW sweeps behind :func:`posecli.align.dtw.feature_dtw` and :func:`~posecli.align.dtw.matrix_dtw`.

Same recurrence, tie rules, band windows and 2-bit packed decision planes as the numpy sweep in
:mod:`posecli.align.dtw`, but one cell at a time in a compiled loop, so that the cost of a cell can be computed
on the fly from the two feature sequences (the N x M cost matrix never exists) and the row needs no prefix-sum
trick. Per row: the window's costs go into one float64 buffer (a loop the compiler vectorises over the
features), then the cells are swept left to right keeping two rows of accumulated cost.

Kernels are compiled on first use and cached next to this file (``cache=True``); where that directory is not
writable numba compiles in memory on each run instead, with the same results.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# What a row's costs are made of: a precomputed matrix, or one of posecli.align.dtw.METRICS on the fly.
PRECOMPUTED, EUCLIDEAN, SQEUCLIDEAN, COSINE, CITYBLOCK = 0, 1, 2, 3, 4
KINDS = {"euclidean": EUCLIDEAN, "sqeuclidean": SQEUCLIDEAN, "cosine": COSINE, "cityblock": CITYBLOCK}


# Reassociation lets the per-cell sum over features use SIMD; only the order of that one sum changes (costs agree
# with scipy's cdist to ~1e-16 relative). No nnan/ninf flags: non-finite costs must stay detectable.
# error_model="numpy": x / 0 gives inf or NaN (caught as non-finite) instead of raising ZeroDivisionError.
@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _row_costs(kind, a, b, na, nb, cost, i, lo, hi, out):
    """out[lo..hi] = cost of cells (i, lo..hi)."""
    if kind == PRECOMPUTED:
        for j in range(lo, hi + 1):
            out[j] = cost[i, j]
        return
    d = a.shape[1]
    for j in range(lo, hi + 1):
        s = 0.0
        if kind == CITYBLOCK:
            for k in range(d):
                s += abs(a[i, k] - b[j, k])
        elif kind == COSINE:
            for k in range(d):
                s += a[i, k] * b[j, k]
            s = 1.0 - s / (na[i] * nb[j])  # a zero-norm frame gives NaN, as in scipy: refused below
        else:
            for k in range(d):
                t = a[i, k] - b[j, k]
                s += t * t
            if kind == EUCLIDEAN:
                s = np.sqrt(s)
        out[j] = s


@njit(cache=True, nogil=True)
def sweep(kind, a, b, na, nb, cost, lo, hi, m, left_plane, up_plane, subsequence):
    """Accumulate rows 0..N-1 within windows [lo[i], hi[i]]; returns (distance, end column, bad row).

    Decisions go to ``left_plane`` / ``up_plane`` (np.packbits layout, one row per i) unless they are empty.
    ``subsequence``: row 0 is D[0, j] = C[0, j] (free start) and the end is the first column with the least
    D[N-1, j]. ``bad row`` >= 0 names the first row whose window holds a NaN or infinite cost (nothing else is
    valid then); -1 otherwise.
    """
    n = lo.shape[0]
    track = left_plane.shape[0] > 0
    # Buffers of m + 1 entries: [j + 1] holds D[., j] and [0] stands for column -1. Row 0 of whole-sequence
    # DTW sees a virtual D[-1, -1] = 0 there, so (0, 0) "steps diagonally" from it and needs no special case.
    prev = np.full(m + 1, np.inf)
    cur = np.full(m + 1, np.inf)
    if not subsequence:
        prev[0] = 0.0
    c = np.empty(m)
    stale_lo, stale_hi = 0, -1  # columns the buffer about to be written held two rows ago
    prev_lo, prev_hi = 0, -1
    for i in range(n):
        lo_i, hi_i = lo[i], hi[i]
        _row_costs(kind, a, b, na, nb, cost, i, lo_i, hi_i, c)
        # Clear what `cur` held two rows ago outside the new window: O(window) per row, not O(M).
        cur[0] = np.inf
        for k in range(stale_lo, min(stale_hi, lo_i - 1) + 1):
            cur[k + 1] = np.inf
        for k in range(max(stale_lo, hi_i + 1), stale_hi + 1):
            cur[k + 1] = np.inf
        total = 0.0  # the window's cost sum, as the numpy sweep's cumsum: catches NaN, inf and overflow
        if subsequence and i == 0:
            for j in range(lo_i, hi_i + 1):
                total += c[j]
                cur[j + 1] = c[j]
        else:
            left = np.inf
            bits_left = 0
            bits_up = 0
            for j in range(lo_i, hi_i + 1):
                cj = c[j]
                total += cj
                diag = prev[j]
                up = prev[j + 1]
                e = (diag if diag <= up else up) + cj
                via_left = left + cj
                from_left = via_left < e  # strict: on a tie the previous row wins
                left = via_left if from_left else e
                cur[j + 1] = left
                if track:
                    bits_left = (bits_left << 1) | from_left
                    bits_up = (bits_up << 1) | (up < diag)  # strict: on a tie the diagonal wins
                    if (j & 7) == 7 or j == hi_i:
                        shift = 7 - (j & 7)  # big-endian within a byte, as np.packbits
                        left_plane[i, j >> 3] = bits_left << shift
                        up_plane[i, j >> 3] = bits_up << shift
                        bits_left = 0
                        bits_up = 0
        if not np.isfinite(total):
            return np.nan, -1, i
        prev, cur = cur, prev
        stale_lo, stale_hi, prev_lo, prev_hi = prev_lo, prev_hi, lo_i, hi_i
    if not subsequence:
        return prev[m], m - 1, -1
    end = prev_lo
    for j in range(prev_lo + 1, prev_hi + 1):
        if prev[j + 1] < prev[end + 1]:
            end = j
    return prev[end + 1], end, -1


@njit(cache=True, nogil=True)
def backtrack(left_plane, up_plane, n, end, subsequence):
    """(K, 2) path from its first cell to (N-1, end): back to (0, 0), or to row 0 for a subsequence."""
    out = np.empty((n + end + 1, 2), np.int64)
    i, j, k = n - 1, end, 0
    out[0, 0], out[0, 1] = i, j
    while i > 0 or (j > 0 and not subsequence):
        shift = 7 - (j & 7)
        if (left_plane[i, j >> 3] >> shift) & 1:
            j -= 1
        elif (up_plane[i, j >> 3] >> shift) & 1:
            i -= 1
        else:
            i -= 1
            j -= 1
        k += 1
        out[k, 0], out[k, 1] = i, j
    return out[:k + 1][::-1].copy()
