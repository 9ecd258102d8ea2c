"""ResNet-18 trunk (He et al. 2016, torchvision's layout) with optionally affine-free batch norm.

Hand-written rather than taken from torchvision because MCSS needs every BN without affine parameters
(HardNet / L2-Net, seed 002 Sec. 3) and a width option for small CPU models, and torchvision would be a
dependency of ~7 MB for 60 lines; no ImageNet weights exist offline, so nothing is lost. Parameter names
follow torchvision's (``conv1``, ``layer1.0.conv1``, ...), so a torchvision ``resnet18`` state dict loads
into it (``--backbone-weights``; the affine BN weights of such a file are ignored when BN is affine-free).
"""
from __future__ import annotations

from torch import nn


def _bn(channels: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, affine=affine)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, affine: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = _bn(cout, affine)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout, affine)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout, affine))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18Trunk(nn.Module):
    """Image (B, 3, H, W) -> features (B, 8 * width, H / 32, W / 32): the stem and the four residual stages."""

    def __init__(self, width: int = 64, affine_bn: bool = False):
        super().__init__()
        self.out_channels = 8 * width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = _bn(width, affine_bn)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [width, 2 * width, 4 * width, 8 * width]
        cin = width
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, c, stride, affine_bn),
                                                          BasicBlock(c, c, 1, affine_bn)))
            cin = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
