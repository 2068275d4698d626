"""The CNN observer's network: a small ResNet-style image classifier, trained from scratch.

Why this network: Lerer, Gross & Fergus (2016) showed that a convolutional network trained
from scratch on rendered block towers predicts their stability well; the CNN observer is
that kind of network at CPU scale, a positive control that is known to learn. torchvision's
ResNets are not usable beside this project's torch build (PyPI's torchvision fails next to
it), so the definition is written here in plain torch, following He et al. (2016):

    stem      3x3 conv at full resolution, BatchNorm, ReLU, 2x2 max-pooling   112 px -> 56
    stage k   one residual basic block (two 3x3 convs + BatchNorm, identity or 1x1
              projection shortcut), then 2x2 max-pooling after all but the last stage
                                                                   56 -> 28 -> 14 -> 7
    head      global average pooling, dropout, a linear layer to two logits (No, Yes)

Down-sampling by max-pooling after convolutions at full resolution, rather than by strided
convolutions, was chosen by measurement: whether a tower stands depends on offsets of a
few pixels (at 112 px a pixel is about 4 mm of the scene), and a variant with strided
convolutions stayed at chance on 900 towers while max-pooling variants learned (see the
experiments README). With the default widths (16, 32, 64, 96) it has about 0.2 M
parameters and costs about 50 M multiply-adds per 112 px image. Widths are a setting
(`channels`), so a bigger GPU run changes YAML, not code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

YES_CLASS = 1  # logits are (No, Yes)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a residual shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class BlockCNN(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> logits (N, 2) for (No, Yes)."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 96), dropout: float = 0.1, stem_stride: int = 1):
        super().__init__()
        channels = [int(c) for c in channels]
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        stages: list[nn.Module] = []
        c_in = channels[0]
        for i, c in enumerate(channels):
            stages.append(BasicBlock(c_in, c, stride=1))
            if i < len(channels) - 1:
                stages.append(nn.MaxPool2d(2))
            c_in = c
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, 2))
        # The normalisation is part of the network, so a checkpoint is self-contained.
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.head(self.stages(self.stem(x)))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
