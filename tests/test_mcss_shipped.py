"""The shipped MCSS model (weights/mcss.safetensors) reproduces its card on the held-out sample in the repo
(renders of CMU subjects 006 and 131, never seen in training; tests/data/mcss_heldout_sample)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "mcss.safetensors"


def test_shipped_mcss_reproduces_its_card():
    card = json.loads(WEIGHTS.with_suffix(".json").read_text())
    assert card["model"] == "McssNet" and card["command"].startswith("posecli train mcss")
    assert card["bytes"] <= 25e6 and card["dtype"] == "float16"
    sys.path.insert(0, str(ROOT / "bench"))
    from mcss_card_sample import sample_metrics

    got = sample_metrics(WEIGHTS)  # also checks the file against the card's sha256
    want = card["metrics"]["card_sample"]
    assert got["frames"] == want["frames"] == 80
    for key in ("n_mpjpe_mm", "mpjpe_mm", "pa_mpjpe_mm"):
        assert got[key] == pytest.approx(want[key], abs=0.5), key
