"""The small held-out sample a shipped MCSS card is checked against (tests/test_mcss_shipped.py).

``--make``: cut ``tests/data/mcss_heldout_sample`` (an H.264 crop pack, ~100 kB) from a held-out crop cache:
clips 0004 (CMU 131) and 0007 (CMU 006) of the held-out renders, all 4 views, every 4th frame.
``--card W``: evaluate weights W on the unpacked sample and store the figures in W's card as
``metrics.card_sample`` (what the test reproduces).

    python bench/mcss_card_sample.py --make --cache CROPS_OF_HELD_OUT
    python bench/mcss_card_sample.py --card weights/mcss.safetensors
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from posecli.images.cache import FrameSample, load_cache, write_cache
from posecli.images.pack import pack_cache, unpack_cache
from posecli.mcss.canonical import canonical
from posecli.mcss.evaluate import pose_errors
from posecli.mcss.pipeline import load_mcss
from posecli.train.mcss import predict

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "mcss_heldout_sample"
CLIPS = ("clip_0004", "clip_0007")


def make(cache: str) -> None:
    c = load_cache(cache)
    groups, subjects, views = c.names("groups"), c.names("subjects"), c.names("views")
    keep = [i for i in range(len(c)) if groups[c.group[i]].split("/")[-1] in CLIPS and c.instant[i] % 4 == 0]
    centre = np.array([c.size / 2, c.size / 2, c.size], np.float64)  # a crop of the whole crop: a copy
    samples = (FrameSample(groups[c.group[i]], subjects[c.subject[i]], views[c.view[i]], int(c.instant[i]),
                           np.asarray(c.crops[i]), centre, c.pose[i], float(c.time[i])) for i in keep)
    with tempfile.TemporaryDirectory() as tmp:
        write_cache(samples, Path(tmp) / "raw", c.size, f"{c.meta['source']} clips {', '.join(CLIPS)}, every 4th")
        if SAMPLE.exists():
            shutil.rmtree(SAMPLE)
        pack_cache(Path(tmp) / "raw", SAMPLE)
    print(f"wrote {SAMPLE}: {len(keep)} crops")


def sample_metrics(weights: str | Path) -> dict:
    model, _ = load_mcss(weights)
    with tempfile.TemporaryDirectory() as tmp:
        c = load_cache(unpack_cache(SAMPLE, Path(tmp) / "sample"))
        _, pred = predict(model, c.crops)
        return pose_errors(pred, canonical(c.pose))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--make", action="store_true")
    ap.add_argument("--cache")
    ap.add_argument("--card")
    args = ap.parse_args()
    if args.make:
        make(args.cache)
    if args.card:
        m = sample_metrics(args.card)
        card_path = Path(args.card).with_suffix(".json")
        card = json.loads(card_path.read_text())
        card.setdefault("metrics", {})["card_sample"] = {"sample": "tests/data/mcss_heldout_sample", **m}
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(json.dumps(m))


if __name__ == "__main__":
    main()
