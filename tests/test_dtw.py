"""posecli.align.dtw against a readable pure-Python DTW, plus identities, bands and the path's shape."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from posecli.align import cost_matrix, dtw, dtw_distance, path_to_mapping
from posecli.errors import PoseCliError

dtw_module = importlib.import_module("posecli.align.dtw")  # the package's `dtw` is the function

SIZES = [(1, 1), (1, 5), (5, 1), (7, 9), (30, 20)]


def reference_dtw(cost, band=None):
    """Textbook DTW. Ties: diagonal first, then the previous row (i-1), then the previous column (j-1)."""
    n, m = len(cost), len(cost[0])

    def allowed(i, j):  # Sakoe-Chiba band around the corner-to-corner line
        return band is None or abs(i * (m - 1) - j * (n - 1)) <= band * (n - 1)

    acc = [[math.inf] * m for _ in range(n)]
    came_from = {}
    for i in range(n):
        for j in range(m):
            if not allowed(i, j):
                continue
            if i == j == 0:
                acc[0][0] = float(cost[0][0])
                continue
            best, step = math.inf, None
            for di, dj in [(1, 1), (1, 0), (0, 1)]:  # the tie order: first minimum wins
                pi, pj = i - di, j - dj
                if pi >= 0 and pj >= 0 and acc[pi][pj] < best:
                    best, step = acc[pi][pj], (pi, pj)
            acc[i][j] = float(cost[i][j]) + best
            came_from[i, j] = step
    path = [(n - 1, m - 1)]
    while path[-1] != (0, 0):
        path.append(came_from[path[-1]])
    return acc[n - 1][m - 1], path[::-1]


def random_costs(rng, n, m, integer):
    # Small integers make many exact ties (and are exact in floating point), which exercises the tie order.
    return rng.integers(0, 4, (n, m)).astype(float) if integer else rng.random((n, m))


@pytest.mark.parametrize("n,m", SIZES)
@pytest.mark.parametrize("integer", [False, True])
def test_matches_reference(n, m, integer):
    rng = np.random.default_rng(n * 100 + m)
    for _ in range(5):
        cost = random_costs(rng, n, m, integer)
        want_distance, want_path = reference_dtw(cost)
        got = dtw(cost)
        assert got.distance == pytest.approx(want_distance, rel=1e-12)
        assert got.path.tolist() == [list(p) for p in want_path]
        assert got.normalized_distance == pytest.approx(want_distance / len(want_path), rel=1e-12)
        assert dtw_distance(cost) == got.distance


@pytest.mark.parametrize("n,m,band", [(7, 9, 1), (30, 20, 2), (30, 20, 5), (20, 45, 2), (1, 5, 0), (5, 1, 0)])
def test_banded_matches_reference(n, m, band):
    rng = np.random.default_rng(7)
    for integer in (False, True):
        cost = random_costs(rng, n, m, integer)
        want_distance, want_path = reference_dtw(cost, band)
        got = dtw(cost, band=band)
        assert got.distance == pytest.approx(want_distance, rel=1e-12)
        assert got.path.tolist() == [list(p) for p in want_path]
        assert dtw_distance(cost, band=band) == got.distance


def test_float32_costs_accumulate_in_float64():
    cost = np.random.default_rng(3).random((30, 20)).astype(np.float32)
    assert dtw(cost).distance == pytest.approx(reference_dtw(cost.astype(np.float64))[0], rel=1e-12)


def test_sequence_against_itself_is_free_and_diagonal():
    x = np.random.default_rng(1).standard_normal((25, 4))
    result = dtw(cost_matrix(x, x))
    assert result.distance == 0.0
    assert result.path.tolist() == [[i, i] for i in range(25)]


def test_time_stretched_copy_is_free_with_the_expected_mapping():
    x = np.random.default_rng(2).standard_normal((25, 4))
    slow = np.repeat(x, 2, axis=0)  # every frame held for two frames
    result = dtw(cost_matrix(x, slow))
    assert result.distance == 0.0
    assert result.path.tolist() == [[i // 2, i] for i in range(50)]
    np.testing.assert_array_equal(path_to_mapping(result.path, 25), 2 * np.arange(25) + 0.5)
    back = dtw(cost_matrix(slow, x))
    assert back.distance == 0.0
    np.testing.assert_array_equal(path_to_mapping(back.path, 50), np.arange(50) // 2)


@pytest.mark.parametrize("n,m", SIZES + [(40, 100), (100, 40)])
def test_path_is_monotone_continuous_and_spans_the_corners(n, m):
    path = dtw(np.random.default_rng(4).random((n, m))).path
    assert path.dtype.kind == "i" and path.shape[1] == 2
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [n - 1, m - 1]
    assert {tuple(s) for s in np.diff(path, axis=0)} <= {(1, 0), (0, 1), (1, 1)}


def test_wide_band_equals_no_band():
    cost = np.random.default_rng(5).random((40, 60))
    free, wide = dtw(cost), dtw(cost, band=60)
    assert wide.distance == free.distance
    np.testing.assert_array_equal(wide.path, free.path)


def test_band_never_beats_the_unbanded_optimum():
    cost = np.random.default_rng(6).random((50, 70))
    free = dtw_distance(cost)
    distances = [dtw_distance(cost, band=b) for b in (1, 2, 4, 8, 16)]
    assert all(d >= free for d in distances)
    assert distances == sorted(distances, reverse=True)  # widening the band can only help


def test_too_narrow_band_says_which_band_works():
    cost = np.random.default_rng(8).random((10, 40))  # slope 39/9: band 0 leaves gaps between rows
    with pytest.raises(PoseCliError, match=r"band=0 leaves no warping path through 10 x 40 frames") as err:
        dtw(cost, band=0)
    need = int(str(err.value).split("band >= ")[1].split(",")[0])
    dtw(cost, band=need)  # the suggested band works, one less does not
    with pytest.raises(PoseCliError):
        dtw_distance(cost, band=need - 1)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(4), np.array([["a"]])])
def test_bad_cost_matrices_are_refused(bad):
    with pytest.raises(PoseCliError):
        dtw(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_costs_inside_the_band_are_refused(value):
    cost = np.random.default_rng(9).random((12, 15))
    cost[5, 7] = value
    with pytest.raises(PoseCliError, match="NaN or infinite"):
        dtw_distance(cost)
    cost_outside = np.random.default_rng(9).random((12, 15))
    cost_outside[0, 14] = value  # outside band 2: never looked at
    assert np.isfinite(dtw(cost_outside, band=2).distance)


def test_negative_band_is_refused():
    with pytest.raises(PoseCliError, match="band"):
        dtw(np.ones((3, 3)), band=-1)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "cityblock"])
def test_cost_matrix_in_chunks_matches_brute_force(metric, monkeypatch):
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((23, 5)), rng.standard_normal((17, 5))
    monkeypatch.setattr(dtw_module, "_CHUNK_BYTES", 8 * 17 * 4)  # 4 rows per block: blocks and a remainder
    got = cost_matrix(a, b, metric, dtype=np.float64)
    diff = a[:, None] - b[None]
    want = {"euclidean": np.linalg.norm(diff, axis=-1), "sqeuclidean": (diff ** 2).sum(-1),
            "cityblock": np.abs(diff).sum(-1),
            "cosine": 1 - (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))}[metric]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert cost_matrix(a, b, metric).dtype == np.float32


def test_cost_matrix_refuses_mismatched_features_and_unknown_metrics():
    with pytest.raises(PoseCliError, match="shapes"):
        cost_matrix(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(PoseCliError, match="unknown metric"):
        cost_matrix(np.zeros((3, 2)), np.zeros((3, 2)), "manhattan")


def test_path_to_mapping_needs_a_path_over_all_frames():
    with pytest.raises(PoseCliError, match="run from i = 0 to 4"):
        path_to_mapping(np.array([[0, 0], [1, 1]]), 5)


# ----------------------------------------------------------------------------- compiled sweep (C)

from posecli.align import METRICS, SubsequenceMatch, feature_dtw, feature_dtw_distance, matrix_dtw  # noqa: E402


def reference_subsequence_dtw(cost):
    """Textbook subsequence DTW: D[0, j] = C[0, j], then the recurrence and tie order above; the end is the first
    j with the least D[N-1, j]; the path goes back to row 0."""
    n, m = len(cost), len(cost[0])
    acc = [[float(cost[0][j]) for j in range(m)]] + [[math.inf] * m for _ in range(n - 1)]
    came_from = {}
    for i in range(1, n):
        for j in range(m):
            best, step = math.inf, None
            for di, dj in [(1, 1), (1, 0), (0, 1)]:
                pi, pj = i - di, j - dj
                if pi >= 0 and pj >= 0 and acc[pi][pj] < best:
                    best, step = acc[pi][pj], (pi, pj)
            acc[i][j] = float(cost[i][j]) + best
            came_from[i, j] = step
    end = min(range(m), key=lambda j: (acc[n - 1][j], j))
    path = [(n - 1, end)]
    while path[-1][0] != 0:
        path.append(came_from[path[-1]])
    return acc[n - 1][end], path[::-1]


CASES = [(1, 1, None), (1, 7, None), (6, 1, None), (7, 9, 1), (30, 20, None), (30, 20, 2), (20, 45, 2),
         (64, 50, 5), (120, 97, None), (97, 300, 40)]


@pytest.mark.parametrize("n,m,band", CASES)
@pytest.mark.parametrize("metric", METRICS)
def test_feature_dtw_equals_the_numpy_sweep_on_the_cost_matrix(n, m, band, metric):
    """Costs on the fly vs the numpy sweep over cdist's float64 matrix: identical paths, distances to 1e-9."""
    rng = np.random.default_rng(n * 1000 + m)
    for _ in range(3):
        a, b = rng.standard_normal((n, 6)), rng.standard_normal((m, 6))
        want = dtw(cost_matrix(a, b, metric, dtype=np.float64), band)
        got = feature_dtw(a, b, metric, band)
        np.testing.assert_array_equal(got.path, want.path)
        assert got.distance == pytest.approx(want.distance, rel=1e-9)
        assert feature_dtw_distance(a, b, metric, band) == got.distance


@pytest.mark.parametrize("n,m,band", CASES)
@pytest.mark.parametrize("integer", [False, True])
def test_matrix_dtw_equals_the_numpy_sweep(n, m, band, integer):
    """The compiled sweep over a precomputed matrix (what ``posecli align`` runs), float32 and small integers
    (many exact ties: the tie order must be the same)."""
    rng = np.random.default_rng(n + 7 * m)
    for _ in range(3):
        cost = random_costs(rng, n, m, integer).astype(np.float32)
        want, got = dtw(cost, band), matrix_dtw(cost, band)
        np.testing.assert_array_equal(got.path, want.path)
        assert got.distance == pytest.approx(want.distance, rel=1e-9)
        if integer:
            assert got.distance == want.distance


@pytest.mark.parametrize("n,m,band", [(700, 650, None), (650, 700, 60), (1500, 40, None), (40, 1500, None)])
def test_block_wise_backtrack_on_long_sequences(n, m, band):
    """The kernel keeps one row of D in every ~sqrt(32 N) and recomputes decisions one block at a time while
    walking back (700 rows: 5 blocks; 1500: 7): the path must still be the full-matrix one, including where
    it crosses block edges vertically (N >> M) or along a row (N << M)."""
    rng = np.random.default_rng(n + m)
    a, b = rng.standard_normal((n, 5)), rng.standard_normal((m, 5))
    want = dtw(cost_matrix(a, b, dtype=np.float64), band)
    got = feature_dtw(a, b, band=band)
    np.testing.assert_array_equal(got.path, want.path)
    assert got.distance == pytest.approx(want.distance, rel=1e-9)
    cost = random_costs(rng, n, m, True).astype(np.float32)  # many exact ties across the block edges
    np.testing.assert_array_equal(matrix_dtw(cost, band).path, dtw(cost, band).path)


def test_compiled_sweep_matches_the_textbook_reference():
    rng = np.random.default_rng(11)
    for n, m in SIZES:
        for integer in (False, True):
            cost = random_costs(rng, n, m, integer)
            want_distance, want_path = reference_dtw(cost)
            got = matrix_dtw(cost)
            assert got.path.tolist() == [list(p) for p in want_path]
            assert got.distance == pytest.approx(want_distance, rel=1e-12)


def test_feature_dtw_refuses_what_the_numpy_sweep_refuses():
    a, b = np.random.default_rng(12).standard_normal((2, 10, 3))
    a[4, 1] = np.nan
    with pytest.raises(PoseCliError, match="NaN or infinite values in row 4"):
        feature_dtw(a, b)
    with pytest.raises(PoseCliError, match="NaN or infinite"):
        feature_dtw(np.zeros((3, 2)), np.ones((4, 2)), "cosine")  # cosine of an all-zero frame
    with pytest.raises(PoseCliError, match="unknown metric"):
        feature_dtw(b, b, "manhattan")
    with pytest.raises(PoseCliError, match="shapes"):
        feature_dtw(b, b[:, :2])
    with pytest.raises(PoseCliError, match="band=0 leaves no warping path"):
        feature_dtw(b[:3], np.tile(b, (4, 1)), band=0)
    with pytest.raises(PoseCliError, match="band does not apply"):
        feature_dtw(b[:3], b, band=2, subsequence=True)


@pytest.mark.parametrize("n,m", [(1, 1), (1, 8), (5, 1), (4, 30), (12, 40), (30, 20), (150, 90)])
@pytest.mark.parametrize("integer", [False, True])
def test_subsequence_matches_the_textbook_reference(n, m, integer):
    rng = np.random.default_rng(n * 31 + m)
    for _ in range(5):
        cost = random_costs(rng, n, m, integer)
        want_distance, want_path = reference_subsequence_dtw(cost)
        got = matrix_dtw(cost, subsequence=True)
        assert isinstance(got, SubsequenceMatch)
        assert got.path.tolist() == [list(p) for p in want_path]
        assert got.distance == pytest.approx(want_distance, rel=1e-12)
        assert (got.start, got.end) == (want_path[0][1], want_path[-1][1])
        assert got.normalized_distance == pytest.approx(want_distance / len(want_path), rel=1e-12)


def smooth_signal(rng, frames, dims=16, sigma=4.0):
    """A random smooth D-dimensional signal: white noise low-passed by a Gaussian of ``sigma`` frames."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(rng.standard_normal((frames + 60, dims)), sigma, axis=0)[30:-30] * 4


@pytest.mark.parametrize("seed", range(5))
def test_subsequence_finds_a_one_second_clip_in_six_seconds(seed):
    """6 s at 30 fps; 1 s cut at a known offset, played with a slow-fast time warp (to 36 frames) and noise:
    the matched span must be within 3 frames of where the clip was cut. Whole-sequence DTW cannot tell."""
    rng = np.random.default_rng(seed)
    reference = smooth_signal(rng, 180)
    first = int(rng.integers(10, 140))
    last = first + 29
    u = np.linspace(0, 1, 36) ** 1.3  # monotone warp of the clip's time, 30 -> 36 frames
    t = first + 29 * u
    query = np.stack([np.interp(t, np.arange(180), reference[:, k]) for k in range(16)], 1)
    query += 0.1 * rng.standard_normal(query.shape)
    found = feature_dtw(query, reference, subsequence=True)
    assert abs(found.start - first) <= 3 and abs(found.end - last) <= 3, (first, found.start, found.end)
    assert found.path[0, 0] == 0 and found.path[-1, 0] == len(query) - 1
    assert {tuple(s) for s in np.diff(found.path, axis=0)} <= {(1, 0), (0, 1), (1, 1)}
    assert found.distance == pytest.approx(feature_dtw_distance(query, reference, subsequence=True), rel=1e-12)
    assert found.distance == pytest.approx(
        matrix_dtw(cost_matrix(query, reference, dtype=np.float64), subsequence=True).distance, rel=1e-9)
    whole = feature_dtw(query, reference)  # pinned to the corners: starts at B's frame 0, ends at 179
    assert whole.path[0, 1] == 0 and whole.path[-1, 1] == 179 and whole.distance > found.distance


def test_missing_compiled_kernel_is_one_clear_error(monkeypatch):
    """A source tree used without `pip install -e .` has no _dtw extension: DTW says how to build it."""
    import sys

    # posecli.align re-exports the function dtw, which shadows the module of that name as an attribute
    monkeypatch.setattr(sys.modules["posecli.align.dtw"], "_dtw", None)
    with pytest.raises(PoseCliError, match="not built") as err:
        feature_dtw(np.zeros((3, 2)), np.ones((4, 2)))
    assert "pip install -e ." in str(err.value)
