"""Time a training step of the `estimate` lifter on a device: the shipped TCN (receptive field 27, 1024
channels) or SPS-Net, the batch and losses of `posecli train estimate`, real clips from prepared mocap.

Runs `posecli.train.estimate.train_lifter` itself for `--steps` steps (so what is timed is the training loop
users run, sampling included) and reports the median wall time per step after `--warmup` steps, plus the time
of sampling a batch alone (CPU, numpy). On CUDA the clock is read after `loss.item()`, which waits for the GPU.

    posecli data prepare --mocap ../shared/data/mocap -o cmu.npz
    python bench/train_step.py --data cmu.npz --device cpu
    python bench/train_step.py --data cmu.npz --device cuda --model sps

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from posecli.mocap.dataset import MocapDataset
from posecli.models.sps_lifter import LifterConfig
from posecli.train.clips import ClipSampler
from posecli.train.estimate import EstimateTrainConfig, clip_frames, train_lifter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared mocap .npz (posecli data prepare)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", choices=("tcn", "sps"), default="tcn")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    data = MocapDataset.load(a.data)
    model = (LifterConfig(temporal="tcn", receptive_field=27, channels=1024) if a.model == "tcn"
             else LifterConfig())
    cfg = EstimateTrainConfig(steps=a.steps, batch=a.batch, augment=True, model=model)
    stamps: list[float] = []
    losses: list[float] = []

    def on_step(step: int, logs: dict[str, float]) -> None:  # logs hold loss.item(): the GPU has finished
        stamps.append(time.perf_counter())
        losses.append(logs["loss"])

    t0 = time.perf_counter()
    train_lifter(data, cfg, device=a.device, on_step=on_step)
    steps = np.diff([t0, *stamps])[a.warmup:]
    sampler = ClipSampler(data, clip_frames(cfg), seed=1, augment=True)
    sample_s = []
    for _ in range(10):
        s0 = time.perf_counter()
        sampler.sample(a.batch)
        sample_s.append(time.perf_counter() - s0)
    gpu = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None
    print(json.dumps({
        "model": a.model, "device": a.device, "gpu": gpu, "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "batch": a.batch,
        "clip_frames": clip_frames(cfg), "timed_steps": len(steps),
        "step_s_median": round(statistics.median(steps), 4), "steps_per_s": round(1 / statistics.median(steps), 2),
        "sample_s_median": round(statistics.median(sample_s), 4),
        "loss_first_last": [round(losses[0], 3), round(losses[-1], 3)]}))


if __name__ == "__main__":
    main()
