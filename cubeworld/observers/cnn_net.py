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

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cubeworld.observers.base import KIND_FILE, ObserverError  # KIND_FILE: a checkpoint's marker

YES_CLASS = 1  # logits are (No, Yes)
WEIGHTS = "model.pt"


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
        self.mean: torch.Tensor
        self.std: torch.Tensor
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


# -- architecture and checkpoint files ---------------------------------------------------


def architecture(channels: Sequence[int], image_size: int, stem_stride: int, dropout: float) -> dict[str, Any]:
    """What a checkpoint's marker records: enough to rebuild the network and feed it."""
    return {
        "kind": "cnn",
        "channels": [int(c) for c in channels],
        "image_size": int(image_size),
        "stem_stride": int(stem_stride),
        "dropout": float(dropout),
    }


def build_network(arch: Mapping[str, Any]) -> BlockCNN:
    return BlockCNN(channels=arch["channels"], dropout=arch["dropout"], stem_stride=arch["stem_stride"])


def save_network(folder: Path, net: nn.Module, arch: Mapping[str, Any]) -> None:
    """Weights and the architecture marker (which also names the observer kind)."""
    torch.save(net.state_dict(), folder / WEIGHTS)
    (folder / KIND_FILE).write_text(json.dumps(dict(arch), indent=2), encoding="utf-8")


def is_checkpoint(folder: Path) -> bool:
    return (folder / KIND_FILE).is_file() and (folder / WEIGHTS).is_file()


def load_network(folder: Path) -> tuple[BlockCNN, dict[str, Any]]:
    """A CNN checkpoint folder -> (network in eval mode, architecture dict)."""
    if not is_checkpoint(folder):
        raise ObserverError(f"{folder}: not a CNN checkpoint ({KIND_FILE} and {WEIGHTS} expected)")
    arch = json.loads((folder / KIND_FILE).read_text(encoding="utf-8"))
    net = build_network(arch)
    net.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
    net.eval()
    return net, arch


def load_images(paths: Sequence[Path], size: int) -> torch.Tensor:
    """uint8 tensor (N, 3, size, size): each image as RGB, resized (bilinear) if needed."""
    import numpy as np
    from PIL import Image

    arrays = []
    for p in paths:
        try:
            with Image.open(p) as opened:
                rgb = opened.convert("RGB")
                if rgb.size != (size, size):
                    rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
                arrays.append(np.asarray(rgb, dtype=np.uint8))
        except (OSError, ValueError) as e:
            raise ObserverError(f"{p}: cannot read the image ({e})") from None
    if not arrays:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
