"""Hand-written models in torchvision's style, with functional calls in forward, for the
importer's round trips (tests/test_import.py). The ResNet is the tutorial's example."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from docs.examples.small_resnet import SmallResNet


class SqueezeExcitation(nn.Module):
    """torchvision's SE: pooled, two 1x1 convolutions, a gate times the input."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(scale))))
        return scale * x


class InvertedResidual(nn.Module):
    """MobileNetV3's block: expand, depthwise, SE, project, with a residual connection."""

    def __init__(self, channels: int, expanded: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Sequential(
                nn.Conv2d(channels, expanded, 1, bias=False),
                nn.BatchNorm2d(expanded),
                nn.Hardswish(),
            ),
            nn.Sequential(
                nn.Conv2d(expanded, expanded, 3, 1, 1, groups=expanded, bias=False),
                nn.BatchNorm2d(expanded),
                nn.Hardswish(),
            ),
            SqueezeExcitation(expanded, expanded // 4),
            nn.Sequential(nn.Conv2d(expanded, channels, 1, bias=False), nn.BatchNorm2d(channels)),
        )

    def forward(self, x):
        return x + self.block(x)


class SmallMobileNet(nn.Module):
    """A stem, two inverted residuals with SE, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(
                nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish()
            ),
            InvertedResidual(16, 64),
            InvertedResidual(16, 48),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(16, 32), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(32, 10)
        )

    def forward(self, x):
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


class DenseLayer(nn.Module):
    """DenseNet's layer: BN-ReLU-conv1x1-BN-ReLU-conv3x3 over the concatenated features."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(channels, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return torch.cat([x, out], 1)


class SmallDenseNet(nn.Module):
    """A stem and a dense block of three layers whose outputs are concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, 16, 3, 1, 1, bias=False))
        self.features.add_module("denselayer1", DenseLayer(16, 8))
        self.features.add_module("denselayer2", DenseLayer(24, 8))
        self.features.add_module("denselayer3", DenseLayer(32, 8))
        self.features.add_module("norm5", nn.BatchNorm2d(40))
        self.classifier = nn.Linear(40, 10)

    def forward(self, x):
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        return self.classifier(torch.flatten(out, 1))


class EncoderBlock(nn.Module):
    """torchvision's ViT encoder block."""

    def __init__(self, heads: int, dim: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp, dim), nn.Dropout(0.0)
        )

    def forward(self, input):
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x)
        x = x + input
        y = self.mlp(self.ln_2(x))
        return x + y


class TokenEncoder(nn.Module):
    """A patch embedding, two encoder blocks and a final norm (16 tokens of 32 features)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, 32, 8, 8)
        self.layers = nn.Sequential(EncoderBlock(4, 32, 64), EncoderBlock(4, 32, 64))
        self.ln = nn.LayerNorm(32, eps=1e-6)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        return self.ln(self.layers(x))


#: name -> (factory, input shape without the batch axis)
MODELS = {
    "resnet": (SmallResNet, (3, 64, 64)),
    "inverted_residual_se": (SmallMobileNet, (3, 32, 32)),
    "densenet_block": (SmallDenseNet, (3, 16, 16)),
    "vit_encoder": (TokenEncoder, (3, 32, 32)),
}
