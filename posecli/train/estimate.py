"""``posecli train estimate``: the SPS lifter (seed 004) on mocap clips seen by random cameras.

Losses (weights in ``EstimateTrainConfig``; L2 norms, not squared, so metres read as metres):
- 3D: mean per-joint distance to the root-relative H36M-17 target (camera axes);
- 2D: reprojection of the 3D through the predicted weak-perspective camera onto the clean 2D of the H36M joints;
- feature forecasting: || f_{i+1} - F(f_i) || (target detached, see the model);
- camera consistency: clips S1 = frames 0..N-1 and S2 = 1..N must give the same camera on the 31 shared frames;
- occlusion consistency (the paper's self-supervised occlusion loss, on keypoints): 3-5 joints per frame are
  dropped from S1 and the outputs must match those of the intact S1 (targets detached).
Data: mocap clips with modelled detector noise (``clips``), optionally mixed with clips of ``posecli synth``
renders where the input is BlazePose's real output on the image and the target the rendered body's 3D
(``synth_clips``), the same losses on both.
The paper trains from pretrained HMR at lr 5e-5; from scratch we use AdamW 1e-3 with cosine decay.

``model.temporal == "tcn"``: the VideoPose3D baseline (``models.tcn_lifter``) on the same data, batch, steps
and schedule. Each clip is receptive_field - 1 + ``length`` frames and the loss covers the ``length`` centre
frames the valid convolutions output (as many supervised frames per clip as SPS); its losses are the paper's
3D MPJPE plus the same reprojection term (the camera places the root). With ``model.up_head`` both models
also learn the world's up direction in camera axes (loss 1 - cos, weight ``wup``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..lifting.windows import run_lifter
from ..lifting.world import tilt_degrees
from ..metrics import accel_error, mpjpe, pa_mpjpe
from ..mocap.dataset import MocapDataset
from ..models.sps_lifter import LifterConfig, build_lifter, feature_forecast_loss
from .clips import ClipSampler
from .distributed import average_gradients, join, leave, prepare
from .synth_clips import SynthClipSampler


@dataclass
class EstimateTrainConfig:
    steps: int = 3000
    batch: int = 32
    length: int = 32  # N, the paper's default
    lr: float = 1e-3
    weight_decay: float = 1e-4
    w3d: float = 1.0
    w2d: float = 0.1
    wfeat: float = 0.1
    wcam: float = 0.1
    wocc: float = 0.5
    wup: float = 0.1
    seed: int = 0
    augment: bool = False  # body sizes, speeds and real-footage cameras (train.clips); the CLI turns it on
    lean: float = 0.0  # fraction of clips with the upper body tilted up to 30 degrees (mocap.augment.lean_upper_body)
    limbs: float = 0.0  # fraction of clips with arms and legs turned at shoulders and hips (augment.swing_limbs)
    exact: float = 0.0  # fraction of clips with exact 2D instead of detector-like noise (train.clips)
    mirror: bool = True  # left/right mirrored clips (not in the paper; doubles the motions of few subjects)
    avoid_glitches: bool = True  # no clips over the retargeting pops/flips that prepare flags
    # The occlusion-consistency target includes the camera. Without a temporal module this term drove the
    # camera to ~1e13 in three single-frame runs: its target is the model's own (detached) output with shared
    # weights, and only the 0.1-weighted reprojection anchors the camera's scale. False keeps the term on
    # the joints only (used for the single-frame baseline; documented in docs/benchmarks.md).
    occlusion_camera: bool = True
    # ``posecli synth`` datasets whose BlazePose detections are paired with the render's exact 3D
    # (train.synth_clips); this fraction of every batch comes from them, the rest from mocap projections.
    synth: list[str] = field(default_factory=list)
    synth_fraction: float = 0.5
    model: LifterConfig = field(default_factory=LifterConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def _joint_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(dim=-1).mean()


def _reprojection(out: dict[str, torch.Tensor], target2d: torch.Tensor) -> torch.Tensor:
    cam = out["camera"]
    proj = cam[..., None, :1] * out["joints"][..., :2] + cam[..., None, 1:]
    return _joint_dist(proj, target2d)


def drop_keypoints(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zero 3-5 random joints per frame (coordinates and confidence), as a detector missing them would."""
    b, t, j, _ = x.shape
    # drawn on the generator's device (the CPU, so runs are the same on every device), then moved to x's
    k = torch.randint(3, 6, (b, t, 1), generator=generator)
    ranks = torch.rand(b, t, j, generator=generator).argsort(-1).argsort(-1)
    return x * (ranks >= k).unsqueeze(-1).to(device=x.device, dtype=x.dtype)


def _up_loss(out: dict[str, torch.Tensor], up: torch.Tensor) -> torch.Tensor:
    """1 - cos between the predicted and true up, over the clips that know it (NaN: render clips)."""
    known = torch.isfinite(up).all(-1)
    if "up" not in out or not known.any():
        return up.new_zeros(())
    return (1 - (out["up"][known] * up[known]).sum(-1)).mean()


def _tcn_losses(model, b: dict[str, torch.Tensor], cfg: EstimateTrainConfig, gen: torch.Generator):
    """VideoPose3D's 3D loss on the ``length`` centre frames the valid convolutions output, + reprojection, up."""
    n, half = cfg.length, (cfg.model.receptive_field - 1) // 2
    out = model(b["x"])
    c = slice(half, half + n)
    l3d = _joint_dist(out["joints"], b["joints"][:, c])
    l2d = _reprojection(out, b["joints2d"][:, c])
    lup = _up_loss(out, b["up"][:, c])
    return cfg.w3d * l3d + cfg.w2d * l2d + cfg.wup * lup, {"l3d_mm": l3d, "l2d": l2d, "up": lup}


def _sps_losses(model, b: dict[str, torch.Tensor], cfg: EstimateTrainConfig, gen: torch.Generator):
    """SPS-Net's losses on the two shifted clips S1 = frames 0..N-1 and S2 = 1..N (module docstring)."""
    n = cfg.length
    o1 = model(b["x"][:, :n])
    o2 = model(b["x"][:, 1:])
    l3d = (_joint_dist(o1["joints"], b["joints"][:, :n]) + _joint_dist(o2["joints"], b["joints"][:, 1:])) / 2
    l2d = (_reprojection(o1, b["joints2d"][:, :n]) + _reprojection(o2, b["joints2d"][:, 1:])) / 2
    lfeat = (feature_forecast_loss(o1) + feature_forecast_loss(o2)) / 2
    lcam = F.l1_loss(o1["camera"][:, 1:], o2["camera"][:, :-1])
    occ = model(drop_keypoints(b["x"][:, :n], gen))
    locc = _joint_dist(occ["joints"], o1["joints"].detach())
    if cfg.occlusion_camera:
        locc = locc + F.l1_loss(occ["camera"], o1["camera"].detach())
    lup = (_up_loss(o1, b["up"][:, :n]) + _up_loss(o2, b["up"][:, 1:])) / 2
    loss = (cfg.w3d * l3d + cfg.w2d * l2d + cfg.wfeat * lfeat + cfg.wcam * lcam + cfg.wocc * locc
            + cfg.wup * lup)
    return loss, {"l3d_mm": l3d, "l2d": l2d, "feat": lfeat, "cam": lcam, "occ_mm": locc, "up": lup}


def clip_frames(cfg: EstimateTrainConfig) -> int:
    """Frames per training clip: SPS's two shifted clips S1, S2 need one more than N; the TCN its receptive
    field around N centre frames."""
    if cfg.model.temporal == "tcn":
        return cfg.model.receptive_field - 1 + cfg.length
    return cfg.length + 1


def train_lifter(train: MocapDataset, cfg: EstimateTrainConfig, device: str = "cpu",
                 on_step: Callable[[int, dict[str, float]], None] | None = None,
                 synth: SynthClipSampler | None = None) -> torch.nn.Module:
    """``synth`` (from ``cfg.synth``, built by the caller so that detecting and loading happen before the
    progress bar) supplies ``round(cfg.synth_fraction * batch)`` clips of every batch."""
    group = join(device, cfg.batch)  # under torchrun: this process's rank (train.distributed); else alone
    device = group.device
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = prepare(build_lifter(cfg.model).to(device), group)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(s, cfg.steps) / cfg.steps)))
    sampler = ClipSampler(train, clip_frames(cfg), seed=cfg.seed, mirror=cfg.mirror,
                          avoid_glitches=cfg.avoid_glitches, augment=cfg.augment, lean=cfg.lean,
                          limbs=cfg.limbs, exact=cfg.exact)
    n_synth = round(cfg.synth_fraction * cfg.batch) if synth is not None else 0
    model.train()
    losses = _tcn_losses if cfg.model.temporal == "tcn" else _sps_losses
    for step in range(cfg.steps):
        parts = ([sampler.sample(cfg.batch - n_synth)] if n_synth < cfg.batch else []) + (
            [synth.sample(n_synth)] if n_synth else [])
        rows = group.shard(cfg.batch)  # every rank drew the same global batch; each trains on its own slice
        b = {k: torch.as_tensor(np.concatenate([p[k] for p in parts])[rows], device=device) for k in parts[0]}
        loss, logs = losses(model, b, cfg, gen.manual_seed(cfg.seed + step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(model, group)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if on_step is not None and group.main:
            on_step(step, {"loss": loss.item(), **{k: v.item() * (1000 if k.endswith("_mm") else 1)
                                                  for k, v in logs.items()}})
    leave(group)
    model.eval()
    return model


def evaluate_lifter(model: torch.nn.Module, dataset: MocapDataset, length: int = 32, seed: int = 1234,
                    clean: bool = False, device: str = "cpu") -> dict[str, float]:
    """Whole held-out sequences, one seeded camera each, through the same sliding windows as ``estimate``.

    Returns MPJPE, PA-MPJPE and acceleration error in mm, averaged over frames of all sequences, and, for a
    model with the up head, the median angle (degrees) between the per-sequence up estimate and the truth.
    """
    sampler = ClipSampler(dataset, length, seed=seed, clean=clean)
    rng = np.random.default_rng(seed)
    errs = {"mpjpe_mm": [], "pa_mpjpe_mm": [], "accel_mm": []}
    weights, tilts = [], []
    model.eval()
    for seq in dataset.sequences:
        clip = sampler.make_clip(seq.joints["h36m17"], seq.joints["coco17"], rng, seq.fps)
        out = run_lifter(model, clip.x, length, device=device)
        pred = out["joints"]
        if "up" in out:
            tilts.append(tilt_degrees(out["up"].mean(0), clip.up[0]))
        errs["mpjpe_mm"].append(1000 * mpjpe(pred, clip.joints))
        errs["pa_mpjpe_mm"].append(1000 * pa_mpjpe(pred, clip.joints))
        errs["accel_mm"].append(1000 * accel_error(pred, clip.joints))
        weights.append(len(seq))
    return {k: round(float(np.average(v, weights=weights)), 1) for k, v in errs.items()} | (
        {"tilt_median_deg": round(float(np.median(tilts)), 2)} if tilts else {}) | {
        "sequences": len(weights), "frames": int(sum(weights))}

