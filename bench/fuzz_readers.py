"""Property-based fuzzing of every file reader (issue 21): N generated inputs per reader, counted.

    python bench/fuzz_readers.py --examples 10000 > /work/runs/fuzz_readers.jsonl

For each reader (native NPZ and JSON, COCO JSON, VideoPose3D NPZ, TRC, CSV, BVH, OpenPose JSON folders, the
Pose2Sim calibration TOML, synth manifests) hypothesis draws ``--examples`` inputs from the strategies in
``tests/fuzz_inputs.py`` (valid seed files written by posecli's own writers, mutated at byte and structure level)
with ``settings(max_examples=N, derandomize=True, database=None)``: the same inputs on every run. The test body
never fails, so hypothesis neither stops nor shrinks; it counts each input's outcome with
``fuzz_inputs.run_reader``: a valid result, posecli's own one-line error, or a failure (another exception, an
invalid result, a multi-line message, an unpickled object array, or a hang: no answer within 5 s under
``signal.setitimer``). The address space is capped (``--memory-gb``, default 4, ``RLIMIT_AS``) so that a
blow-up shows as MemoryError and counts as uncaught.

Prints one JSON line per reader (reader, inputs, ok_results, posecli_errors, uncaught, hangs, invalid_results,
unpickled, multiline_errors, max_seconds, seconds, first_failures), then a table on stderr. Exit status 1 when
any reader had a failure.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402

import fuzz_inputs  # noqa: E402


def fuzz(reader: str, examples: int) -> dict:
    counts: Counter = Counter()
    failures: list[str] = []
    kinds_seen: set[str] = set()
    worst = [0.0]

    def one(case) -> None:
        outcome = fuzz_inputs.run_case(reader, case, fuzz_inputs.run_reader)
        counts[outcome.kind] += 1
        worst[0] = max(worst[0], outcome.seconds)
        if not outcome.passed:
            key = outcome.kind + ":" + outcome.error.split(":")[0]
            if key not in kinds_seen and len(failures) < 8:
                kinds_seen.add(key)
                failures.append(f"{outcome.kind}: {outcome.error}"[:300])

    run = settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck))(given(fuzz_inputs.inputs(reader))(one))
    t0 = time.perf_counter()
    run()
    return {"reader": reader, "inputs": sum(counts.values()), "ok_results": counts["ok"],
            "posecli_errors": counts["posecli_error"], "uncaught": counts["uncaught"], "hangs": counts["hang"],
            "invalid_results": counts["invalid"], "unpickled": counts["unpickled"],
            "multiline_errors": counts["multiline"], "max_seconds": round(worst[0], 3),
            "seconds": round(time.perf_counter() - t0, 1), "first_failures": failures}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=10000, help="generated inputs per reader")
    ap.add_argument("--readers", nargs="*", default=list(fuzz_inputs.READERS), choices=fuzz_inputs.READERS)
    ap.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap (RLIMIT_AS)")
    args = ap.parse_args()
    from posecli.console import set_quiet

    set_quiet(True)
    # numpy's "overflow in cast" when 1e308 becomes float32 inf: the readers then report the inf themselves
    warnings.simplefilter("ignore", RuntimeWarning)
    fuzz_inputs.seeds()  # made before the cap, with the writers
    cap = int(args.memory_gb * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    rows = []
    for reader in args.readers:
        row = fuzz(reader, args.examples)
        rows.append(row)
        print(json.dumps(row), flush=True)
    cols = ["reader", "inputs", "ok_results", "posecli_errors", "uncaught", "hangs", "invalid_results",
            "unpickled", "multiline_errors", "max_seconds", "seconds"]
    print(" | ".join(cols), file=sys.stderr)
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols), file=sys.stderr)
    bad = sum(r["uncaught"] + r["hangs"] + r["invalid_results"] + r["unpickled"] + r["multiline_errors"]
              for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
