"""Benchmark ``posecli.align`` DTW against dtaidistance 2.5.1 on the same 16-D sequences.

Sequences: A and B of n frames, standard normal, 16 features, from ``default_rng(0)`` (A drawn first).
dtaidistance's DTW on sequences returns sqrt(sum of squared Euclidean distances along the path), so ours is
run with squared Euclidean costs and reports the sqrt of its distance: both then minimise the same sum.

Cases: posecli's compiled sweep (the C extension posecli/align/_dtw.c) with costs on the fly (``feature_dtw``, with
path, and ``feature_dtw_distance``), the numpy sweep on a precomputed float32 cost matrix (``cost_matrix`` +
``dtw``: the reference, and what posecli did before; its cost-matrix time also given alone as ``cost_s``),
subsequence DTW (``feature_dtw(..., subsequence=True)``: the query is B's frames [n/2, n/2 + n/5) plus N(0, 0.1)
noise, searched in B; ``found`` gives the matched span), and dtaidistance's ``distance_fast``,
``warping_path_fast`` and its ``use_lowmem`` mode.

Each case runs in a fresh subprocess that imports only its own tool, so that peak memory (``ru_maxrss``) is its
own; ``above_mb`` is that peak minus the ``baseline_*`` row of the same tool (imports and data only). The goal
(issue 19) is on the absolute peak: <= 50 MB with path at 10k x 10k, in <= 1.0x dtaidistance's time.
Time is the median of 3 runs in the process, after a tiny call of the same function (imports, first-call costs).

    pip install dtaidistance==2.5.1      # the reference tool; not a posecli dependency (pip install -e ".[bench]")
    python bench/dtw_bench.py [N ...]    # default: 2000 10000

Prints one JSON object per row, then a table.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HAVE_DTAI = importlib.util.find_spec("dtaidistance") is not None

REPEATS = 3
FEATURES = 16


def sequences(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, FEATURES)), rng.standard_normal((n, FEATURES))


def path_digest(path) -> str:
    """Paths are compared between subprocesses by a hash of their (K, 2) int64 form."""
    return hashlib.sha1(np.asarray(path, np.int64).tobytes()).hexdigest()[:12]


def sqrt_cost_along(path, a, b) -> float:
    """dtaidistance's distance for a given path (its low-memory path call returns no distance)."""
    p = np.asarray(path)
    return float(np.sqrt(((a[p[:, 0]] - b[p[:, 1]]) ** 2).sum()))


# Each case: (a, b) -> (distance, path or None, seconds spent on the cost matrix or None[, extra fields]).
# Tools are imported inside the cases (and the baselines), so each subprocess holds only its own.
def dtai_distance_fast(a, b):
    from dtaidistance import dtw_ndim

    return dtw_ndim.distance_fast(a, b), None, None


def dtai_warping_path_fast(a, b):
    from dtaidistance import dtw

    path, d = dtw.warping_path_fast(a, b, include_distance=True)
    return d, path, None


def dtai_warping_path_lowmem(a, b):
    from dtaidistance import dtw

    path = dtw.warping_path_fast(a, b, use_lowmem=True)  # include_distance is ignored on this branch
    return None, path, None


def posecli_feature_dtw_path(a, b):
    from posecli.align import feature_dtw

    result = feature_dtw(a, b, "sqeuclidean")
    return float(np.sqrt(result.distance)), result.path, None


def posecli_feature_dtw_distance(a, b):
    from posecli.align import feature_dtw_distance

    return float(np.sqrt(feature_dtw_distance(a, b, "sqeuclidean"))), None, None


def posecli_numpy_dtw_path(a, b):
    from posecli.align import cost_matrix, dtw

    t0 = time.perf_counter()
    cost = cost_matrix(a, b, "sqeuclidean")
    cost_s = time.perf_counter() - t0
    result = dtw(cost)
    return float(np.sqrt(result.distance)), result.path, cost_s


def subsequence_query(b):
    n = len(b)
    start, length = n // 2, n // 5
    noise = np.random.default_rng(1).normal(0, 0.1, (length, b.shape[1]))
    return b[start:start + length] + noise, (start, start + length - 1)


def posecli_subsequence_path(a, b):
    from posecli.align import feature_dtw

    query, cut = subsequence_query(b)
    found = feature_dtw(query, b, "sqeuclidean", subsequence=True)
    return None, None, None, {"query": len(query), "cut": list(cut), "found": [found.start, found.end],
                              "path_len": len(found.path), "sub_distance": float(np.sqrt(found.distance))}


CASES = {f.__name__: f for f in (dtai_distance_fast, dtai_warping_path_fast, dtai_warping_path_lowmem,
                                 posecli_feature_dtw_path, posecli_feature_dtw_distance, posecli_numpy_dtw_path,
                                 posecli_subsequence_path)}
BASELINES = ("baseline_python", "baseline_dtai", "baseline_posecli")


def load_tool(name: str) -> None:
    """Imports what the case uses and calls it once on tiny data before timing; counted in the baseline.
    (Only what it uses: the numpy "before" case also loads scipy for cdist, the compiled ones do not.)"""
    if "dtai" in name:
        from dtaidistance import dtw, dtw_ndim  # noqa: F401
    elif name == "posecli_numpy_dtw_path":
        from posecli.align import cost_matrix, dtw

        x = np.random.default_rng(5).standard_normal((9, FEATURES))
        dtw(cost_matrix(x, x, "sqeuclidean"))
    elif "posecli" in name:
        from posecli.align import feature_dtw, feature_dtw_distance

        x = np.random.default_rng(5).standard_normal((9, FEATURES))
        feature_dtw(x, x, "sqeuclidean"), feature_dtw_distance(x, x, "sqeuclidean")
        feature_dtw(x[:3], x, "sqeuclidean", subsequence=True)


def run_case(name: str, n: int) -> dict:
    """In the child: time one case, then report its peak memory."""
    a, b = sequences(n)
    load_tool(name)
    row = {"case": name, "n": n}
    if name not in BASELINES:
        times, cost_times = [], []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            distance, path, cost_s, *extra = CASES[name](a, b)
            times.append(time.perf_counter() - t0)
            cost_times.append(cost_s)
        if path is not None:
            if distance is None:
                distance = sqrt_cost_along(path, a, b)
            row.update(path_len=len(path), path_sha1=path_digest(path))
        row.update(seconds=round(statistics.median(times), 3), distance=distance)
        if cost_times[0] is not None:
            row["cost_s"] = round(statistics.median(cost_times), 3)
        if extra:
            row.update(extra[0])
    row["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def main(sizes: list[int]) -> None:
    if not HAVE_DTAI:
        print("dtaidistance not installed: only posecli rows (pip install dtaidistance==2.5.1)", file=sys.stderr)
    names = [c for c in BASELINES + tuple(CASES) if HAVE_DTAI or "dtai" not in c]
    # One thread for BLAS/OpenMP: both tools are single-threaded here, and the machine may be shared.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows = []
    for n in sizes:
        for name in names:
            out = subprocess.run([sys.executable, __file__, "--case", name, str(n)], env=env,
                                 capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out))
            print(json.dumps(rows[-1]), flush=True)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    # Every distance is checked against the first one of its n (dtaidistance's, when installed); peak memory also
    # as the increase over the baseline of the same tool (imports and data).
    reference, paths, base = {}, {}, {}
    for r in rows:
        if r.get("distance") is not None:
            reference.setdefault(r["n"], r["distance"])
        if "path_sha1" in r:
            paths.setdefault(r["n"], r["path_sha1"])
        if r["case"].startswith("baseline_"):
            base[r["n"], r["case"].removeprefix("baseline_")] = r["peak_mb"]
    print(f"\n{'case':30s} {'n':>6s} {'time s':>8s} {'cost s':>8s} {'peak MB':>8s} {'above MB':>8s} "
          f"{'distance':>14s} {'rel.diff':>9s} {'same path':>9s}")
    for r in rows:
        d = r.get("distance")
        rel = "" if d is None else f"{abs(d - reference[r['n']]) / reference[r['n']]:.1e}"
        same = "" if "path_sha1" not in r else ("yes" if r["path_sha1"] == paths[r["n"]] else "NO")
        tool = next((t for t in ("dtai", "posecli") if t in r["case"]), None)
        above = "" if tool is None or r["case"].startswith("baseline") else f"{r['peak_mb'] - base[r['n'], tool]:.1f}"
        found = f"  query {r['query']} frames cut at {r['cut']}, found {r['found']}" if "found" in r else ""
        print(f"{r['case']:30s} {r['n']:6d} {r.get('seconds', ''):>8} {r.get('cost_s', ''):>8} "
              f"{r['peak_mb']:8.1f} {above:>8s} {'' if d is None else f'{d:.6f}':>14s} {rel:>9s} {same:>9s}{found}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2], int(sys.argv[3]))))
    else:
        main([int(x) for x in sys.argv[1:]] or [2000, 10000])
