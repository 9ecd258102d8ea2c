"""MCSS's losses (seed 002, Sec. 3): HardNet-style hard-negative mining (Eq. 1-2) and the L1 pose loss."""
from __future__ import annotations

import torch


def hard_negative_distances(d: torch.Tensor, beta: float) -> torch.Tensor:
    """(..., m, m) anchor x positive distances -> (..., m) D_min^i of Eq. 1.

    j_min = argmin over j != i of D(i, j) and k_min = argmin over k != i of D(k, i), where distances at or
    below ``beta`` (too similar to be a negative) and the diagonal (the true pair) count as +inf;
    D_min^i = min(D(i, j_min), D(k_min, i)). A row with no admissible negative gets +inf (no margin term).
    """
    m = d.shape[-1]
    eye = torch.eye(m, dtype=torch.bool, device=d.device)
    masked = d.masked_fill(eye | (d <= beta), float("inf"))
    return torch.minimum(masked.min(-1).values, masked.min(-2).values)


def metric_loss(anchor: torch.Tensor, positive: torch.Tensor, alpha: float = 0.6,
                beta: float = 0.3) -> torch.Tensor:
    """Eq. 2 on (..., m, dim) embeddings of m pairs (row i of both = one pose seen from two views):
    mean over i of D(i, i) + max(0, alpha - D_min^i), averaged over any leading (group) dimensions."""
    d = torch.cdist(anchor.float(), positive.float())
    d_min = hard_negative_distances(d, beta)
    pos = torch.diagonal(d, dim1=-2, dim2=-1)
    return (pos + torch.clamp(alpha - d_min, min=0)).mean()


def pose_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between z-scored canonical poses (the paper's ||p - p_hat||_1, averaged over joints and axes)."""
    return (pred.float() - target.float()).abs().mean()
