"""PyTorch modules written the way torchvision writes its models, for the importer's tests: functions fx must
keep as calls are wrapped here, at the top of the module that calls them, as torchvision wraps its own."""

from __future__ import annotations

import torch
import torch.fx
from torch import nn


def stochastic_depth(input, p: float, mode: str, training: bool = True):
    """torchvision.ops.stochastic_depth: in training, each sample ("row") is dropped with probability p and the
    kept ones scaled by 1 / (1 - p); in inference the input itself."""
    if not training or p == 0.0:
        return input
    size = [input.shape[0]] + [1] * (input.ndim - 1) if mode == "row" else [1] * input.ndim
    keep = torch.empty(size, dtype=input.dtype, device=input.device).bernoulli_(1.0 - p)
    return input * keep / (1.0 - p)


torch.fx.wrap("stochastic_depth")


def channel_shuffle(x, groups: int):
    """torchvision's ShuffleNet v2 channel shuffle: (N, C, H, W) viewed as (N, g, C/g, H, W), the two channel
    axes swapped, viewed back."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


class ShuffleUnit(nn.Module):
    """ShuffleNet v2's stride-1 unit (torchvision ``InvertedResidual``): half the channels pass, the other half
    go through 1x1, 3x3 depthwise, 1x1; concatenated and shuffled."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels // 2
        self.branch2 = nn.Sequential(
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((x1, self.branch2(x2)), dim=1), 2)


class ShuffleDenseNet(nn.Module):
    """A stem, a ShuffleNet unit, a DenseNet-style layer whose input list holds one tensor (``torch.cat([x], 1)``,
    as each dense block's first layer has it) on a residual branch with stochastic depth (EfficientNet's), a head."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.unit = ShuffleUnit(8)
        self.dense = nn.Conv2d(8, 8, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        x = self.unit(torch.relu(self.stem(x)))
        features = [x]
        x = x + stochastic_depth(self.dense(torch.cat(features, 1)), 0.2, "row", self.training)
        return self.head(torch.flatten(self.pool(x), 1))


def _doubled(table):
    """A private helper fx keeps as one call (torchvision's Swin has ``_get_relative_position_bias``)."""
    return table * 2


torch.fx.wrap("_doubled")


class PrivateHelper(nn.Module):
    """A call to a wrapped function whose name starts with an underscore (its layer is named without it), then a
    parameter read directly (fx's get_attr): both unsupported, the second reading no tensor of the graph."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.table = nn.Parameter(torch.ones(4, 1, 1))
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x):
        y = self.conv(x)
        shift = _doubled(self.table)
        return y * self.gamma + shift
