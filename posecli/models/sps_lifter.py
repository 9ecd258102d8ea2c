"""SPS-Net (seed 004) adapted to 2D keypoints: frame encoder -> self-attention temporal module + forecasting
module -> softmax fusion -> iterative regressors of 3D joints and a weak-perspective camera.

Adaptations (DESIGN.md, seed 004 row), each a choice the paper leaves open or cannot apply offline:
- Per-frame features come from a small residual MLP over normalised 2D keypoints + confidences instead of a
  frozen HMR/SPIN ResNet-50 (no such weights offline). ``FrameEncoder`` is the only part that sees the input,
  so an image-feature encoder can replace it.
- The encoder is trained, so the forecasting target f_{i+1} is detached (the paper's frozen E cannot collapse;
  ours could shrink its features to make forecasting trivial).
- Attention logits are scaled by 1/sqrt(d): the paper's unscaled q.k over d-dim LeakyReLU features saturates
  the softmax to one-hot at initialisation (spec, pitfalls). Single head, no value projection, residual, as
  in the paper.
- The regressors output H36M-17 joints (metres, root-relative, camera axes) directly instead of SMPL
  parameters; body models are fitted afterwards (``--body``). Camera = (s, tx, ty) weak perspective, HMR's
  3-vector. Both use iterative error feedback with 3 iterations (HMR's count; the paper does not say).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

NUM_JOINTS_IN = 17  # COCO-17 detector points
NUM_JOINTS_OUT = 17  # H36M-17


@dataclass
class LifterConfig:
    dim: int = 256  # feature size d
    encoder_blocks: int = 2
    regressor_hidden: int = 256
    temporal: str = "attention"  # "attention" | "gru" | "none" (single-frame baseline) | "tcn" (models.tcn_lifter)
    forecasting: bool = True
    iterations: int = 3  # iterative error feedback steps
    dropout: float = 0.1
    # "mlp": per-frame residual MLP (session 1-3); "conv": dilated temporal convolutions over the window
    # (kernel 3, dilations 1, 3, 9: each frame's feature sees 27 frames), see ConvFrameEncoder.
    encoder: str = "mlp"
    up_head: bool = False  # also predict the world's up direction in camera axes (False in older cards)
    # tcn only (VideoPose3D's sizes):
    channels: int = 1024
    receptive_field: int = 27
    tcn_dropout: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.LeakyReLU(0.1), nn.Dropout(dropout),
                                 nn.Linear(dim, dim), nn.LayerNorm(dim), nn.LeakyReLU(0.1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class FrameEncoder(nn.Module):
    """(B, N, J, 3) normalised x, y, confidence -> (B, N, d) per-frame features (Martinez-style MLP)."""

    def __init__(self, dim: int, blocks: int, dropout: float, joints: int = NUM_JOINTS_IN):
        super().__init__()
        self.inp = nn.Linear(joints * 3, dim)
        self.blocks = nn.Sequential(*[ResidualBlock(dim, dropout) for _ in range(blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.inp(x.flatten(-2)))


class ConvFrameEncoder(nn.Module):
    """(B, N, J, 3) -> (B, N, d): features with local motion in them. SPS-Net's per-frame features come from an
    image network that sees texture and shading; from 2D keypoints alone a single frame leaves depth
    ambiguous, and the motion over a few frames resolves much of it (what VideoPose3D's convolutions
    exploit). Kernel-3 convolutions with dilations 1, 3, 9 ('same' padding by repeating the window's edge
    frames), residual, LayerNorm over channels."""

    def __init__(self, dim: int, blocks: int, dropout: float, joints: int = NUM_JOINTS_IN):
        super().__init__()
        self.inp = nn.Conv1d(joints * 3, dim, 3, padding=1, padding_mode="replicate")
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, 3, dilation=3 ** (b + 1), padding=3 ** (b + 1),
                                             padding_mode="replicate") for b in range(blocks))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(blocks + 1))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(-2).transpose(1, 2))
        h = F.leaky_relu(self.norms[0](h.transpose(1, 2)), 0.1).transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms[1:]):
            h = h + self.drop(F.leaky_relu(norm(conv(h).transpose(1, 2)), 0.1).transpose(1, 2))
        return h.transpose(1, 2)


def two_fc(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.1), nn.Linear(hidden, dim), nn.LeakyReLU(0.1))


class SelfAttention(nn.Module):
    """h_i = f_i + sum_l softmax_l(q_i . k_l / sqrt(d)) f_l over all frames of the clip (past and future)."""

    def __init__(self, dim: int):
        super().__init__()
        self.q, self.k = two_fc(dim, dim), two_fc(dim, dim)
        self.scale = dim ** -0.5

    def forward(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.einsum("bid,bjd->bij", self.q(f), self.k(f)) * self.scale
        if mask is not None:  # padded frames of a short clip take no attention
            w = w.masked_fill(~mask[:, None, :], float("-inf"))
        a = w.softmax(-1)
        return f + torch.einsum("bij,bjd->bid", a, f), a


class GRUTemporal(nn.Module):
    """The paper's ablation: attention replaced by a 2-layer (bidirectional) GRU, residual as VIBE."""

    def __init__(self, dim: int):
        super().__init__()
        self.gru = nn.GRU(dim, dim // 2, num_layers=2, batch_first=True, bidirectional=True)

    def forward(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return f + self.gru(f)[0], None


class IterativeRegressor(nn.Module):
    """HMR's iterative error feedback: y <- y + R([x, y]), starting from a learned mean."""

    def __init__(self, dim: int, out: int, hidden: int, iterations: int, dropout: float):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(out))
        self.net = nn.Sequential(nn.Linear(dim + out, hidden), nn.LeakyReLU(0.1), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.1), nn.Dropout(dropout),
                                 nn.Linear(hidden, out))
        self.iterations = iterations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mean.expand(*x.shape[:-1], -1)
        for _ in range(self.iterations):
            y = y + self.net(torch.cat([x, y], -1))
        return y


class SPSLifter(nn.Module):
    def __init__(self, config: LifterConfig | None = None):
        super().__init__()
        self.config = c = config or LifterConfig()
        self.encoder = (ConvFrameEncoder if c.encoder == "conv" else FrameEncoder)(c.dim, c.encoder_blocks, c.dropout)
        self.temporal = {"attention": SelfAttention, "gru": GRUTemporal}.get(c.temporal, lambda d: None)(c.dim)
        self.forecast = two_fc(c.dim, c.dim) if c.forecasting and c.temporal != "none" else None
        self.fuse = nn.Linear(c.dim, 1)  # shared between h_i and f'_i, softmax over the pair
        self.pose = IterativeRegressor(c.dim, NUM_JOINTS_OUT * 3, c.regressor_hidden, c.iterations, c.dropout)
        self.camera = IterativeRegressor(c.dim, 3, c.regressor_hidden // 2, c.iterations, c.dropout)
        self.up = nn.Linear(c.dim, 3) if c.up_head else None
        with torch.no_grad():
            self.camera.mean.copy_(torch.tensor([1.0, 0.0, 0.0]))  # scale 1, no shift

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``x`` (B, N, 17, 3) normalised COCO-17 x, y, confidence; ``mask`` (B, N) True for real frames.

        Returns joints (B, N, 17, 3) root-relative metres, camera (B, N, 3) = (s, tx, ty), features f,
        forecasts f' (f'_i predicted from f_{i-1}; f'_0 = f_0), attention (B, N, N) or None.
        """
        f = self.encoder(x)
        attn = None
        if self.temporal is None:
            fused, forecast = f, None
        else:
            h, attn = self.temporal(f, mask)
            if self.forecast is None:
                fused, forecast = h, None
            else:
                nxt = self.forecast(f[:, :-1])
                forecast = torch.cat([h[:, :1], nxt], 1)  # F_1 = h_1: no forecast for the first frame
                w = torch.stack([self.fuse(h), self.fuse(forecast)], -1).softmax(-1)
                fused = w[..., 0] * h + w[..., 1] * forecast
        joints = self.pose(fused).unflatten(-1, (NUM_JOINTS_OUT, 3))
        joints = joints - joints[..., :1, :]  # root-relative by construction
        out = {"joints": joints, "camera": self.camera(fused), "features": f, "forecast": forecast,
               "attention": attn}
        if self.up is not None:  # level camera at initialisation: up = -y in camera axes
            out["up"] = F.normalize(self.up(fused) + fused.new_tensor([0.0, -1.0, 0.0]), dim=-1)
        return out


def feature_forecast_loss(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """|| f_{i+1} - F(f_i) || over the clip, target detached (see module docstring)."""
    if out["forecast"] is None:
        return out["features"].new_zeros(())
    return F.mse_loss(out["forecast"][:, 1:], out["features"][:, 1:].detach())


def build_lifter(config: LifterConfig) -> nn.Module:
    """The lifter a config names: SPS-Net (attention / gru / none) or the VideoPose3D TCN baseline."""
    if config.temporal == "tcn":
        from .tcn_lifter import TCNLifter

        return TCNLifter(config)
    return SPSLifter(config)
