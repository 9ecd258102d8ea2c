"""``posecli train vipe``: Pr-VIPE (seed 003) from mocap 3D poses seen by pairs of random cameras, and its
cross-view retrieval evaluation (Hit@k) with the paper's two baselines.

Training batch: N random frames of the training subjects (every frame equally likely), each 3D pose seen by two
independent random perspective cameras (:class:`CameraSampler` defaults: the paper's azimuth +-180, elevation
+-30, roll +-30 degrees, 2.5-6 m away, 22-35 mm lenses) -> anchor and positive 2D. Choices the paper leaves open:
- The 2D inputs are the mocap's COCO-17 joints projected (``posecli.mocap`` places them where a detector would),
  so no H36M->COCO joint mapping is needed; the H36M-17 joints are only the 3D labels.
- The paper mixes detected H3.6M keypoints with clean random projections. We have no detections, so a fraction
  ``noisy`` (default 1/2) of all 2D inputs, drawn independently for anchors and positives, gets
  :func:`realistic_2d` detector-like noise (jitter, outliers, drops, left/right swaps) at a level drawn per batch
  in ``noise`` x BlazePose Full's; the rest are exact projections.
- ``mirror``: half the poses are left/right mirrored (not in the paper; more poses from few subjects).
- ``dropout`` (keypoint dropout, the occlusion augmentation of Pr-VIPE's follow-up work, not in this paper): that
  fraction of all 2D inputs loses keypoints, each of the 13 with a probability drawn per input in
  ``DROP_RANGE``; dropped keypoints enter as missing (visibility 0), as a detector's misses do. Real 2D misses
  joints far more often than ``realistic_2d``'s independent drops (occluded limbs, people cut by the frame).
  Off by default: trained with 0.3 (session 9), held-out Hit@1 fell on CMU (detector-like 53.7 -> 50.5, exact
  82.3 -> 75.7) and on the Pose2Sim trial (65.2 -> 62.3).
Losses (means over the batch rather than the paper's sums; the learning rate absorbs the scale):
- ratio loss max(0, D(a, p) - D(a, n) + log beta), D = -log p(m), with online semi-hard mining (FaceNet): n is the
  positive-view sample j, non-matching with the anchor (NP-MPJPE(y_a, y_j) > kappa), with the smallest D(a, n)
  above D(a, p). The paper does not say what happens when none is semi-hard; ``fallback="hardest"`` (default)
  takes the non-matching sample with the smallest D(a, n) (all are then closer than the positive, so this is the
  most violating triplet: a strong signal early in training), ``"skip"`` drops the anchor as the reference code
  does. NP-MPJPE is computed lazily, only for the candidates mining looks at, in order, which gives the same
  choice as the full N x N matrix at a fraction of its cost (N^2 Procrustes SVDs took ~1 s a step).
- positive pairwise loss D(a, p); Gaussian prior KL(N(mu, sigma^2) || N(0, I)) on anchors and positives.
Optimiser: Adagrad, lr 0.02 (paper). Its initial accumulator is not stated: TensorFlow's default 0.1 scales every
small gradient down by ~3 (steps of ~0.06 lr g), torch's 0 gives lr-sized first steps; on our data the latter
learns much faster in a short run (60 steps, batch 256: exact-2D Hit@1 0.50 vs 0.21) without instability, so 0 it
is (``adagrad_init``). EMA of weights and batch-norm statistics with decay ``ema``: the paper
uses 0.9999, which averages over ~10^4 steps and barely moves in a few-thousand-step run, so the default is 0.999;
the decay is warmed up as TensorFlow's ``num_updates`` does, min(decay, (1 + n) / (10 + n)), so the first weights
do not linger. The EMA weights are evaluated and saved.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import permutations

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel

from ..embed import embed_inputs
from ..embed.normalize import (INPUT_INDEX, model_input, normalize_2d, normalize_3d, np_mpjpe_matrix,
                               pairwise_procrustes_distances, procrustes_distances, window_indices)
from ..embed.retrieval import hit_at_k, rank
from ..mocap.augment import resize_body
from ..mocap.dataset import MocapDataset
from ..models.prvipe import PrVIPE, VipeConfig, kl_to_standard_normal, reparameterise
from ..synth2d import CameraSampler, realistic_2d
from ..track.sides import consistent_keypoints
from .clips import FOOTAGE_CAMERAS, mirror
from .distributed import average_gradients, gather_rows, join, leave, prepare

KS = (1, 10, 20)
DROP_RANGE = (0.05, 0.3)  # per-keypoint drop probability of an input chosen for keypoint dropout


@dataclass
class VipeTrainConfig:
    steps: int = 5000  # the paper does not say
    batch: int = 256
    lr: float = 0.02
    adagrad_init: float = 0.0  # Adagrad's initial accumulator (torch's default; TensorFlow's is 0.1)
    beta: float = 2.0  # ratio margin: alpha = log beta
    kappa: float = 0.1  # NP-MPJPE at or below which two poses match
    w_ratio: float = 1.0
    w_positive: float = 0.005
    w_prior: float = 0.001
    ema: float = 0.999
    noisy: float = 0.5  # fraction of 2D inputs with detector-like noise
    noise: tuple[float, float] = (0.6, 1.5)  # its level, x BlazePose Full's
    dropout: float = 0.0  # fraction of 2D inputs with keypoints dropped (0.3 lowered held-out Hit@1: off)
    mirror: bool = True
    augment: bool = False  # other body sizes/proportions and real-footage camera angles and lenses (train.clips)
    fallback: str = "hardest"  # no semi-hard negative: "hardest" non-matching, or "skip" the anchor
    # ``posecli synth`` datasets: this share of every batch is BlazePose's 2D of one instant in two rendered views
    # (train.vipe_synth), the rest mocap projections
    synth: list[str] = field(default_factory=list)
    synth_fraction: float = 0.5
    seed: int = 0
    model: VipeConfig = field(default_factory=VipeConfig)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ training data

class PairSampler:
    """Batches of (anchor 2D, positive 2D, normalised 3D): one pose, two random cameras.

    ``window`` > 1 (temporal Pr-VIPE): each input is the window of frames around the pose (the sequence's frames
    nearest to 1 / ``window_fps`` s apart, the end frame repeated past either end, as at inference), filmed by
    the same static camera; detector-like noise is then correlated over the window's frames (AR(1), rho 0.8 at
    30 fps, as ``train estimate``'s clips) and keypoint dropout hides the same joints in all of them (an
    occluder stays).
    """

    def __init__(self, dataset: MocapDataset, seed: int = 0, noisy: float = 0.5,
                 noise: tuple[float, float] = (0.6, 1.5), mirror: bool = True, augment: bool = False,
                 dropout: float = 0.0, window: int = 1, window_fps: float = 30.0):
        seqs = [s for s in dataset.sequences if len(s)]
        if not seqs:
            raise ValueError("no frames to sample poses from")
        h36m = np.concatenate([s.joints["h36m17"] for s in seqs]).astype(np.float64)
        coco = np.concatenate([s.joints["coco17"] for s in seqs]).astype(np.float64)
        root = h36m[:, :1].copy()
        # Every pose at the world origin, so one batched camera sampler (aimed at the origin) films them all; a
        # window is moved by its centre frame's root, so the motion within it is kept.
        self.h36m, self.coco, self.root = h36m - root, coco - root, root
        # Each frame's window: the frames nearest to 1 / window_fps apart in its own sequence, by time, as
        # embed_track picks them at inference (the end frame repeats past either end).
        starts = np.cumsum([0] + [len(s) for s in seqs[:-1]])
        self.span = np.concatenate([window_indices(np.arange(len(s)) / s.fps, window, window_fps) + start
                                    for s, start in zip(seqs, starts)])
        self.window = window
        self.rng = np.random.default_rng(seed)
        # augment: the angles and lenses of train.clips.FOOTAGE_CAMERAS, at Pr-VIPE's distances
        self.cameras = CameraSampler(elevation=FOOTAGE_CAMERAS.elevation, roll=FOOTAGE_CAMERAS.roll,
                                     focal_mm=FOOTAGE_CAMERAS.focal_mm) if augment else CameraSampler()
        self.noisy, self.noise, self.mirror, self.augment, self.dropout = noisy, noise, mirror, augment, dropout

    def _frames(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B,) centre frames -> H36M-17 and COCO-17 joints, (B, 17, 3) or (B, W, 17, 3) with a window."""
        if self.window == 1:
            return self.h36m[idx], self.coco[idx]
        span = self.span[idx]
        shift = self.root[span] - self.root[idx][:, None]  # (B, W, 1, 3): where each frame is from the centre's root
        return self.h36m[span] + shift, self.coco[span] + shift

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        idx = self.rng.integers(len(self.h36m), size=batch)
        h36m, coco = self._frames(idx)
        if self.mirror:
            flip = self.rng.random(batch) < 0.5
            h36m[flip], coco[flip] = mirror(h36m[flip], "h36m17"), mirror(coco[flip], "coco17")
        if self.augment:  # each pose by another body (sizes about the root: poses sit at the origin)
            for i in range(batch):
                h, c = resize_body(h36m[i].reshape(-1, 17, 3), coco[i].reshape(-1, 17, 3), self.rng)
                centre = h[len(h) // 2, 0]
                h36m[i], coco[i] = (h - centre).reshape(h36m[i].shape), (c - centre).reshape(coco[i].shape)
        centre = h36m if self.window == 1 else h36m[:, self.window // 2]
        return {"anchor": self.view(coco), "positive": self.view(coco), "poses3d": normalize_3d(centre)}

    def view(self, coco: np.ndarray) -> np.ndarray:
        """(B, 17, 3) or (B, W, 17, 3) world joints -> (B, W * 39) model input, each through its own random camera."""
        b = len(coco)
        cams = self.cameras.sample_batch(self.rng, np.zeros(3), b)
        uv, _ = cams.project(coco)
        uv = uv.reshape(b, self.window, 17, 2)
        conf = np.ones(uv.shape[:-1])
        noisy = self.rng.random(b) < self.noisy
        if noisy.any():
            # Frames in time order, windows one after another: the AR(1) noise runs on across a window's end
            # into the next (unrelated) window, which leaves each window's own noise as correlated as wanted.
            rho = 0.0 if self.window == 1 else 0.8
            u, c = realistic_2d(uv[noisy].reshape(-1, 17, 2), self.rng, "coco17",
                                sigma_scale=float(self.rng.uniform(*self.noise)), rho=rho)
            uv[noisy], conf[noisy] = u.reshape(-1, self.window, 17, 2), c.reshape(-1, self.window, 17)
        # drawn even with dropout 0: the shipped weights (session 9) were trained with this random stream
        drop = self.rng.random(b) < self.dropout
        if drop.any():  # keypoint dropout: only the model's 13 input joints matter
            p = self.rng.uniform(*DROP_RANGE, size=(int(drop.sum()), 1))
            lost = self.rng.random((int(drop.sum()), len(INPUT_INDEX))) < p
            rows = conf[drop]
            rows[..., INPUT_INDEX] = np.where(lost[:, None], 0.0, rows[..., INPUT_INDEX])
            conf[drop] = rows
        return model_input(uv, conf).reshape(b, -1)


# ------------------------------------------------------------------------------------------------------- losses

def mine_negatives(d_ap: np.ndarray, d_an: np.ndarray, is_match: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   fallback: str = "hardest", first: int = 8) -> np.ndarray:
    """Semi-hard negative per anchor: (N,) column index into ``d_an`` (N, M), -1 where there is none.

    Candidates are visited semi-hard first (D(a, j) > D(a, p)) by increasing distance, then (``fallback=
    "hardest"``) the others by increasing distance; the first one that ``is_match(rows, cols)`` says is not a
    match wins. ``is_match`` is asked about ``first`` candidates per open anchor, then twice as many, ... so an
    expensive pose distance is computed for few pairs.
    """
    if fallback not in ("hardest", "skip"):
        raise ValueError(f"fallback must be 'hardest' or 'skip', not {fallback!r}")
    n, m = d_an.shape
    semi = d_an > d_ap[:, None]
    order = np.lexsort((d_an, ~semi), axis=1)
    limit = semi.sum(1) if fallback == "skip" else np.full(n, m)
    neg = np.full(n, -1)
    open_rows = np.arange(n)
    start, width = 0, first
    while len(open_rows) and start < m:
        rows = open_rows[limit[open_rows] > start]
        cols = order[rows, start:start + width]
        valid = np.arange(start, start + cols.shape[1])[None] < limit[rows, None]
        match = np.ones(cols.shape, bool)  # past the limit counts as "match": never chosen
        match[valid] = is_match(np.broadcast_to(rows[:, None], cols.shape)[valid], cols[valid])
        found = (~match).any(1)
        neg[rows[found]] = cols[found, np.argmax(~match[found], 1)]
        open_rows = rows[~found]
        start, width = start + width, 2 * width
    return neg


def vipe_losses(model: PrVIPE, out: dict[str, torch.Tensor], z: torch.Tensor, poses3d: np.ndarray,
                cfg: VipeTrainConfig) -> dict[str, torch.Tensor]:
    """Anchors are rows 0..N-1 of ``out``/``z`` (samples (2N, K, d)), positives N..2N-1; ``poses3d`` normalised."""
    n = len(poses3d)
    za, zp = z[:n], z[n:]
    d_ap = -torch.log(model.match_prob(za, zp))
    d_an_all = -torch.log(model.match_prob_matrix(za, zp))

    def is_match(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return (rows == cols) | (procrustes_distances(poses3d[rows], poses3d[cols]) <= cfg.kappa)

    neg = mine_negatives(d_ap.detach().cpu().numpy(), d_an_all.cpu().numpy(), is_match, cfg.fallback)
    has = torch.as_tensor(neg >= 0, device=z.device)
    if has.any():
        d_an = -torch.log(model.match_prob(za[has], zp[torch.as_tensor(neg[neg >= 0], device=z.device)]))
        ratio = F.relu(d_ap[has] - d_an + math.log(cfg.beta)).mean()
    else:
        ratio = z.sum() * 0.0
    positive = d_ap.mean()
    prior = kl_to_standard_normal(out).mean()
    total = cfg.w_ratio * ratio + cfg.w_positive * positive + cfg.w_prior * prior
    return {"loss": total, "ratio": ratio, "positive": positive, "prior": prior,
            "mined": has.float().mean()}


def _ema(decay: float) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | int], torch.Tensor]:
    def avg(averaged: torch.Tensor, current: torch.Tensor, updates: torch.Tensor | int) -> torch.Tensor:
        n = float(updates)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return d * averaged + (1.0 - d) * current

    return avg


def train_vipe(train: MocapDataset, cfg: VipeTrainConfig, device: str = "cpu",
               on_step: Callable[[int, dict[str, float]], None] | None = None, synth=None) -> PrVIPE:
    """Train Pr-VIPE; returns the EMA model in eval mode. ``synth`` (a :class:`train.vipe_synth.SynthPairSampler`
    built by the caller from ``cfg.synth``) supplies ``round(cfg.synth_fraction * batch)`` pairs of every batch.
    Under torchrun (``train.distributed``) every rank draws the same batch and embeds its own slice; the loss
    (whose negatives come from the whole batch) is computed on every rank from the gathered embeddings. The
    samples' noise is drawn for the whole batch from a generator seeded per step, so one process and several
    draw the same."""
    group = join(device, cfg.batch)
    device = group.device
    torch.manual_seed(cfg.seed)
    model = prepare(PrVIPE(cfg.model).to(device), group)
    ema = AveragedModel(model, avg_fn=_ema(cfg.ema), use_buffers=True)
    opt = torch.optim.Adagrad(model.parameters(), lr=cfg.lr, initial_accumulator_value=cfg.adagrad_init)
    sampler = PairSampler(train, seed=cfg.seed, noisy=cfg.noisy, noise=cfg.noise, mirror=cfg.mirror,
                          augment=cfg.augment, dropout=cfg.dropout, window=cfg.model.window,
                          window_fps=cfg.model.window_fps)
    n_synth = round(cfg.synth_fraction * cfg.batch) if synth is not None else 0
    noise = torch.Generator()
    rows = group.shard(cfg.batch)
    model.train()
    for step in range(cfg.steps):
        b = sampler.sample(cfg.batch - n_synth)
        if n_synth:
            r = synth.sample(n_synth)
            b = {k: np.concatenate([b[k], r[k]]) for k in ("anchor", "positive", "poses3d")}
        x = torch.as_tensor(np.concatenate([b["anchor"][rows], b["positive"][rows]]), device=device)
        out = model(x)  # anchors and positives in one batch: shared batch-norm statistics
        eps = torch.randn((2 * cfg.batch, cfg.model.samples, cfg.model.dim),
                          generator=noise.manual_seed(cfg.seed + step))
        mine = torch.cat([eps[:cfg.batch][rows], eps[cfg.batch:][rows]])
        z = gather_rows(reparameterise(out, mine), group, blocks=2)
        out = {k: gather_rows(v, group, blocks=2) for k, v in out.items()}
        losses = vipe_losses(model, out, z, b["poses3d"], cfg)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        average_gradients(model, group)
        opt.step()
        ema.update_parameters(model)
        if on_step is not None and group.main:
            on_step(step, {k: v.item() for k, v in losses.items()} | {"a": model.a.item(), "b": model.b.item()})
    leave(group)
    return ema.module.eval()


# --------------------------------------------------------------------------------------------------- evaluation

@dataclass
class RetrievalViews:
    """Held-out frames seen by C cameras: the query/index sets of cross-view retrieval."""

    points2d: np.ndarray  # (C, N, 17, 2) COCO-17 pixels
    confidence: np.ndarray  # (C, N, 17)
    poses3d: np.ndarray  # (N, 17, 3) H36M-17, normalised (labels)
    sequence: np.ndarray  # (N,) index of the source sequence; frames of one sequence are in time order
    # With a window (temporal models): each frame's window of frames (C, N, W, 17, 2) / (C, N, W), and per
    # sequence its whole clip at full rate (C, T, 17, 2), (C, T, 17) with the kept frames' indices into it.
    windows: np.ndarray | None = None
    window_confidence: np.ndarray | None = None
    clips: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    @property
    def cameras(self) -> int:
        return len(self.points2d)


def dedup_poses(poses: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of frames kept greedily in order: each is > ``threshold`` NP-MPJPE from every frame kept before."""
    d = np_mpjpe_matrix(poses, poses)
    keep: list[int] = []
    for i in range(len(poses)):
        if not keep or (d[i, keep] > threshold).all():
            keep.append(i)
    return np.array(keep, dtype=np.int64)


Noise2D = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _frames_noise(uv: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return realistic_2d(uv, rng, "coco17")


def _clip_noise(uv: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return realistic_2d(uv, rng, "coco17", rho=0.8)


def retrieval_views(dataset: MocapDataset, cameras: int = 4, clean: bool = False, seed: int = 1234,
                    every: int = 5, dedup: float = 0.02, window: int = 1, window_fps: float = 30.0,
                    sides: bool = False, noise: Noise2D | None = None) -> RetrievalViews:
    """Every ``every``-th frame of each sequence, near-duplicates (NP-MPJPE <= ``dedup``) removed, rendered by
    ``cameras`` static cameras per sequence (a multi-view capture: the same cameras for all frames of a
    sequence, new ones for the next, as H3.6M's 4 cameras per session), fitted so the person stays in frame.

    Duplicates are removed within a sequence (O(n^2) per sequence, not over the whole set): near-identical poses
    are overwhelmingly a person holding still within one take. The same frames are kept for every camera.
    ``clean=False``: detector-like 2D (:func:`realistic_2d` at BlazePose Full's level, frames independent).

    ``window`` > 1: the whole sequence is filmed at its own rate, detector-like noise correlated over time
    (AR(1), rho 0.8, as at 30 fps), and each kept frame also gets its window of ``window`` frames at
    ``window_fps`` (:func:`window_indices`): the input of a temporal model.  A single-frame model or a baseline
    uses the kept frames themselves, so all are compared on the same 2D (but not on the same 2D as with
    ``window=1``: another random stream).

    ``sides`` (whole clips only, ``window`` > 1): each camera's clip goes through ``track``'s left/right pass
    (:func:`posecli.track.sides.consistent_keypoints`) after the noise, as ``posecli track`` hands 2D on to
    ``embed`` and ``estimate``: the detector-like model's whole-body swap runs are what it undoes. The noise
    streams are drawn before it, so the views with and without it differ only by the pass.

    ``noise(uv (N, 17, 2), rng) -> (uv, confidence)``: another 2D error model in place of the detector-like one
    (e.g. :func:`posecli.synth2d.gaussian_2d`), applied to each camera's frames or whole clip.
    """
    if sides and window == 1:
        raise ValueError("the left/right pass needs whole clips: use window > 1 (frames 5 apart are no track)")
    rng = np.random.default_rng(seed)
    sampler = CameraSampler(fit_in_frame=True)
    pts, conf, poses, seq_ids, wins, wconf, clips = [], [], [], [], [], [], []
    for si, seq in enumerate(dataset.sequences):
        idx = np.arange(0, len(seq), every)
        if not len(idx):
            continue
        h36m, coco = seq.joints["h36m17"][idx].astype(np.float64), seq.joints["coco17"][idx].astype(np.float64)
        keep = dedup_poses(h36m, dedup)
        h36m, coco = h36m[keep], coco[keep]
        cams = sampler.sample_batch(rng, h36m[:, 0].mean(0), cameras,
                                    points=np.concatenate([h36m, coco[:, INPUT_INDEX]], 1))
        if window == 1:
            uv, _ = cams.project(coco[None])  # (C, n, 17, 2)
            if clean:
                c = np.where(np.isfinite(uv).all(-1), 1.0, 0.0)
            else:
                noisy = [(noise or _frames_noise)(uv[i], rng) for i in range(cameras)]
                uv, c = np.stack([u for u, _ in noisy]), np.stack([c for _, c in noisy])
        else:
            full, _ = cams.project(seq.joints["coco17"].astype(np.float64)[None])  # (C, T, 17, 2)
            if clean:
                fc = np.where(np.isfinite(full).all(-1), 1.0, 0.0)
            else:
                noisy = [(noise or _clip_noise)(full[i], rng) for i in range(cameras)]
                full, fc = np.stack([u for u, _ in noisy]), np.stack([c for _, c in noisy])
            if sides:
                times = np.arange(full.shape[1]) / seq.fps
                fixed = [consistent_keypoints(full[i], fc[i], times, "coco17") for i in range(cameras)]
                full, fc = np.stack([u for u, _ in fixed]), np.stack([c for _, c in fixed])
            kept = idx[keep]
            span = window_indices(np.arange(len(seq)) / seq.fps, window, window_fps)[kept]  # (n, W)
            uv, c = full[:, kept], fc[:, kept]
            wins.append(full[:, span])
            wconf.append(fc[:, span])
            clips.append((full, fc, kept))
        pts.append(uv)
        conf.append(c)
        poses.append(normalize_3d(h36m))
        seq_ids.append(np.full(len(h36m), si))
    if not poses:
        raise ValueError("no held-out frames to evaluate retrieval on")
    views = RetrievalViews(np.concatenate(pts, 1), np.concatenate(conf, 1), np.concatenate(poses),
                           np.concatenate(seq_ids))
    if window > 1:
        views.windows, views.window_confidence, views.clips = np.concatenate(wins, 1), np.concatenate(wconf, 1), clips
    return views


def view_inputs(model: PrVIPE, views: RetrievalViews, camera: int) -> np.ndarray:
    """One camera's model inputs: (N, 39) for a single-frame model, (N, W * 39) for a temporal one."""
    w = model.config.window
    if w == 1:
        return model_input(views.points2d[camera], views.confidence[camera])
    if views.windows is None or views.windows.shape[2] < w or (views.windows.shape[2] - w) % 2:
        raise ValueError(f"a model with a window of {w} frames needs views made with window={w} (or a larger "
                         "odd window)")
    # Windows are frames 1 / window_fps apart around the kept frame, so a smaller window is the middle of a larger
    # one: models with different windows are compared on the very same 2D.
    cut = (views.windows.shape[2] - w) // 2
    wins = slice(cut, cut + w)
    x = model_input(views.windows[camera][:, wins], views.window_confidence[camera][:, wins])  # (N, W, 39)
    return x.reshape(len(x), -1)


def cross_view_hits(views: RetrievalViews, ranker: Callable[[int, int, int], np.ndarray],
                    ks: Sequence[int] = KS, kappa: float = 0.1,
                    parts: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Hit@k averaged over all ordered camera pairs (= over all their queries: every pair has N of them).

    ``ranker(query_camera, index_camera, k)`` -> (N, k) index frames, best first. A retrieval is accurate when
    its 3D pose is within ``kappa`` NP-MPJPE of the query's; the NP-MPJPE of each distinct (query, retrieved)
    frame pair is computed once, whatever camera pairs retrieved it. ``parts``: name -> (N,) bool mask of query
    frames; adds "hit@1 NAME", Hit@1 over those queries only (the index stays whole), e.g. a clip's ends.
    """
    n, kmax = len(views.poses3d), max(ks)
    tops = {p: ranker(*p, kmax) for p in permutations(range(views.cameras), 2)}
    width = min(kmax, n)  # an index smaller than k returns all of it
    flat = np.concatenate([t for t in tops.values()]).ravel()
    query = np.tile(np.repeat(np.arange(n), width), len(tops))
    pairs, inverse = np.unique(np.stack([query, flat]), axis=1, return_inverse=True)
    accurate = procrustes_distances(views.poses3d[pairs[0]], views.poses3d[pairs[1]]) <= kappa
    accurate = accurate[inverse.ravel()].reshape(len(tops) * n, -1)
    split = {f"hit@1 {name}": hit_at_k(accurate.reshape(len(tops), n, -1)[:, mask].reshape(-1, width), (1,))["hit@1"]
             for name, mask in (parts or {}).items()}
    return hit_at_k(accurate, ks) | split | {"frames": n, "camera_pairs": len(tops)}


@torch.no_grad()
def evaluate_retrieval(model: PrVIPE, dataset: MocapDataset, cameras: int = 4, clean: bool = False,
                       seed: int = 1234, every: int = 5, dedup: float = 0.02, ks: Sequence[int] = KS,
                       kappa: float = 0.1, scoring: str = "sampled", device: str = "cpu",
                       window: int | None = None, sides: bool = False, noise: Noise2D | None = None
                       ) -> dict[str, float]:
    """Pr-VIPE cross-view retrieval Hit@k on held-out sequences (:func:`retrieval_views`).

    ``scoring="sampled"``: rank the index by the paper's K x K sampled matching probability (one fixed set of
    samples per frame, seeded: reproducible). ``"mean"``: by the distance between means, the fast shortcut for
    big indexes (it ignores the variances). ``window``: the views' window (:func:`retrieval_views`; default the
    model's own), so that single-frame and temporal models can be compared on the same 2D. ``sides``: the 2D after
    ``track``'s left/right pass; ``noise``: another 2D error model (both :func:`retrieval_views`).
    """
    cfg = model.config
    views = retrieval_views(dataset, cameras, clean, seed, every, dedup, window or cfg.window, cfg.window_fps,
                            sides=sides, noise=noise)
    model = model.to(device).eval()
    emb = [embed_inputs(model, view_inputs(model, views, c), seed=seed + c, device=device) for c in range(cameras)]
    key = {"sampled": "samples", "mean": "mu"}[scoring]
    z = [torch.as_tensor(e[key], device=device) for e in emb]

    def ranker(a: int, b: int, k: int) -> np.ndarray:
        if scoring == "sampled":
            return rank(lambda q: model.match_prob_matrix(z[a][q], z[b]).cpu().numpy(), len(z[a]), k)
        return rank(lambda q: torch.cdist(z[a][q], z[b]).cpu().numpy(), len(z[a]), k, largest=False)

    return cross_view_hits(views, ranker, ks, kappa)


def evaluate_retrieval_baselines(dataset: MocapDataset, lift: Callable[..., np.ndarray] | None = None,
                                 cameras: int = 4, clean: bool = False, seed: int = 1234,
                                 every: int = 5, dedup: float = 0.02, ks: Sequence[int] = KS,
                                 kappa: float = 0.1, window: int = 1,
                                 window_fps: float = 30.0, sides: bool = False, noise: Noise2D | None = None
                                 ) -> dict[str, dict[str, float]]:
    """The paper's baselines on the same views as :func:`evaluate_retrieval` (same arguments, same frames):

    - ``2d_keypoints``: the 13 normalised 2D keypoints (missing ones at the hip centre), ranked by their 2D
      Procrustes distance (rotation in the image plane, scale, translation removed);
    - ``3d_lifting`` (when ``lift`` is given): ``lift(points2d (n, 17, 2), confidence (n, 17)) -> H36M-17 (n, 17, 3)``,
      called once per camera and sequence (frames in time order, every ``every``-th, so a temporal lifter sees a
      subsampled clip), ranked by NP-MPJPE between lifted poses.  With ``window`` > 1 (the views of a temporal
      model) the lifter gets what a temporal model sees and more: each sequence's whole clip at its own rate,
      ``lift(points2d, confidence, every=1)``, and its kept frames are compared.
    Both need N^2 Procrustes fits per camera pair: seconds for a few hundred frames, slow for thousands.
    """
    views = retrieval_views(dataset, cameras, clean, seed, every, dedup, window, window_fps, sides=sides,
                            noise=noise)
    n = len(views.poses3d)
    feats = {"2d_keypoints": [normalize_2d(views.points2d[c], views.confidence[c])[0] for c in range(cameras)]}
    if lift is not None:
        lifted = []
        for c in range(cameras):
            pose = np.zeros((n, 17, 3))
            for i, s in enumerate(np.unique(views.sequence)):
                m = views.sequence == s
                if views.clips is None:
                    pose[m] = lift(views.points2d[c][m], views.confidence[c][m])
                else:
                    full, fc, kept = views.clips[i]
                    pose[m] = lift(full[c], fc[c], every=1)[kept]
            lifted.append(normalize_3d(np.nan_to_num(pose)))
        feats["3d_lifting"] = lifted
    results = {}
    for name, f in feats.items():
        def ranker(a: int, b: int, k: int, f=f) -> np.ndarray:
            return rank(lambda q: pairwise_procrustes_distances(f[a][q], f[b]), n, k, largest=False)

        results[name] = cross_view_hits(views, ranker, ks, kappa)
    return results
