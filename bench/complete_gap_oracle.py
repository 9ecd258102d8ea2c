"""How much the frames around a gap can tell, at most, by interpolation: issue 20's mid-clip leg gaps (knees and
ankles hidden 1 s, seen 1 s before and after, as ``posecli.amodal.occlusion.leg_gap``) filled by linear
interpolation of the *true* canonical joints across each gap. An oracle: it knows the legs exactly at the gap's
edges, which no model does. Compare its error with ``bench/complete_eval.py --leg-gaps`` (the model's gap and
whole-window errors) and with the model's own error on visible legs.

    python bench/complete_gap_oracle.py                       # every subject of the shared CMU set
    python bench/complete_gap_oracle.py --subjects 006
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from posecli.amodal.canonical import canonicalize
from posecli.amodal.occlusion import leg_gap
from posecli.amodal.pipeline import hidden_h36m
from posecli.mocap.sources import load_mocap


def oracle_errors(h36m: np.ndarray) -> np.ndarray:
    """Hidden-joint errors (metres) of the true canonical legs interpolated linearly across each gap."""
    gt = canonicalize(h36m)[0]
    hidden = hidden_h36m(~leg_gap(len(gt), "gap"))  # hidden_h36m takes the COCO joints seen
    rows, legs = hidden.any(1), np.flatnonzero(hidden.any(0))
    t = np.arange(len(gt))
    filled = gt.copy()
    for j in legs:
        for c in range(3):
            filled[rows, j, c] = np.interp(t[rows], t[~rows], gt[~rows, j, c])
    return np.linalg.norm(filled - gt, axis=-1)[hidden]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="cmu:../shared/data/mocap")
    ap.add_argument("--subjects", nargs="+", default=None, help="default: every subject")
    args = ap.parse_args()
    data = load_mocap(args.data)
    subjects = args.subjects or sorted({s.subject for s in data.sequences})
    out = {}
    for sub in subjects:
        errors = np.concatenate([oracle_errors(s.joints["h36m17"]) for s in data.split([sub])[1].sequences])
        out[sub] = {"oracle_gap_mm": round(1000 * float(errors.mean()), 1), "hidden_joint_frames": int(errors.size)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
