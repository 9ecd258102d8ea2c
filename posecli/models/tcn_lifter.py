"""A VideoPose3D-style dilated temporal convolution lifter (Pavllo et al. 2019), the baseline SPS-Net must beat.

As in that paper: a 1D convolution over time expands the per-frame 2D pose to C channels (kernel 3), then B
residual blocks, each a kernel-3 convolution with dilation 3^b followed by a 1x1 convolution, every one with
BatchNorm, ReLU and dropout 0.25; the receptive field is 3^(B+1) frames (27: B = 2, 81: B = 3, 243: B = 4).
Convolutions are "valid": an input of T frames gives T - receptive_field + 1 outputs, one per centre frame.
For a whole sequence (``pad=True``) the input is padded by repeating its first and last frames, as
VideoPose3D does at test time, so every frame gets an output.

Differences, each so it can stand in for the SPS lifter in posecli's pipeline: the input is posecli's
normalised COCO-17 (x, y, confidence) rather than (x, y) of H36M's detector; besides the 17 root-relative
joints it predicts the same weak-perspective camera (s, tx, ty) the pipeline places the root with, and, when
``up_head``, the world's up direction in camera axes.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .sps_lifter import NUM_JOINTS_IN, NUM_JOINTS_OUT, LifterConfig


def receptive_blocks(receptive_field: int) -> int:
    """Residual blocks B for a receptive field 3^(B+1)."""
    b, rf = 0, 3
    while rf < receptive_field:
        rf *= 3
        b += 1
    if rf != receptive_field or b < 1:
        raise ValueError(f"receptive field {receptive_field} is not 9, 27, 81, 243, ... (3^k, k >= 2)")
    return b


class TCNLifter(nn.Module):
    def __init__(self, config: LifterConfig | None = None):
        super().__init__()
        self.config = c = config or LifterConfig(temporal="tcn")
        self.receptive_field = c.receptive_field
        blocks = receptive_blocks(c.receptive_field)
        ch = c.channels
        self.expand = nn.Conv1d(NUM_JOINTS_IN * 3, ch, 3, bias=False)
        self.expand_bn = nn.BatchNorm1d(ch, momentum=0.1)
        self.dilated = nn.ModuleList(nn.Conv1d(ch, ch, 3, dilation=3 ** (b + 1), bias=False) for b in range(blocks))
        self.dilated_bn = nn.ModuleList(nn.BatchNorm1d(ch, momentum=0.1) for _ in range(blocks))
        self.pointwise = nn.ModuleList(nn.Conv1d(ch, ch, 1, bias=False) for _ in range(blocks))
        self.pointwise_bn = nn.ModuleList(nn.BatchNorm1d(ch, momentum=0.1) for _ in range(blocks))
        self.drop = nn.Dropout(c.tcn_dropout)
        self.outputs = NUM_JOINTS_OUT * 3 + 3 + (3 if c.up_head else 0)
        self.shrink = nn.Conv1d(ch, self.outputs, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, pad: bool = False) -> dict[str, torch.Tensor]:
        """``x`` (B, T, 17, 3) normalised COCO-17 x, y, confidence. Returns joints (B, T', 17, 3) root-relative
        metres, camera (B, T', 3), up (B, T', 3) unit vectors when the model has that head; T' = T with
        ``pad`` (edges repeated), else T - receptive_field + 1. ``mask`` is accepted for the SPS interface and
        ignored (padded frames of a short clip are repeats here)."""
        h = x.flatten(-2).transpose(1, 2)  # (B, 51, T)
        if pad:
            half = (self.receptive_field - 1) // 2
            h = F.pad(h, (half, half), mode="replicate")
        h = self.drop(F.relu(self.expand_bn(self.expand(h))))
        for conv, bn, pw, pbn in zip(self.dilated, self.dilated_bn, self.pointwise, self.pointwise_bn):
            cut = conv.dilation[0]  # kernel 3: the output loses one dilation on each side
            res = h[:, :, cut:h.shape[2] - cut]
            h = self.drop(F.relu(bn(conv(h))))
            h = res + self.drop(F.relu(pbn(pw(h))))
        y = self.shrink(h).transpose(1, 2)  # (B, T', outputs)
        joints = y[..., :NUM_JOINTS_OUT * 3].unflatten(-1, (NUM_JOINTS_OUT, 3))
        joints = joints - joints[..., :1, :]
        camera = y[..., NUM_JOINTS_OUT * 3:NUM_JOINTS_OUT * 3 + 3] + y.new_tensor([1.0, 0.0, 0.0])
        out = {"joints": joints, "camera": camera}
        if self.config.up_head:
            out["up"] = F.normalize(y[..., -3:] + y.new_tensor([0.0, -1.0, 0.0]), dim=-1)
        return out
