"""Benchmark ``posecli.align`` DTW against dtaidistance 2.5.1 on the same 16-D sequences.

Sequences: A and B of n frames, standard normal, 16 features, from ``default_rng(0)`` (A drawn first).
dtaidistance's DTW on sequences returns sqrt(sum of squared Euclidean distances along the path), so ours is
fed squared Euclidean costs (``cost_matrix(..., "sqeuclidean")``, float32 as in production) and reports the
sqrt of its distance: both then minimise the same sum. Each case runs in a fresh subprocess so that peak
memory (``ru_maxrss``) is its own; time is the median of 3 runs; ours include computing the cost matrix,
whose time is also given alone (``cost_s``). The ``baseline`` row is the peak after imports and data only.

    pip install dtaidistance==2.5.1      # the reference tool; not a posecli dependency
    python bench/dtw_bench.py [N ...]    # default: 2000 10000

Prints one JSON object per row, then a table.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from posecli.align import cost_matrix, dtw, dtw_distance

try:
    from dtaidistance import dtw as dtai_dtw
    from dtaidistance import dtw_ndim as dtai_ndim
except ImportError:
    dtai_dtw = dtai_ndim = None

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


# Each case: (a, b) -> (distance, path or None, seconds spent on the cost matrix or None).
def dtai_distance_fast(a, b):
    return dtai_ndim.distance_fast(a, b), None, None


def dtai_warping_path_fast(a, b):
    path, d = dtai_dtw.warping_path_fast(a, b, include_distance=True)
    return d, path, None


def dtai_warping_path_lowmem(a, b):
    path = dtai_dtw.warping_path_fast(a, b, use_lowmem=True)  # include_distance is ignored on this branch
    return None, path, None


def ours_cost_matrix(a, b):
    t0 = time.perf_counter()
    cost_matrix(a, b, "sqeuclidean")
    return None, None, time.perf_counter() - t0


def ours_dtw_distance(a, b):
    t0 = time.perf_counter()
    cost = cost_matrix(a, b, "sqeuclidean")
    cost_s = time.perf_counter() - t0
    return float(np.sqrt(dtw_distance(cost))), None, cost_s


def ours_dtw_path(a, b):
    t0 = time.perf_counter()
    cost = cost_matrix(a, b, "sqeuclidean")
    cost_s = time.perf_counter() - t0
    result = dtw(cost)
    return float(np.sqrt(result.distance)), result.path, cost_s


CASES = {f.__name__: f for f in (dtai_distance_fast, dtai_warping_path_fast, dtai_warping_path_lowmem,
                                 ours_cost_matrix, ours_dtw_distance, ours_dtw_path)}


def run_case(name: str, n: int) -> dict:
    """In the child: time one case, then report its peak memory."""
    a, b = sequences(n)
    row = {"case": name, "n": n}
    if name != "baseline":
        times, cost_times = [], []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            distance, path, cost_s = CASES[name](a, b)
            times.append(time.perf_counter() - t0)
            cost_times.append(cost_s)
        if path is not None:
            if distance is None:
                distance = sqrt_cost_along(path, a, b)
            row.update(path_len=len(path), path_sha1=path_digest(path))
        row.update(seconds=round(statistics.median(times), 3), distance=distance)
        if cost_times[0] is not None:
            row["cost_s"] = round(statistics.median(cost_times), 3)
    row["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def main(sizes: list[int]) -> None:
    if dtai_dtw is None:
        print("dtaidistance not installed: only posecli rows (pip install dtaidistance==2.5.1)", file=sys.stderr)
    names = ["baseline"] + [c for c in CASES if dtai_dtw is not None or not c.startswith("dtai")]
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
    # Every distance is checked against the first one of its n (dtaidistance's, when installed).
    reference = {}
    for r in rows:
        if r.get("distance") is not None:
            reference.setdefault(r["n"], r["distance"])
    paths = {}
    for r in rows:
        if "path_sha1" in r:
            paths.setdefault(r["n"], r["path_sha1"])
    print(f"\n{'case':26s} {'n':>6s} {'time s':>8s} {'cost s':>8s} {'peak MB':>8s} {'distance':>14s} "
          f"{'rel.diff':>9s} {'same path':>9s}")
    for r in rows:
        d = r.get("distance")
        rel = "" if d is None else f"{abs(d - reference[r['n']]) / reference[r['n']]:.1e}"
        same = "" if "path_sha1" not in r else ("yes" if r["path_sha1"] == paths[r["n"]] else "NO")
        print(f"{r['case']:26s} {r['n']:6d} {r.get('seconds', ''):>8} {r.get('cost_s', ''):>8} "
              f"{r['peak_mb']:8.1f} {'' if d is None else f'{d:.6f}':>14s} {rel:>9s} {same:>9s}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2], int(sys.argv[3]))))
    else:
        main([int(x) for x in sys.argv[1:]] or [2000, 10000])
