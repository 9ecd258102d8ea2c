"""``posecli train amodal``: probabilistic amodal completion (seed 000) on mocap clips seen by random moving
cameras, phases 0-3, and its held-out evaluation.

Data: ``ClipSampler`` clips of T = 90 frames at 30 fps; ``videography`` of them (default 0.8) filmed by
the videographic augmentation (zoom, pan, and half of those framed to cut the legs off), whose joints outside
the frame come out as a detector's low-confidence guesses and are hidden from the model
(``amodal.pipeline.visible_joints``). Targets: the clip's world joints in the canonical frame.

Phases (losses are mean L1 over joint coordinates; masked means divide by the mask's count):
0. Pose AAE: |D_pose(E_pose(x)) - x| + 0.01 x non-saturating GAN loss pushing E_pose(x) towards N(0, I).
1. ME, N, MD (D_pose frozen): |e - x| on *all* joints (e is the full-body deterministic motion; the spec's
   m^J we read as "annotated" joints, all of them in mocap) + |d(r_a) - x| on visible joints only (so hidden
   joints stay free to vary) + view head: |R x - R_gt x| and weak-perspective reprojection (ours).
2. Algorithm 1: ``critic_steps`` (m = 2) critic updates on Dmd_w(d) - Dmd_w(x) + 10 GP + lambda_r |r_a - r^|,
   then N + MD on -Dmd_w(d) + lambda_r |r_a - Dmd_r(d)| + lambda_c |x - d(Dmd_r(x; z_u))|
   (lambda_r = 1, lambda_c = 10, WGAN-GP's usual 10 for the penalty; the paper gives none of them).
   ``variety`` K > 1 (not in the paper; off by default) adds lambda_c x the best-of-K loss of multi-hypothesis
   prediction: K anchored hypotheses per clip (``AmodalNet.hypotheses``, as ``complete`` makes them), the
   hidden-joint L1 of the closest one to the truth. The paper's losses only keep the hypotheses plausible and
   invertible; this one rewards spreading them where the truth may be, which is what best-of-K measures.
3. ``--adapt``: unlabelled 2D tracks. Unsupervised batches (L_A1 + L_A2 + L_B on two videographic
   augmentations and a temporally shifted one, t_k in [5, 30] frames; L_A only on frames with > 70 % of the
   body visible in both) alternate with supervised mocap batches (L_A^sup + L_content + L_B^sup), each with
   its own Adam. Both update ME only (the paper's "only ME is adapted"); MD, N, Dmd and D_pose stay frozen.
Schedule: ``steps`` split 15 % / 55 % / 30 % over phases 0 / 1 / 2; ``adapt_steps`` more for phase 3. With
``init`` (trained weights, e.g. the shipped ones) phases 0-2 are skipped: phase 3 alone adapts them to the
user's own unlabelled tracks.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..amodal.canonical import canonicalize, rotation_y
from ..amodal.occlusion import leg_gap, random_occlusion
from ..amodal.pipeline import CLIP_LENGTH, MODEL_FPS, complete_clip, hidden_h36m, model_input, visible_joints
from ..errors import PoseCliError
from ..mocap.dataset import MocapDataset
from ..models.amodal import AmodalConfig, AmodalNet
from .clips import ClipSampler, mirror
from .distributed import ALONE, Group, average_gradients, group_mean, join, leave, prepare, process_count


@dataclass
class AmodalTrainConfig:
    steps: int = 2000
    batch: int = 16
    lr: float = 1e-3
    videography: float = 0.8
    truncate: float = 0.5
    lambda_r: float = 1.0
    lambda_c: float = 10.0
    gp: float = 10.0
    critic_steps: int = 2
    adapt_steps: int = 0
    init: str | None = None  # weights to start from; phases 0-2 are then skipped (phase 3 only)
    seed: int = 0
    mirror: bool = True
    avoid_glitches: bool = True
    augment: bool = False  # body sizes, speeds, real-footage cameras (train.clips)
    occlude: float = 0.0  # share of clips with an occluder inside the frame (amodal.occlusion); off: see the docs
    variety: int = 0  # K of phase 2's best-of-K loss on hidden joints (module doc); 0 or 1: the paper's losses only
    # Phase 0 (the pose auto-encoder) on its own budget, learning rate decayed to 0 (cosine); 0: 15 % of ``steps``
    # at a constant rate, the recipe before session 22. The frozen decoder bounds every output of the model.
    pose_steps: int = 0
    model: AmodalConfig = field(default_factory=lambda: AmodalConfig(hidden=128))

    def to_dict(self) -> dict:
        return asdict(self)

    def phases(self) -> tuple[int, int, int]:
        if self.init:
            return 0, 0, 0
        p0 = max(1, round(0.15 * self.steps))
        p1 = max(1, round(0.55 * self.steps))
        return self.pose_steps or p0, p1, max(0, self.steps - p0 - p1)

    def total_steps(self) -> int:
        return sum(self.phases()) + self.adapt_steps


def _clip_arrays(sampler: ClipSampler, occlude: float = 0.0) -> dict[str, np.ndarray]:
    h36m, coco, rng, fps = sampler.random_window()
    clip = sampler.make_clip(h36m, coco, rng, fps)
    pts = clip.x[..., :2] * clip.scale[:, None, None] + clip.centre[:, None]
    vis = visible_joints(pts, clip.x[..., 2])
    if clip.visible is not None:
        vis &= clip.visible
    if occlude and rng.random() < occlude:  # body parts hidden inside the frame for a while (amodal.occlusion)
        vis &= ~random_occlusion(rng, len(vis))
    x, _, _ = model_input(pts, vis)
    canon, info = canonicalize(h36m)
    view = np.einsum("ij,tjk->tik", clip.rotation, rotation_y(-info.azimuth)).astype(np.float32)
    rel2d = clip.joints2d - clip.joints2d[:, :1]
    return {"x": x, "target": canon, "visible": ~hidden_h36m(vis), "view": view, "joints2d": rel2d.astype(np.float32)}


def sample_batch(sampler: ClipSampler, batch: int, device: str = "cpu", occlude: float = 0.0,
                 rows: slice = slice(None)) -> dict[str, torch.Tensor]:
    """``batch`` clips; ``rows`` of them as tensors (under torchrun every rank draws the whole batch, in step)."""
    clips = [_clip_arrays(sampler, occlude) for _ in range(batch)][rows]
    return {k: torch.as_tensor(np.stack([c[k] for c in clips]), device=device) for k in clips[0]}


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None, group: Group = ALONE
              ) -> torch.Tensor:
    """Mean |a - b| over (..., J, 3); ``mask`` (..., J) or (..., ) selects joints/frames (count-normalised; under
    torchrun by the count over the whole batch, ``group_mean``, so that the averaged gradient is the batch's)."""
    err = (a - b).abs().mean(-1)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype)
    while m.dim() < err.dim():
        m = m.unsqueeze(-1)
    m = m.expand_as(err)
    return (err * m).sum() / group_mean(m.sum(), group).clamp(min=1.0)


def best_of_k_loss(model: AmodalNet, enc: dict[str, torch.Tensor], target: torch.Tensor, hidden: torch.Tensor,
                   r_a: torch.Tensor) -> torch.Tensor:
    """Mean over clips with hidden joints of min over K anchored hypotheses of their hidden-joint L1 to ``target``
    (B, T, 17, 3); ``hidden`` (B, T, 17); ``r_a`` (B, K, ra_dim). Only the closest hypothesis of each clip gets a
    gradient, so the others stay free to cover other possible poses; the K are therefore compared without
    gradients and only the chosen one is decoded again with them (a backward pass through one, not K)."""
    b, k = r_a.shape[:2]
    m = hidden.to(target.dtype)
    count = m.sum((1, 2))  # (B,)

    def hidden_l1(hyps: torch.Tensor) -> torch.Tensor:  # (B, K', T, 17, 3) -> (B, K')
        return ((hyps - target[:, None]).abs().mean(-1) * m[:, None]).sum((2, 3)) / count.clamp(min=1.0)[:, None]

    with torch.no_grad():
        pick = hidden_l1(model.hypotheses(enc, r_a.flatten(0, 1), k, anchored=True)).argmin(1)
    per = hidden_l1(model.hypotheses(enc, r_a[torch.arange(b), pick], 1, anchored=True))[:, 0]
    has = (count > 0).to(per.dtype)
    return (per * has).sum() / has.sum().clamp(min=1.0)


def view_losses(enc: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
    target = b["target"]
    gt = torch.einsum("btij,btkj->btki", b["view"], target)
    pred = torch.einsum("btij,btkj->btki", enc["rotation"], target)
    cam = enc["camera"]
    proj = cam[..., None, :1] * gt[..., :2] + cam[..., None, 1:]
    return masked_l1(pred, gt) + masked_l1(proj, b["joints2d"])


def _freeze(model: AmodalNet, trainable: list[torch.nn.Module]) -> list[torch.nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for m in trainable for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def gradient_penalty(model: AmodalNet, real: torch.Tensor, fake: torch.Tensor, z_u: torch.Tensor,
                     a: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty at the points ``a`` (B, 1, 1, 1) of the way from each fake clip to its real one."""
    mix = (a * real + (1 - a) * fake).requires_grad_(True)
    w, _ = model.critic(mix, z_u)
    g, = torch.autograd.grad(w.sum(), mix, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def train_amodal(train: MocapDataset, cfg: AmodalTrainConfig, device: str = "cpu",
                 on_step: Callable[[int, dict[str, float]], None] | None = None,
                 adapt: list[dict[str, np.ndarray]] | None = None) -> AmodalNet:
    if adapt and cfg.adapt_steps and process_count() > 1:
        raise PoseCliError("train amodal --adapt runs in one process, not under torchrun",
                           "run the adaptation without torchrun: it is a few hundred steps")
    group = join(device, cfg.batch)  # under torchrun: this process's rank (train.distributed); else alone
    device, rows = group.device, group.shard(cfg.batch)
    torch.manual_seed(cfg.seed)
    model = AmodalNet(cfg.model).to(device)
    if cfg.init:
        from .weights import load_weights

        load_weights(model, cfg.init)
    model = prepare(model, group)

    def draw(*shape: int, normal: bool = True) -> torch.Tensor:
        """Noise for the whole batch from the seeded CPU stream, this rank's rows of it (every rank draws the
        same, so the ranks' streams stay together and the batch gets one process's noise)."""
        full = torch.randn(*shape) if normal else torch.rand(*shape)
        return full[group.shard(shape[0])].to(device)
    sampler = ClipSampler(train, CLIP_LENGTH, seed=cfg.seed, videography=cfg.videography, mirror=cfg.mirror,
                          avoid_glitches=cfg.avoid_glitches, truncate=cfg.truncate, augment=cfg.augment)
    n0, n1, n2 = cfg.phases()
    step = 0

    def report(logs: dict[str, torch.Tensor | float]) -> None:
        nonlocal step
        if on_step is not None and group.main:
            on_step(step, {k: float(v) for k, v in logs.items()})
        step += 1

    # Phase 0: pose adversarial auto-encoder on single canonical poses.
    poses = np.concatenate([canonicalize(s.joints["h36m17"])[0] for s in sampler.sequences])
    if cfg.mirror:
        poses = np.concatenate([poses, mirror(poses, "h36m17")])
    poses_t = torch.as_tensor(poses, device=device)
    gen = torch.Generator().manual_seed(cfg.seed)
    params = _freeze(model, [model.pose.encoder, model.pose.decoder])
    opt = torch.optim.Adam(params, lr=cfg.lr)
    opt_d = torch.optim.Adam(model.pose.disc.parameters(), lr=cfg.lr)
    decay = [torch.optim.lr_scheduler.CosineAnnealingLR(o, n0) for o in (opt, opt_d)] if cfg.pose_steps else []
    for _ in range(n0):
        pick = torch.randint(len(poses_t), (cfg.batch * 32,), generator=gen)
        x = poses_t[pick[group.shard(len(pick))].to(device)]
        z = model.pose.encode(x)
        rec = masked_l1(model.pose.decode(z), x)
        prior = draw(len(pick), z.shape[1])
        for p in model.pose.disc.parameters():
            p.requires_grad_(True)
        d_loss = (F.softplus(-model.pose.disc(prior)) + F.softplus(model.pose.disc(z.detach()))).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        average_gradients(model.pose.disc.parameters(), group)
        opt_d.step()
        for p in model.pose.disc.parameters():
            p.requires_grad_(False)
        loss = rec + 0.01 * F.softplus(-model.pose.disc(z)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, group)
        opt.step()
        for sched in decay:
            sched.step()
        report({"phase": 0, "aae_rec_mm": 1000 * rec.item(), "aae_disc": d_loss.item()})

    # Phase 1: ME, N, MD supervised, D_pose frozen.
    params = _freeze(model, [model.me, model.md])
    opt = torch.optim.Adam(params, lr=cfg.lr)
    for _ in range(n1):
        b = sample_batch(sampler, cfg.batch, device, cfg.occlude, rows)
        enc = model.encode(b["x"])
        d = model.decode(enc, draw(cfg.batch, cfg.model.ra_dim))
        le = masked_l1(enc["e"], b["target"])
        ld = masked_l1(d, b["target"], b["visible"], group)
        lv = view_losses(enc, b)
        loss = le + ld + lv
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, group)
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        report({"phase": 1, "e_mm": 1000 * le.item(), "d_visible_mm": 1000 * ld.item(), "view": lv.item()})

    # Phase 2: Algorithm 1 (critic Dmd, then N + MD).
    opt_c = torch.optim.Adam(model.critic.parameters(), lr=cfg.lr / 2, betas=(0.5, 0.9))
    params = _freeze(model, [model.md])
    opt = torch.optim.Adam(params, lr=cfg.lr / 2, betas=(0.5, 0.9))
    for _ in range(n2):
        b = sample_batch(sampler, cfg.batch, device, cfg.occlude, rows)
        with torch.no_grad():
            enc = model.encode(b["x"])
        z_u, real = enc["z_u"], b["target"]
        for p in model.critic.parameters():
            p.requires_grad_(True)
        for _ in range(cfg.critic_steps):
            r_a = draw(cfg.batch, cfg.model.ra_dim)
            with torch.no_grad():
                fake = model.decode(enc, r_a)
            w_fake, r_hat = model.critic(fake, z_u)
            w_real, _ = model.critic(real, z_u)
            a = draw(cfg.batch, 1, 1, 1, normal=False)
            lc = (w_fake - w_real).mean() + cfg.gp * gradient_penalty(model, real, fake, z_u, a) \
                + cfg.lambda_r * (r_a - r_hat).abs().mean()
            opt_c.zero_grad(set_to_none=True)
            lc.backward()
            average_gradients(model.critic.parameters(), group)
            opt_c.step()
        for p in model.critic.parameters():
            p.requires_grad_(False)
        r_a = draw(cfg.batch, cfg.model.ra_dim)
        fake = model.decode(enc, r_a)
        w_fake, r_hat = model.critic(fake, z_u)
        with torch.no_grad():
            r_inv = model.critic(real, z_u)[1]
        content = masked_l1(model.decode(enc, r_inv), real)
        lr_ = (r_a - r_hat).abs().mean()
        loss = -w_fake.mean() + cfg.lambda_r * lr_ + cfg.lambda_c * content
        logs = {}
        if cfg.variety > 1:
            variety = best_of_k_loss(model, enc, real, ~b["visible"], draw(cfg.batch, cfg.variety, cfg.model.ra_dim))
            loss = loss + cfg.lambda_c * variety
            logs["variety_mm"] = 1000 * variety.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, group)
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        report({"phase": 2, "critic": lc.item(), "content_mm": 1000 * content.item(), "r_rec": lr_.item(), **logs})

    if adapt and cfg.adapt_steps:
        adapt_encoder(model, sampler, adapt, cfg, device, report)
    leave(group)
    _freeze(model, [])
    return model.eval()


# Phase 3 -------------------------------------------------------------------------------------------------

def unlabelled_clips(tracks: list[dict[str, np.ndarray]], rng: np.random.Generator, batch: int,
                     shift: tuple[int, int] = (5, 30)) -> dict[str, np.ndarray]:
    """Views of unlabelled 2D tracks ({"points" (T, 17, 2) px, "conf", "width", "height"} at 30 fps):
    x^noaug, two videographic augmentations i, j of frames [s, s+T), a third k of [s+t_k, s+t_k+T),
    and per-frame full-visibility masks (alpha > 0.7)."""
    from ..synth2d import simulate_videography

    long = [t for t in tracks if len(t["points"]) >= CLIP_LENGTH + shift[1]]
    out: dict[str, list] = {}
    for _ in range(batch):
        t = long[int(rng.integers(len(long)))]
        tk = int(rng.integers(shift[0], shift[1] + 1))
        s = int(rng.integers(0, len(t["points"]) - CLIP_LENGTH - tk + 1))
        seen = visible_joints(t["points"], t["conf"], t["width"], t["height"])
        views = {}
        for name, start in (("noaug", s), ("i", s), ("j", s), ("k", s + tk)):
            uv, vis = t["points"][start:start + CLIP_LENGTH], seen[start:start + CLIP_LENGTH]
            if name != "noaug":
                uv, inside, _ = simulate_videography(np.nan_to_num(uv), t["width"], t["height"], rng,
                                                     truncate_lower_body=0.5, joint_set="coco17")
                vis = vis & inside
            x, _, _ = model_input(uv, vis)
            alpha = vis.sum(-1) / np.maximum(seen[start:start + CLIP_LENGTH].sum(-1), 1)
            views.setdefault("x_" + name, x)
            views["full_" + name] = alpha > 0.7
        for key, v in views.items():
            out.setdefault(key, []).append(v)
        out.setdefault("shift", []).append(tk)
    return {k: np.stack(v) for k, v in out.items()}


def adapt_encoder(model: AmodalNet, sampler: ClipSampler, tracks: list[dict[str, np.ndarray]],
                  cfg: AmodalTrainConfig, device: str, report: Callable) -> None:
    params = _freeze(model, [model.me])
    opt_u = torch.optim.Adam(params, lr=cfg.lr / 10)
    opt_s = torch.optim.Adam(params, lr=cfg.lr / 10)
    rng = np.random.default_rng(cfg.seed + 1)
    n = cfg.batch
    for it in range(cfg.adapt_steps):
        if it % 2 == 0:  # unsupervised batch
            u = {k: torch.as_tensor(v, device=device) for k, v in unlabelled_clips(tracks, rng, n).items()}
            with torch.no_grad():
                e_noaug = model.encode(u["x_noaug"])["e"]
            enc = {v: model.encode(u["x_" + v]) for v in "ijk"}
            d = {v: model.decode(enc[v], model.sample_ra(n, device=device)) for v in "ijk"}
            la1 = masked_l1(d["i"], d["j"], u["full_i"] & u["full_j"])
            tk = int(u["shift"][0])  # one shift per batch keeps the overlap a tensor slice
            la2 = masked_l1(d["i"][:, tk:], d["k"][:, :-tk], u["full_i"][:, tk:] & u["full_k"][:, :-tk])
            r_hat = model.critic(e_noaug, enc["i"]["z_u"])[1]
            lb = masked_l1(model.decode(enc["i"], r_hat), e_noaug)
            loss, opt, logs = la1 + la2 + lb, opt_u, {"phase": 3, "la1_mm": 1000 * la1.item(),
                                                       "la2_mm": 1000 * la2.item(), "lb_mm": 1000 * lb.item()}
        else:  # supervised batch: L_A^sup + L_content^X + L_B^sup (= content with r^ from the ground truth)
            b = sample_batch(sampler, n, device, cfg.occlude)
            enc = model.encode(b["x"])
            d = model.decode(enc, model.sample_ra(n, device=device))
            la = masked_l1(enc["e"], b["target"]) + masked_l1(d, b["target"], b["visible"])
            content = masked_l1(model.decode(enc, model.critic(b["target"], enc["z_u"])[1]), b["target"])
            loss, opt, logs = la + 2 * content + view_losses(enc, b), opt_s, {"phase": 3, "sup_mm": 1000 * la.item()}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        report(logs)


def load_unlabelled(paths: list) -> list[dict[str, np.ndarray]]:
    """Pose files from ``posecli track`` -> per track COCO-17 pixels + confidence at 30 fps."""
    from .. import joints
    from ..formats import read_poses
    from ..lifting.pipeline import interp_frames, resample_times
    from ..poses import KEYPOINTS_2D

    out = []
    for path in paths:
        poses = read_poses(path)
        for t in poses.tracks:
            if KEYPOINTS_2D not in t.keypoints or len(t) < 2:
                continue
            kp = t.keypoints[KEYPOINTS_2D]
            pts, conf = joints.convert(kp.points, kp.confidence, kp.joint_set, "coco17")
            grid = resample_times(t.times, MODEL_FPS)
            pts = interp_frames(np.nan_to_num(pts), t.times, grid)
            conf = interp_frames(conf, t.times, grid)  # convert() already gave missing joints confidence 0
            out.append({"points": pts, "conf": conf, "width": poses.width or 1000, "height": poses.height or 1000})
    return out


# Evaluation ----------------------------------------------------------------------------------------------

def interpolate_missing(points: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline input: each hidden 2D joint linearly interpolated (held at the ends) from the frames that saw
    it; a joint never seen stays missing. Returns (points, confidence 1 / 0)."""
    out = np.array(points, dtype=np.float32)
    conf = np.zeros(visible.shape, np.float32)
    idx = np.arange(len(points))
    for j in range(points.shape[1]):
        seen = visible[:, j]
        if seen.any():
            for d in range(2):
                out[:, j, d] = np.interp(idx, idx[seen], points[seen, j, d])
            conf[:, j] = 1.0
    return out, conf


def lifted_baseline(lifter, window: int, pts: np.ndarray, visible: np.ndarray, clip, device: str = "cpu"
                    ) -> np.ndarray:
    """The baseline the completion is compared with: hidden 2D linearly interpolated (``interpolate_missing``),
    lifted by ``estimate``'s lifter, taken to the world with the true camera and canonicalised; (T, 17, 3).
    A static camera's image size and focal go to the lifter, which turns its centred view to the camera's
    axes with them (without them its leg error with nothing hidden was 202 mm instead of 101 on subject 006).
    A videographed clip (``clip.visible`` set) is a moving, zooming crop whose focal changes per frame, so
    the lifter keeps its own guess there (given the uncropped camera's focal, the truncation set's baseline
    went from 617 to 640 mm)."""
    from ..lifting.pipeline import lift_track
    from ..poses import KEYPOINTS_2D, Keypoints, Track

    n = len(pts)
    p2, c2 = interpolate_missing(pts, visible)
    track = Track(0, np.arange(n), np.arange(n) / MODEL_FPS, {KEYPOINTS_2D: Keypoints("coco17", p2, c2)})
    width, height, focal = (*clip.size, clip.focal) if clip.size and clip.visible is None else (None, None, None)
    cam = lift_track(lifter, track, window, width, height, focal, device=device).arrays["keypoints3d_all"]
    world = np.einsum("ji,tkj->tki", clip.rotation, cam - cam[:, :1])  # R^T: camera -> world axes
    return canonicalize(world)[0]


def pose_structure_score(pred: np.ndarray, gt: np.ndarray, centres: np.ndarray) -> float:
    """PSS: fraction of poses whose prediction falls in the ground truth's k-means cluster (scale-free poses)."""
    def assign(p: np.ndarray) -> np.ndarray:
        f = p.reshape(len(p), -1)
        f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
        return ((f[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    return float((assign(pred) == assign(gt)).mean())


def pss_centres(gt: np.ndarray, clusters: int = 50, seed: int = 0) -> np.ndarray:
    from scipy.cluster.vq import kmeans2

    f = gt.reshape(len(gt), -1).astype(np.float64)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
    return kmeans2(f, min(clusters, len(f)), seed=seed, minit="++")[0]


def best_of(hyps: np.ndarray, gt: np.ndarray, hidden: np.ndarray, chunks: np.ndarray) -> np.ndarray:
    """(T, 17, 3): per chunk of frames, the hypothesis (of (T, K, 17, 3)) with the lowest hidden-joint error."""
    herr = (np.linalg.norm(hyps - gt[:, None], axis=-1) * hidden[:, None]).sum(-1)  # (T, K)
    pick = np.zeros(len(gt), dtype=int)
    for c in np.unique(chunks):
        sel = chunks == c
        pick[sel] = herr[sel].sum(0).argmin()
    return hyps[np.arange(len(gt)), pick]


def evaluate_leg_gaps(model: AmodalNet, dataset: MocapDataset, k: int = 10, seed: int = 1234, clean: bool = False,
                      device: str = "cpu", max_frames: int | None = None, anchored: bool = True,
                      estimate_weights=None, bridged: bool = False, gap_lengths: tuple[int, ...] = (),
                      matched: bool = False) -> dict:
    """Held-out sequences filmed whole by a static camera (no framing cuts), knees and ankles hidden as
    ``amodal.occlusion.leg_gap``'s cases: ``whole`` (every frame), ``gap`` (1 s hidden with 1 s seen before and
    after, repeating), ``end`` (the last second) and ``middle`` (the middle half of the sequence). Same clips and
    2D for every case. Per case the hidden-joint MPJPE of the deterministic output and of the best of ``k``
    hypotheses (per 90-frame chunk), the hypotheses' spread on hidden joints (mean pairwise distance, mm), and
    ``gap_over_whole``. With ``estimate_weights``, each case also scores ``lifted_baseline``
    (``interp2d_estimate``), and a further case, ``seen``, scores the same joints with nothing hidden: the floor
    that accuracy sets under any completion. ``gap_lengths``: further cases ``gap_L``, gaps of L frames with 2 L
    seen between them."""
    from ..lifting.pipeline import load_lifter

    lifter, lifter_card = load_lifter(estimate_weights, device) if estimate_weights else (None, {})
    window = int(lifter_card.get("config", {}).get("length", 32))
    sampler = ClipSampler(dataset, CLIP_LENGTH, seed=seed, videography=0.0,
                          noise=(0.0, 0.0) if clean else (0.6, 1.5))
    rng = np.random.default_rng(seed)
    clips = []
    for seq in dataset.sequences:
        n = len(seq) if max_frames is None else min(len(seq), max_frames)
        clip = sampler.make_clip(seq.joints["h36m17"][:n], seq.joints["coco17"][:n], rng, seq.fps)
        pts = clip.x[..., :2] * clip.scale[:, None, None] + clip.centre[:, None]
        clips.append((pts, visible_joints(pts, clip.x[..., 2]), canonicalize(seq.joints["h36m17"][:n])[0], clip))
    out: dict = {}
    cases = {name: (name, 90, 30) for name in ("whole", "gap", "end", "middle")}
    cases.update({f"gap_{n}": ("gap", 3 * n, n) for n in gap_lengths})
    if lifter is not None:
        cases["seen"] = ("whole", 90, 30)
    for case, (kind, period, length) in cases.items():
        errs: dict[str, list] = {"deterministic": [], f"best_of_{k}": [], "spread": []}
        if lifter is not None:
            errs["interp2d_estimate"] = []
        for si, (pts, vis, gt, clip) in enumerate(clips):
            gap = leg_gap(len(pts), kind, period, length)
            shown = vis if case == "seen" else vis & ~gap
            x, _, _ = model_input(pts, shown)
            hidden = hidden_h36m(vis & ~gap) & hidden_h36m(~gap)  # the legs' joints, as far as this case hides
            if not hidden.any():
                continue
            res = complete_clip(model, x, k, seed + si, device, raw=True, anchored=anchored, bridged=bridged,
                                matched=matched)
            hyps = np.where(hidden[:, None, :, None], res["d"], res["e"][:, None])
            chunks = np.arange(len(pts)) // CLIP_LENGTH
            pick = best_of(hyps, gt, hidden, chunks)
            errs["deterministic"].append(np.linalg.norm(res["e"] - gt, axis=-1)[hidden])
            errs[f"best_of_{k}"].append(np.linalg.norm(pick - gt, axis=-1)[hidden])
            pair = np.linalg.norm(res["d"][:, :, None] - res["d"][:, None], axis=-1).mean((1, 2)) * k / max(k - 1, 1)
            errs["spread"].append(pair[hidden])
            if lifter is not None:
                base = lifted_baseline(lifter, window, pts, shown, clip, device)
                errs["interp2d_estimate"].append(np.linalg.norm(base - gt, axis=-1)[hidden])
        out[case] = {("spread_hidden_mm" if name == "spread" else f"mpjpe_hidden_{name}_mm"):
                     round(1000 * float(np.concatenate(v).mean()), 1) for name, v in errs.items()}
        out[case]["hidden_joint_frames"] = int(sum(len(v) for v in errs["deterministic"]))
    for name in ("deterministic", f"best_of_{k}"):
        key = f"mpjpe_hidden_{name}_mm"
        out[f"gap_over_whole_{name}"] = round(out["gap"][key] / out["whole"][key], 3)
    out["best_of_over_deterministic"] = {case: round(out[case][f"mpjpe_hidden_best_of_{k}_mm"]
                                                     / out[case]["mpjpe_hidden_deterministic_mm"], 3)
                                         for case in ("whole", "gap", "end", "middle")}
    return out


def evaluate_amodal(model: AmodalNet, dataset: MocapDataset, ks: tuple[int, ...] = (1, 10, 50), seed: int = 1234,
                    clean: bool = False, estimate_weights=None, device: str = "cpu",
                    max_frames: int | None = None, anchored: bool = True, bridged: bool = False,
                    matched: bool = False) -> dict:
    """Held-out sequences, each filmed by a seeded camera with videography and lower-body truncation on every
    clip, scored in the canonical frame (metres of the canonical skeleton, pelvis-aligned):
    - ``mpjpe_hidden_mm``: deterministic e, best-of-K hypotheses (per 90-frame chunk, the hypothesis with the
      lowest hidden-joint error; hypotheses keep e's visible joints) for each K in ``ks``, and the baseline
      "hidden 2D linearly interpolated + the shipped estimate model" (its camera-frame joints taken to the
      world with the true camera, then canonicalised; skipped when ``estimate_weights`` is None);
    - ``pss``: the same outputs, k-means with 50 clusters on the ground-truth poses of all evaluated frames;
    - ``diversity_mm``: mean pairwise distance between the largest K's *raw* MD hypotheses on hidden and on
      visible joints (visible should be near 0: the model's own consistency, not the pipeline's override).
    ``clean``: exact 2D but for rare outliers/swaps. ``max_frames`` caps frames per sequence (quick checks)."""
    from ..lifting.pipeline import load_lifter

    # "clean" = no Gaussian 2D noise (outliers and swaps stay): ClipSampler's clean mode films no videography.
    sampler = ClipSampler(dataset, CLIP_LENGTH, seed=seed, videography=1.0, truncate=1.0,
                          noise=(0.0, 0.0) if clean else (0.6, 1.5))
    rng = np.random.default_rng(seed)
    lifter, lifter_card = load_lifter(estimate_weights, device) if estimate_weights else (None, {})
    window = int(lifter_card.get("config", {}).get("length", 32))
    kmax = max(ks)
    rows: dict[str, list] = {"gt": [], "e": [], "hidden": [], "base": [], "chunk": []}
    best: dict[int, list] = {k: [] for k in ks}
    div_h, div_v = [], []
    chunk_id = 0
    for si, seq in enumerate(dataset.sequences):
        n = len(seq) if max_frames is None else min(len(seq), max_frames)
        h36m, coco = seq.joints["h36m17"][:n], seq.joints["coco17"][:n]
        clip = sampler.make_clip(h36m, coco, rng, seq.fps)
        pts = clip.x[..., :2] * clip.scale[:, None, None] + clip.centre[:, None]
        vis = visible_joints(pts, clip.x[..., 2]) & clip.visible
        x, _, _ = model_input(pts, vis)
        gt = canonicalize(h36m)[0]
        hidden = hidden_h36m(vis)
        out = complete_clip(model, x, kmax, seed + si, device, raw=True, anchored=anchored, bridged=bridged,
                            matched=matched)
        e, raw = out["e"], out["d"]
        hyps = np.where(hidden[:, None, :, None], raw, e[:, None])
        pair = np.linalg.norm(raw[:, :, None] - raw[:, None], axis=-1).mean((1, 2)) * kmax / max(kmax - 1, 1)
        div_h.append(pair[hidden])
        div_v.append(pair[~hidden])
        chunks = np.arange(n) // CLIP_LENGTH
        for k in ks:
            best[k].append(best_of(hyps[:, :k], gt, hidden, chunks))
        rows["gt"].append(gt)
        rows["e"].append(e)
        rows["hidden"].append(hidden)
        rows["chunk"].append(chunks + chunk_id)
        chunk_id += int(chunks.max()) + 1
        if lifter is not None:
            rows["base"].append(lifted_baseline(lifter, window, pts, vis, clip, device))
    gt, hidden = np.concatenate(rows["gt"]), np.concatenate(rows["hidden"])
    centres = pss_centres(gt, 50, seed)

    def hidden_mpjpe(pred: np.ndarray) -> float:
        return round(1000 * float(np.linalg.norm(pred - gt, axis=-1)[hidden].mean()), 1) if hidden.any() else float("nan")

    outputs = {"deterministic": np.concatenate(rows["e"])}
    outputs.update({f"best_of_{k}": np.concatenate(best[k]) for k in ks})
    if rows["base"]:
        outputs["interp2d_estimate"] = np.concatenate(rows["base"])
    return {
        "mpjpe_hidden_mm": {name: hidden_mpjpe(p) for name, p in outputs.items()},
        "mpjpe_all_mm": {name: round(1000 * float(np.linalg.norm(p - gt, axis=-1).mean()), 1)
                         for name, p in outputs.items()},
        "pss": {name: round(pose_structure_score(p, gt, centres), 3) for name, p in outputs.items()},
        "diversity_mm": {"hidden": round(1000 * float(np.concatenate(div_h).mean()), 1) if hidden.any() else 0.0,
                         "visible": round(1000 * float(np.concatenate(div_v).mean()), 1), "k": kmax},
        "hidden_fraction": round(float(hidden.mean()), 3), "sequences": len(dataset.sequences), "frames": len(gt)}
