"""CSS's losses (seed 001 Sec. 3): reconstruction (Eq. 2), the distance-based contrastive loss DSL (Eq. 5-6), the
plain CSS contrastive loss of the baseline (Eq. 3) and the batch-average box prior.

Choices: DSL's ``d`` is measured in seconds (``d_max`` = the negative window's lower end, the spec's reading);
Eq. 3's temperature is 0.1 (not given; SimCLR's usual value); the box prior is a Gaussian on the batch-average
half-side (mean 0.5, sigma 0.1) and centre (mean 0, sigma 0.2), weight 1 (not given).
The perceptual term of Eq. 2 needs ImageNet ResNet-18 features, which do not exist offline: it is dropped and
its weight moved to the pixel term (lambda 2 + rho 2 = 4), as the issue allows.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

TAU = 0.1
BOX_SIDE, BOX_SIDE_SIGMA, BOX_CENTRE_SIGMA = 0.5, 0.1, 0.2


def dsl(a: torch.Tensor, b: torch.Tensor, d: torch.Tensor, d_max: float) -> torch.Tensor:
    """Eq. 5 per pair: ``a``, ``b`` (N, D) latents, ``d`` (N,) time apart (same unit as ``d_max``)."""
    s = F.cosine_similarity(a, b, dim=-1)
    r = 2 * d / d_max
    near = (1 - r) * (1 - s).abs()
    far = torch.clamp(r - 1, max=1.0) * s.abs()
    return torch.where(d <= d_max / 2, near, far)


def dsl_all(ref, near, mid, away, d_near, d_mid, d_away, d_max: float) -> torch.Tensor:
    """Eq. 6: L(r, n) + L(r, a) + L(r, tn), averaged over the batch."""
    return (dsl(ref, near, d_near, d_max) + dsl(ref, away, d_away, d_max) + dsl(ref, mid, d_mid, d_max)).mean()


def css_contrastive(ref, pos, negs: list[torch.Tensor], tau: float = TAU) -> torch.Tensor:
    """Eq. 3: -log softmax of the positive's cosine similarity over the positive and the negatives."""
    sims = [F.cosine_similarity(ref, x, dim=-1) for x in [pos, *negs]]
    logits = torch.stack(sims, 1) / tau
    return F.cross_entropy(logits, torch.zeros(len(ref), dtype=torch.long, device=ref.device))


def reconstruction(frames: torch.Tensor, recon: torch.Tensor, weight: float = 4.0) -> torch.Tensor:
    return weight * F.mse_loss(recon, frames)


def box_prior(box: torch.Tensor) -> torch.Tensor:
    side = box[:, :2].mean()
    centre = box[:, 2:].mean(0)
    return ((side - BOX_SIDE) / BOX_SIDE_SIGMA) ** 2 + ((centre / BOX_CENTRE_SIGMA) ** 2).sum()
