"""How far a learned in-betweener gets on issue 20's leg cases when every seen joint is known *exactly*: a small
bidirectional GRU trained on the true canonical motion of the training subjects (knees and ankles hidden over the
whole window, a middle span of 3-60 frames, or the last 1-60 frames), scored on held-out subjects with
``posecli.amodal.occlusion.leg_gap``'s cases. No user has true 3D, so this is a ceiling on what the frames around
a gap, and the rest of the body during it, can give with the project's motion capture; it ships nothing. Compare
with ``bench/complete_eval.py --leg-gaps`` (the product, from 2D) and ``bench/complete_gap_oracle.py`` (the true
legs interpolated). About 15 minutes on one CPU thread at the default 6,000 steps.

    OMP_NUM_THREADS=1 python bench/complete_gap_ceiling.py                  # held-out subject 006
    OMP_NUM_THREADS=1 python bench/complete_gap_ceiling.py --val-subjects 131 --exclude-subjects 006
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from posecli.amodal.canonical import canonicalize
from posecli.amodal.occlusion import leg_gap
from posecli.amodal.pipeline import hidden_h36m
from posecli.mocap.sources import load_mocap
from posecli.train.clips import glitch_mask, mirror

WINDOW = 90  # the completion model's window (3 s at 30 fps)
LEGS = np.flatnonzero(hidden_h36m(~leg_gap(1, "whole"))[0])  # h36m17 knees and ankles: what the cases hide


class Inbetween(nn.Module):
    """True canonical joints with the legs zeroed where hidden, plus a hidden flag per frame -> the legs."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.inp = nn.Linear(17 * 3 + 1, hidden)
        self.gru = nn.GRU(hidden, hidden, 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, len(LEGS) * 3)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:  # (B, T, 17, 3), (B, T) bool
        x = x.clone()
        x[:, :, LEGS] = x[:, :, LEGS] * (~hidden)[..., None, None]
        y, _ = self.gru(torch.relu(self.inp(torch.cat([x.flatten(2), hidden[..., None].float()], -1))))
        legs = self.out(y).view(*hidden.shape, len(LEGS), 3)
        return torch.where(hidden[..., None, None], legs, x[:, :, LEGS])


def training_mask(rng: np.random.Generator) -> np.ndarray:
    """(WINDOW,) frames whose legs are hidden: the whole window, a middle span, or the end, equally often."""
    m = np.zeros(WINDOW, bool)
    kind = rng.integers(3)
    if kind == 0:
        m[:] = True
    elif kind == 1:
        n = rng.integers(3, 61)
        start = rng.integers(1, WINDOW - n)
        m[start:start + n] = True
    else:
        m[WINDOW - rng.integers(1, 61):] = True
    return m


def windows(sequences) -> list[np.ndarray]:
    """Canonical true motion cut where retargeting glitches are (as ``train amodal`` avoids them)."""
    out = []
    for seq in sequences:
        gt, bad = canonicalize(seq.joints["h36m17"])[0], glitch_mask(seq)
        edges = np.flatnonzero(np.diff(np.r_[1, bad.astype(int), 1]))  # clean runs between glitches
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= WINDOW:
                out.append(gt[a:b])
    return out


def train(runs: list[np.ndarray], steps: int, seed: int, batch: int = 32) -> Inbetween:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    weights = np.array([len(r) - WINDOW + 1 for r in runs], float)
    net = Inbetween()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for step in range(steps):
        xs = []
        for i in rng.choice(len(runs), batch, p=weights / weights.sum()):
            start = rng.integers(0, len(runs[i]) - WINDOW + 1)
            x = runs[i][start:start + WINDOW]
            xs.append(mirror(x, "h36m17") if rng.random() < 0.5 else x)
        x = torch.tensor(np.stack(xs))
        h = torch.tensor(np.stack([training_mask(rng) for _ in range(batch)]))
        err = torch.linalg.norm(net(x, h) - x[:, :, LEGS], dim=-1)
        loss = (err * h[..., None]).sum() / (h.sum() * len(LEGS))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0 or step == steps - 1:
            print(f"step {step}: training hidden-leg error {1000 * loss.item():.1f} mm, {time.time() - t0:.0f} s",
                  flush=True)
    return net.eval()


@torch.no_grad()
def score(net: Inbetween, sequences) -> dict:
    out = {}
    truths = [canonicalize(seq.joints["h36m17"])[0] for seq in sequences]
    for case in ("whole", "gap", "end", "middle"):
        errs = []
        for gt in truths:
            rows = hidden_h36m(~leg_gap(len(gt), case))[:, LEGS].any(1)
            pred = net(torch.tensor(gt)[None], torch.tensor(rows)[None])[0].numpy()
            errs.append(np.linalg.norm(pred - gt[:, LEGS], axis=-1)[rows])
        out[f"{case}_mm"] = round(1000 * float(np.concatenate(errs).mean()), 1)
    out["gap_over_whole"] = round(out["gap_mm"] / out["whole_mm"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="cmu:../shared/data/mocap")
    ap.add_argument("--val-subjects", nargs="+", default=["006"])
    ap.add_argument("--exclude-subjects", nargs="+", default=[])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train_set, val = load_mocap(args.data).split(args.val_subjects)
    sequences = [s for s in train_set.sequences if s.subject not in set(args.exclude_subjects)]
    runs = windows(sequences)
    print(f"training on {len(runs)} clean runs, {sum(map(len, runs))} frames", flush=True)
    net = train(runs, args.steps, args.seed)
    result = {"val_subjects": args.val_subjects, "steps": args.steps, "seed": args.seed,
              "training_frames": int(sum(map(len, runs))), "held_out_hidden_legs": score(net, val.sequences)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
