"""Pr-VIPE (seed 003): a 2D pose -> a diagonal Gaussian in R^d, compared by a sampled matching probability.

Backbone: Martinez et al.'s MLP (input FC, then residual blocks of 2 x (FC, batch norm, ReLU, dropout)), 1024 wide
with 2 blocks and dropout 0.3 as the paper/reference code; no max-norm constraint. Two linear heads give the mean
mu and the standard deviation sigma = ELU(o) + 1 (the reference code's parameterisation; the paper does not say).

Matching probability p(m | z1, z2) = sigmoid(-a ||z1 - z2|| + b), a = ELU(a_raw) + 1 > 0 as the reference code,
affinely rescaled to 0.9 p + 0.05 (the reference's "smoothing"; the paper only says "normalised to [0.05, 0.95]").
Between two inputs it is the mean over all K x K pairs of their samples. The paper gives no initial values (the
reference leaves TensorFlow's random default): a starts at 1 and b at sqrt(2 d), the typical distance between
two draws from the N(0, I) prior that sigma ~ 1 at initialisation (and the KL term) keeps samples near. With b = 0
every pair would start at p ~ 0.05, where the sigmoid is flat and the losses give almost no gradient.

The input is :func:`posecli.embed.normalize.model_input`: 13 normalised (x, y) and 13 visibility flags; a temporal
model (``VipeConfig.window`` > 1) takes that of each frame of a short window around the frame embedded.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..embed.normalize import NUM_INPUT

SMOOTHING = 0.1  # p -> (1 - s) p + s / 2 keeps p in [0.05, 0.95], so -log p stays finite


@dataclass
class VipeConfig:
    dim: int = 16  # d, the embedding size
    width: int = 1024
    blocks: int = 2
    dropout: float = 0.3
    samples: int = 20  # K
    inputs: int = 3 * NUM_INPUT  # 13 x (x, y) + 13 visibility flags, per frame of the window
    # Temporal Pr-VIPE (not in the paper; issue 20): the model input is ``window`` frames' inputs side by side,
    # spaced 1 / ``window_fps`` s apart and centred on the frame embedded (its 3D pose is the label).  1: the
    # paper's single-frame model.
    window: int = 1
    window_fps: float = 30.0

    def to_dict(self) -> dict:
        return asdict(self)


def _layer(dim_in: int, dim_out: int, dropout: float) -> list[nn.Module]:
    return [nn.Linear(dim_in, dim_out), nn.BatchNorm1d(dim_out), nn.ReLU(), nn.Dropout(dropout)]


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(*_layer(width, width, dropout), *_layer(width, width, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class PrVIPE(nn.Module):
    def __init__(self, config: VipeConfig | None = None):
        super().__init__()
        self.config = c = config or VipeConfig()
        self.stem = nn.Sequential(*_layer(c.inputs * c.window, c.width, c.dropout))
        self.blocks = nn.Sequential(*[ResidualBlock(c.width, c.dropout) for _ in range(c.blocks)])
        self.mu = nn.Linear(c.width, c.dim)
        self.sigma = nn.Linear(c.width, c.dim)
        self.a_raw = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.tensor(math.sqrt(2.0 * c.dim)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, window * inputs) -> {"mu": (B, d), "sigma": (B, d)}."""
        h = self.blocks(self.stem(x))
        return {"mu": self.mu(h), "sigma": F.elu(self.sigma(h)) + 1.0}

    def sample(self, out: dict[str, torch.Tensor], k: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised samples z = mu + sigma * eps, (B, K, d); differentiable in mu and sigma."""
        mu = out["mu"]
        k = k or self.config.samples
        eps = torch.randn((mu.shape[0], k, mu.shape[1]), generator=generator, dtype=mu.dtype,
                          device="cpu" if generator is not None else mu.device).to(mu.device)
        return reparameterise(out, eps)

    @property
    def a(self) -> torch.Tensor:
        return F.elu(self.a_raw) + 1.0

    def _smooth(self, p: torch.Tensor) -> torch.Tensor:
        # Affine, so it commutes with the mean over sample pairs: applied once, after the mean.
        return (1 - SMOOTHING) * p + SMOOTHING / 2

    def kernel(self, distance: torch.Tensor) -> torch.Tensor:
        """Point matching probability of embedding distances, in [0.05, 0.95] (e.g. between means)."""
        return self._smooth(torch.sigmoid(self.b - self.a * distance))

    def match_prob(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Paired samples (B, K, d), (B, K', d) -> (B,) p(m | x1, x2), the mean over K x K' sample pairs."""
        return self._smooth(torch.sigmoid(self.b - self.a * torch.cdist(z1, z2)).mean((-2, -1)))

    @torch.no_grad()
    def match_prob_matrix(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """All pairs, without gradient (mining, retrieval): (N, K, d), (M, K', d) -> (N, M).

        One (N K) x (M K') distance matrix, transformed in place (it is the big tensor), then block means.
        """
        n, k, d = z1.shape
        m, k2, _ = z2.shape
        p = torch.cdist(z1.reshape(n * k, d), z2.reshape(m * k2, d))
        p.mul_(-self.a).add_(self.b).sigmoid_()
        return self._smooth(p.reshape(n, k, m, k2).mean((1, 3)))


def reparameterise(out: dict[str, torch.Tensor], eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps for standard normal ``eps`` (B, K, d): (B, K, d), differentiable in mu and sigma."""
    return out["mu"][:, None] + out["sigma"][:, None] * eps.to(out["mu"].device, out["mu"].dtype)


def kl_to_standard_normal(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) KL(N(mu, diag sigma^2) || N(0, I)), the paper's Gaussian prior term."""
    mu, sigma = out["mu"], out["sigma"]
    return 0.5 * (sigma ** 2 + mu ** 2 - 1.0 - 2.0 * torch.log(sigma.clamp_min(1e-12))).sum(-1)
