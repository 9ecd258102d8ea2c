"""MCSS (seed 002): a person crop -> a 128-d L2-normalised pose embedding -> a 16-joint canonical 3D pose.

F: ResNet-18's four residual stages with affine-free BN (paper Sec. 3), then max-pool with stride 2 (ceil mode,
so 7x7 -> 4x4 at 224 px as the paper's 512x4x4). G: FC layers to the embedding, L2-normalised. H: one linear
layer 128 -> 48 to the per-joint z-scored canonical pose (``mean`` / ``std`` buffers, set from the labelled
training poses, turn it back into metres).

Choices the paper leaves open (spec "NOT SPECIFIED"), written down here:
- Input 96 x 96 px (the paper: 224), so that training fits a short GPU run and inference runs at CPU speed;
  features are then 512 x 3 x 3 -> pooled 2 x 2 -> 2048 values.
- G = FC(2048, 512) - ReLU - FC(512, 128) - L2 normalisation (one hidden layer; 512 wide keeps the fp16 file
  under 25 MB: the trunk alone is 11.2 M parameters).
- Joints: Human3.6M's 17 without 'neck_nose' (joint set ``h36m16``), the usual 16 of Martinez et al.
- No ImageNet weights exist offline: the trunk trains from scratch (``load_backbone`` takes a torchvision
  ``resnet18`` state dict for users who have one).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .resnet import ResNet18Trunk

NUM_JOINTS = 16


@dataclass
class McssConfig:
    width: int = 64  # ResNet-18's base width (64 = the real ResNet-18; smaller for tests)
    input_size: int = 96
    hidden: int = 512
    dim: int = 128
    affine_bn: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class McssNet(nn.Module):
    def __init__(self, cfg: McssConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or McssConfig()
        self.trunk = ResNet18Trunk(cfg.width, cfg.affine_bn)
        feat = -(-cfg.input_size // 32)  # conv/pool arithmetic of the trunk (stride 32, padded)
        pooled = -(-(feat - 2) // 2) + 1  # max-pool 2, stride 2, ceil mode
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(self.trunk.out_channels * pooled * pooled, cfg.hidden),
                                   nn.ReLU(inplace=True), nn.Linear(cfg.hidden, cfg.dim))
        self.pose = nn.Linear(cfg.dim, NUM_JOINTS * 3)
        # per-joint z-score of the canonical targets (metres), set before training from the labelled poses
        self.register_buffer("mean", torch.zeros(NUM_JOINTS, 3))
        self.register_buffer("std", torch.ones(NUM_JOINTS, 3))
        # image normalisation (0..1 RGB -> about zero mean, unit spread), fixed: set from the training crops
        self.register_buffer("pixel_mean", torch.full((3,), 0.5))
        self.register_buffer("pixel_std", torch.full((3,), 0.25))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float 0..1 -> (B, dim) unit embeddings."""
        x = (images - self.pixel_mean[:, None, None]) / self.pixel_std[:, None, None]
        x = F.max_pool2d(self.trunk(x), 2, 2, ceil_mode=True)
        return F.normalize(self.embed(x), dim=-1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding (B, dim), z-scored canonical pose (B, 16, 3))."""
        phi = self.features(images)
        return phi, self.pose(phi).view(-1, NUM_JOINTS, 3)

    def to_metres(self, zscored: torch.Tensor) -> torch.Tensor:
        return zscored * self.std + self.mean

    def to_zscore(self, metres: torch.Tensor) -> torch.Tensor:
        return (metres - self.mean) / self.std

    def load_backbone(self, state: dict) -> list[str]:
        """Load a torchvision ResNet-18 state dict into the trunk (its fc and, with affine-free BN, its BN
        weights are not used); returns the names of the tensors that were loaded."""
        own = self.trunk.state_dict()
        taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        self.trunk.load_state_dict(taken, strict=False)
        return sorted(taken)
