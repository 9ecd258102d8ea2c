"""CSS (seed 001, Honari et al.): an unsupervised spatial-transformer detector, an encoder with a time-variant (TV)
and a time-invariant (TI) head, and a decoder to an RGB crop + mask composited over the background; a separate
MLP regresses the 3D pose from TV (phase 2).

Frame coordinates are PyTorch's normalised ones (``affine_grid``, ``align_corners=False``): the (letterboxed)
square frame spans [-1, 1] on both axes. The detector outputs a box ``(sx, sy, ux, uy)``: half-sides as a
fraction of the frame's half-side and the centre, so the crop is ``affine_grid([[sx, 0, ux], [0, sy, uy]])``.

Choices the paper leaves open or that the CPU forces (spec "NOT SPECIFIED"), written down here:
- Sizes: frames are stored at 128 x 128 (the paper: 500 x 500), the crop is 64 x 64 (paper 128), the detector
  sees the frame downsampled 2x (paper 4x: our frame is already 4x smaller). The encoder is a ResNet-18 layout
  at ``width`` 32 (paper: ResNet-50) whose 2 x 2 x 8w last map is flattened (not averaged: a pose needs the
  layout); TV is 256-d and TI 64-d (paper 600 / 129). All of these are ``CssConfig`` fields.
- Detector activations: sides ``s = 0.15 + 0.85 * sigmoid(a)`` (a crop never shrinks to nothing nor leaves the
  frame's scale), centre ``u = tanh(b)``; its last layer starts at zero with the bias giving s = 0.5, u = 0, the
  box prior's value, so training starts from the centred half-frame box.
- Decoder: FC + ReLU + dropout 0.2 per latent to 64 x 8 x 8 each, concatenated, three up-blocks (bilinear x2 and
  three 3x3 conv + BN + ReLU) to 64 x 64, a 3x3 conv to 4 channels; RGB and mask through sigmoids.
- ``split=False`` is the baselines without the TV/TI split (CSS, AE-STN-Dec, DSL without split): one latent of
  ``tv_dim + ti_dim`` values feeds the decoder and the pose regressor.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .resnet import ResNet18Trunk

NUM_JOINTS = 17
S_MIN = 0.15


@dataclass
class CssConfig:
    frame_size: int = 128
    crop_size: int = 64
    detector_stride: int = 2
    detector_width: int = 16
    width: int = 32
    tv_dim: int = 256
    ti_dim: int = 64
    split: bool = True
    decoder_channels: int = 64
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def latent_dim(self) -> int:
        """Size of what the pose regressor reads: TV with the split, the whole latent without."""
        return self.tv_dim if self.split else self.tv_dim + self.ti_dim


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class UpBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         *_conv_bn(cin, cout), *_conv_bn(cout, cout), *_conv_bn(cout, cout))


class CssNet(nn.Module):
    def __init__(self, cfg: CssConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CssConfig()
        self.detector = ResNet18Trunk(cfg.detector_width, affine_bn=True)
        self.box_head = nn.Linear(self.detector.out_channels, 4)
        nn.init.zeros_(self.box_head.weight)
        start = torch.logit(torch.tensor((0.5 - S_MIN) / (1 - S_MIN)))
        with torch.no_grad():  # s = 0.5, u = 0 at the start (module docstring)
            self.box_head.bias.copy_(torch.tensor([1, 1, 0, 0]) * start)
        self.encoder = ResNet18Trunk(cfg.width, affine_bn=True)
        feat = -(-cfg.crop_size // 32)
        enc = self.encoder.out_channels * feat * feat
        self.fc_tv = nn.Linear(enc, cfg.latent_dim)
        self.fc_ti = nn.Linear(enc, cfg.ti_dim) if cfg.split else None
        self.base = cfg.crop_size // 8
        c = cfg.decoder_channels
        cells = c * self.base * self.base

        def lift(n_in: int, n_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout))

        if cfg.split:
            self.dec_tv, self.dec_ti = lift(cfg.tv_dim, cells), lift(cfg.ti_dim, cells)
        else:
            self.dec_tv, self.dec_ti = lift(cfg.latent_dim, 2 * cells), None
        self.up = nn.Sequential(UpBlock(2 * c, c), UpBlock(c, c // 2), UpBlock(c // 2, c // 4))
        self.out = nn.Conv2d(c // 4, 4, 3, 1, 1)
        self.register_buffer("pixel_mean", torch.full((3,), 0.45))
        self.register_buffer("pixel_std", torch.full((3,), 0.25))

    # -- detector ---------------------------------------------------------------------------------------------
    def detect(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) 0..1 frames -> (B, 4) boxes (sx, sy, ux, uy)."""
        x = F.avg_pool2d(frames, self.cfg.detector_stride) if self.cfg.detector_stride > 1 else frames
        x = self.detector(self._norm(x)).mean((2, 3))
        a = self.box_head(x)
        return torch.cat([S_MIN + (1 - S_MIN) * torch.sigmoid(a[:, :2]), torch.tanh(a[:, 2:])], 1)

    def crop(self, frames: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        theta = torch.zeros(len(box), 2, 3, dtype=frames.dtype, device=frames.device)
        theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
        size = self.cfg.crop_size
        grid = F.affine_grid(theta, [len(box), frames.shape[1], size, size], align_corners=False)
        return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def uncrop(self, crops: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """The inverse transformer: crop-space maps (B, C, c, c) painted into the frame (zeros outside the box)."""
        sx, sy, ux, uy = box.unbind(1)
        theta = torch.zeros(len(box), 2, 3, dtype=crops.dtype, device=crops.device)
        theta[:, 0, 0], theta[:, 1, 1] = 1 / sx, 1 / sy
        theta[:, 0, 2], theta[:, 1, 2] = -ux / sx, -uy / sy
        size = self.cfg.frame_size
        grid = F.affine_grid(theta, [len(box), crops.shape[1], size, size], align_corners=False)
        return F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # -- encoder / decoder ------------------------------------------------------------------------------------
    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.pixel_mean[:, None, None]) / self.pixel_std[:, None, None]

    def _trunk(self, crops: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._norm(crops)).flatten(1)

    def encode_tv(self, crops: torch.Tensor) -> torch.Tensor:
        """TV (the whole latent without the split)."""
        return self.fc_tv(self._trunk(crops))

    def encode_ti(self, crops: torch.Tensor) -> torch.Tensor:
        if self.fc_ti is None:
            raise ValueError("this model has no time-invariant head (split=False)")
        return self.fc_ti(self._trunk(crops))

    def decode(self, tv: torch.Tensor, ti: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents -> (RGB (B, 3, c, c), mask (B, 1, c, c)), both 0..1."""
        c, b = self.cfg.decoder_channels, self.base
        if self.dec_ti is not None:
            x = torch.cat([self.dec_tv(tv).view(-1, c, b, b), self.dec_ti(ti).view(-1, c, b, b)], 1)
        else:
            x = self.dec_tv(tv).view(-1, 2 * c, b, b)
        y = torch.sigmoid(self.out(self.up(x)))
        return y[:, :3], y[:, 3:]

    def composite(self, rgb: torch.Tensor, mask: torch.Tensor, box: torch.Tensor,
                  background: torch.Tensor) -> torch.Tensor:
        """Eq. 1: the decoded crop and mask put back into the frame over the background."""
        # colour premultiplied by the mask before the warp: warping colour and mask separately and multiplying
        # afterwards would darken the one-pixel rim where the box's bilinear edge meets the zero padding
        painted = self.uncrop(torch.cat([rgb * mask, mask], 1), box)
        return painted[:, :3] + (1 - painted[:, 3:]) * background

    def features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Inference: frames -> (box, TV or whole latent, TI or None)."""
        box = self.detect(frames)
        crops = self.crop(frames, box)
        trunk = self._trunk(crops)
        return box, self.fc_tv(trunk), (self.fc_ti(trunk) if self.fc_ti is not None else None)


class CssPoseHead(nn.Module):
    """Phase 2's regressor Phi (Sec. 4.3-4.4, after [7]): MLP with two hidden layers of 2048, dropout 0.5, to the
    pelvis-centred camera-frame pose, z-scored per joint (``mean`` / ``std`` from the labelled poses); the frozen
    latent is standardised first (``latent_mean`` / ``latent_std``). The paper's variant with 2D keypoints as a
    second input is not built."""

    def __init__(self, latent_dim: int, hidden: int = 2048, dropout: float = 0.5):
        super().__init__()
        self.latent_dim = latent_dim
        self.mlp = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, NUM_JOINTS * 3))
        self.register_buffer("mean", torch.zeros(NUM_JOINTS, 3))
        self.register_buffer("std", torch.ones(NUM_JOINTS, 3))
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """-> z-scored pose (B, 17, 3)."""
        return self.mlp((latent - self.latent_mean) / self.latent_std).view(-1, NUM_JOINTS, 3)

    def metres(self, latent: torch.Tensor) -> torch.Tensor:
        return self(latent) * self.std + self.mean


class CssModel(nn.Module):
    """What ``weights/css.safetensors`` holds: the self-supervised network and phase 2's regressor."""

    def __init__(self, cfg: CssConfig | None = None, net: CssNet | None = None, head: CssPoseHead | None = None):
        super().__init__()
        self.net = CssNet(cfg) if net is None else net
        self.head = CssPoseHead(self.net.cfg.latent_dim) if head is None else head
