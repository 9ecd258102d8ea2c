"""Probabilistic amodal completion (seed 000) over 2D keypoint clips: pose auto-encoder, motion encoder ME,
noise mixer N, motion decoder MD, conditional critic Dmd. nn.Modules only.

Shapes: a clip is (B, T, 17, 3) normalised COCO-17 keypoints (x, y, visible 0/1; hidden joints zeroed),
T = 90 at 30 fps. Poses are H36M-17 in the canonical frame of ``posecli.amodal.canonical`` (pelvis at 0,
hips along +X, Y up, canonical bone lengths, metres).

Choices the paper leaves open (spec sec. 2 and 7), all marked as assumptions:
- Frames enter as 2D keypoints + visibility through a 2-layer MLP instead of ResNet-50 features.
- Pose AAE: E_pose / D_pose are MLPs; D_pose outputs 16 bone *directions* that forward kinematics turns into
  joints with the canonical bone lengths (the "kinematic tree" structure; bone lengths exact by
  construction); latent 32-d with a N(0, I) prior enforced by Disc_pose (adversarial auto-encoder).
- ME: MLP frame features -> 1-layer bidirectional LSTM (``hidden`` units per direction, paper 512) -> per
  frame pose latent (decoded by the frozen D_pose into e), plus a *view head* the paper does not have: a 6D
  rotation canonical -> camera axes and a weak-perspective camera (s, tx, ty), so ``complete`` can write
  camera-frame joints like ``estimate``. z_u = Linear([last forward state, first backward state]).
- r_a ~ N(0, I_8); N = MLP([z_u, r_a]) -> z_m (128-d).
- MD: 1-layer bidirectional LSTM whose input per frame is [z_m, a projection of ME's per-frame state]. The
  paper decodes from z_m alone; the per-frame skip is ours: a 3-s motion squeezed through 128 numbers loses
  the visible joints' detail in a CPU-sized model. Dmd_r's r_a regression keeps r_a from being ignored.
- Dmd: temporal 1-D convolutions over the pose sequence, mean-pooled, concatenated with z_u, two heads
  (Wasserstein logit, r_a regression); Lipschitz constraint by gradient penalty (WGAN-GP, in training).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..amodal.canonical import BONE_CHILDREN, CANONICAL_LENGTHS, PARENTS

NUM_JOINTS = 17


@dataclass
class AmodalConfig:
    frame_dim: int = 256
    hidden: int = 512  # LSTM units per direction (paper: 512)
    pose_latent: int = 32
    pose_hidden: int = 256
    zu_dim: int = 64
    ra_dim: int = 8
    zm_dim: int = 128
    critic_dim: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


def mlp(*dims: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers[:-1])


def forward_kinematics(directions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(..., 16, 3) bone directions (any norm) -> (..., 17, 3) joints, pelvis at 0, bones of ``lengths``."""
    unit = F.normalize(directions, dim=-1, eps=1e-6)
    out = [directions.new_zeros(*directions.shape[:-2], 3) for _ in range(NUM_JOINTS)]
    for b, j in enumerate(BONE_CHILDREN.tolist()):  # parents precede children in H36M order
        out[j] = out[int(PARENTS[j])] + unit[..., b, :] * lengths[b]
    return torch.stack(out, -2)


def rotation_6d(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) rotation (Zhou et al.'s continuous 6D form; columns by Gram-Schmidt)."""
    a, b = x[..., :3], x[..., 3:]
    c1 = F.normalize(a, dim=-1)
    c2 = F.normalize(b - (c1 * b).sum(-1, keepdim=True) * c1, dim=-1)
    return torch.stack([c1, c2, torch.cross(c1, c2, dim=-1)], -1)


class PoseAutoEncoder(nn.Module):
    def __init__(self, c: AmodalConfig):
        super().__init__()
        self.encoder = mlp(NUM_JOINTS * 3, c.pose_hidden, c.pose_hidden, c.pose_latent)
        self.decoder = mlp(c.pose_latent, c.pose_hidden, c.pose_hidden, (NUM_JOINTS - 1) * 3)
        self.disc = mlp(c.pose_latent, c.pose_hidden // 2, c.pose_hidden // 2, 1)
        self.register_buffer("lengths", torch.as_tensor(CANONICAL_LENGTHS), persistent=False)

    def encode(self, pose: torch.Tensor) -> torch.Tensor:
        return self.encoder(pose.flatten(-2))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return forward_kinematics(self.decoder(z).unflatten(-1, (NUM_JOINTS - 1, 3)), self.lengths)


class MotionEncoder(nn.Module):
    """ME: (B, T, 17, 3) -> per-frame pose latent, per-frame state h (B, T, 2H), z_u, view rotation, camera."""

    def __init__(self, c: AmodalConfig):
        super().__init__()
        self.frames = nn.Sequential(mlp(NUM_JOINTS * 3, c.frame_dim, c.frame_dim), nn.LeakyReLU(0.2))
        self.lstm = nn.LSTM(c.frame_dim, c.hidden, batch_first=True, bidirectional=True)
        self.pose = nn.Linear(2 * c.hidden, c.pose_latent)
        self.view = nn.Linear(2 * c.hidden, 9)  # 6D rotation + (s, tx, ty)
        self.zu = nn.Linear(2 * c.hidden, c.zu_dim)
        with torch.no_grad():  # start from identity rotation, scale 1
            self.view.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0, 1, 0, 0]))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h, (hn, _) = self.lstm(self.frames(x.flatten(-2)))
        v = self.view(h)
        return {"z": self.pose(h), "h": h, "z_u": self.zu(torch.cat([hn[0], hn[1]], -1)),
                "rotation": rotation_6d(v[..., :6]), "camera": v[..., 6:]}


class MotionDecoder(nn.Module):
    """N and MD: (z_u, r_a, ME's per-frame state) -> per-frame pose latent."""

    def __init__(self, c: AmodalConfig):
        super().__init__()
        self.noise = mlp(c.zu_dim + c.ra_dim, c.zm_dim, c.zm_dim)
        self.skip = nn.Linear(2 * c.hidden, c.frame_dim)
        self.lstm = nn.LSTM(c.zm_dim + c.frame_dim, c.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * c.hidden, c.pose_latent)

    def forward(self, z_u: torch.Tensor, r_a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z_m = self.noise(torch.cat([z_u, r_a], -1))
        inp = torch.cat([z_m[:, None].expand(-1, h.shape[1], -1), self.skip(h)], -1)
        return self.out(self.lstm(inp)[0])


class Critic(nn.Module):
    """Dmd: (pose sequence (B, T, 17, 3), z_u) -> (Wasserstein logit (B,), r_a estimate (B, ra_dim))."""

    def __init__(self, c: AmodalConfig):
        super().__init__()
        d = c.critic_dim
        self.conv = nn.Sequential(nn.Conv1d(NUM_JOINTS * 3, d, 5, padding=2), nn.LeakyReLU(0.2),
                                  nn.Conv1d(d, d, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
                                  nn.Conv1d(d, d, 5, stride=2, padding=2), nn.LeakyReLU(0.2))
        self.head = mlp(d + c.zu_dim, d, d)
        self.w = nn.Linear(d, 1)
        self.r = nn.Linear(d, c.ra_dim)

    def forward(self, poses: torch.Tensor, z_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.conv(poses.flatten(-2).transpose(1, 2)).mean(-1)
        g = F.leaky_relu(self.head(torch.cat([f, z_u], -1)), 0.2)
        return self.w(g)[:, 0], self.r(g)


class AmodalNet(nn.Module):
    def __init__(self, config: AmodalConfig | None = None):
        super().__init__()
        self.config = c = config or AmodalConfig()
        self.pose = PoseAutoEncoder(c)
        self.me = MotionEncoder(c)
        self.md = MotionDecoder(c)
        self.critic = Critic(c)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """ME + frozen D_pose: adds "e" (B, T, 17, 3), the deterministic full-body motion."""
        enc = self.me(x)
        enc["e"] = self.pose.decode(enc["z"])
        return enc

    def decode(self, enc: dict[str, torch.Tensor], r_a: torch.Tensor) -> torch.Tensor:
        """d(r_a) (B, T, 17, 3) for one r_a (B, ra_dim) per clip."""
        return self.pose.decode(self.md(enc["z_u"], r_a, enc["h"]))

    def sample_ra(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.config.ra_dim, generator=generator).to(device or "cpu")

    def forward(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None,
                anchored: bool = False) -> dict[str, torch.Tensor]:
        """Deterministic output and ``k`` hypotheses: e (B, T, 17, 3), d (B, T, k, 17, 3), rotation, camera.

        ``anchored``: hypothesis k = D_pose(z_e + MD(r_a,k) - MD(0)), the variation MD draws for r_a added to
        ME's own pose latents instead of MD's output itself. Not in the paper: with a CPU-sized MD its
        outputs are less accurate than ME's (held-out hidden-joint MPJPE 179 vs 137 mm for one draw), so
        the best of 50 draws was still worse than the deterministic e; anchoring keeps MD's learned,
        r_a-driven spread around the better centre. Poses stay exact-length skeletons (latent space)."""
        enc = self.encode(x)
        d = self.hypotheses(enc, self.sample_ra(x.shape[0] * k, generator, x.device), k, anchored)
        return {"e": enc["e"], "d": d.transpose(1, 2), "rotation": enc["rotation"], "camera": enc["camera"]}

    def hypotheses(self, enc: dict[str, torch.Tensor], r_a: torch.Tensor, k: int, anchored: bool) -> torch.Tensor:
        """(B, k, T, 17, 3) poses for ``r_a`` (B * k, ra_dim: clip-major) on ``encode``'s output (see forward)."""
        b = enc["z_u"].shape[0]
        z = self.md(enc["z_u"].repeat_interleave(k, 0), r_a, enc["h"].repeat_interleave(k, 0))
        if anchored:
            centre = self.md(enc["z_u"], torch.zeros_like(r_a[:b]), enc["h"])
            z = z + (enc["z"] - centre).repeat_interleave(k, 0)
        return self.pose.decode(z).unflatten(0, (b, k))
