"""The thesis's face-recognition feature extractors as K-run models (thesis §5.3, §6.3.1): MobileFaceNet (Chen et
al. 2018) and bottleneck ResNets of depth 50 and 152 (He et al. 2016), each ending in an embedding layer with
batch normalisation, as face recognition libraries do (face.evoLVe, which the thesis's code modifies, §6.9.2).

As in ``reprolib.models``, K runs train at once: a dense convolution is a grouped convolution with K groups over
K·C channels, a depthwise one has K·C groups, and run k sees only its own channels. Only the ``paper`` presets
use them (112 × 112 CelebA faces, a GPU); ``course`` uses the core's perceptron.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...models import MultiLinear
from ...specs import ModelSpec, check, check_range, register_model

__all__ = ["MobileFaceNet", "FaceResNet", "EmbeddingLayer", "MOBILEFACENET_BLOCKS", "FACE_RESNET_BLOCKS"]

# (expansion t, output channels as a multiple of the base width c/64, repeats n, stride s): Chen et al., Table 1
MOBILEFACENET_BLOCKS = ((2, 1, 5, 2), (4, 2, 1, 2), (2, 2, 6, 1), (4, 2, 1, 2), (2, 2, 2, 1))
FACE_RESNET_BLOCKS = {50: (3, 4, 6, 3), 152: (3, 8, 36, 3)}


def _conv(k, cin, cout, kernel, stride=1, depthwise=False):
    groups = k * cin if depthwise else k
    return nn.Conv2d(k * cin, k * cout, kernel, stride, kernel // 2, groups=groups, bias=False)


def _unit(k, cin, cout, kernel, stride=1, depthwise=False, act=True):
    layers = [_conv(k, cin, cout, kernel, stride, depthwise), nn.BatchNorm2d(k * cout)]
    return nn.Sequential(*layers, nn.PReLU(k * cout)) if act else nn.Sequential(*layers)


class EmbeddingLayer(nn.Module):
    """K runs' (B, K·F) features → (K, B, D) embeddings: a linear layer, then batch normalisation of each run's
    D outputs."""

    def __init__(self, k, features, dim):
        super().__init__()
        self.k, self.dim = k, dim
        self.linear = MultiLinear(k, features, dim)
        self.norm = nn.BatchNorm1d(k * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        out = self.linear(x.reshape(b, self.k, -1).transpose(0, 1))  # (K, B, D)
        return self.norm(out.transpose(0, 1).reshape(b, -1)).reshape(b, self.k, self.dim).transpose(0, 1)


def _grouped_input(x: torch.Tensor) -> torch.Tensor:
    k, b, c, h, w = x.shape
    return x.transpose(0, 1).reshape(b, k * c, h, w)


class _InvertedResidual(nn.Module):
    def __init__(self, k, cin, cout, expansion, stride):
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            _unit(k, cin, hidden, 1),
            _unit(k, hidden, hidden, 3, stride, depthwise=True),
            _unit(k, hidden, cout, 1, act=False),
        )

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class _MobileFaceNet(nn.Module):
    def __init__(self, k, in_shape, dim, width):
        super().__init__()
        c, h, _ = in_shape
        layers = [_unit(k, c, width, 3, 2), _unit(k, width, width, 3, depthwise=True)]
        cin = width
        for t, multiple, n, s in MOBILEFACENET_BLOCKS:
            for i in range(n):
                layers.append(_InvertedResidual(k, cin, width * multiple, t, s if i == 0 else 1))
                cin = width * multiple
        layers.append(_unit(k, cin, 8 * width, 1))
        side = -(-h // 16)  # four stride-2 stages
        layers.append(  # the global depthwise convolution (GDConv), linear
            nn.Sequential(
                nn.Conv2d(k * 8 * width, k * 8 * width, side, groups=k * 8 * width, bias=False),
                nn.BatchNorm2d(k * 8 * width),
            )
        )
        self.features = nn.Sequential(*layers)
        self.embedding = EmbeddingLayer(k, 8 * width, dim)
        self.num_runs = k

    def forward(self, x):
        out = self.features(_grouped_input(x))
        return self.embedding(out.flatten(1))


class _Bottleneck(nn.Module):
    def __init__(self, k, cin, width, stride):
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(
            _conv(k, cin, width, 1),
            nn.BatchNorm2d(k * width),
            nn.ReLU(),
            _conv(k, width, width, 3, stride),
            nn.BatchNorm2d(k * width),
            nn.ReLU(),
            _conv(k, width, cout, 1),
            nn.BatchNorm2d(k * cout),
        )
        self.shortcut = (
            nn.Sequential(_conv(k, cin, cout, 1, stride), nn.BatchNorm2d(k * cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class _FaceResNet(nn.Module):
    def __init__(self, k, in_shape, dim, width, blocks):
        super().__init__()
        c, h, _ = in_shape
        stem_stride = 2 if h >= 64 else 1
        layers = [_conv(k, c, width, 3, stem_stride), nn.BatchNorm2d(k * width), nn.ReLU()]
        cin = width
        for stage, n in enumerate(blocks):
            for i in range(n):
                layers.append(_Bottleneck(k, cin, width * 2**stage, 2 if stage > 0 and i == 0 else 1))
                cin = 4 * width * 2**stage
        self.features = nn.Sequential(*layers)
        self.embedding = EmbeddingLayer(k, cin, dim)
        self.num_runs = k

    def forward(self, x):
        return self.embedding(self.features(_grouped_input(x)).mean((2, 3)))


@register_model("mobilefacenet")
@dataclass(frozen=True)
class MobileFaceNet(ModelSpec):
    """MobileFaceNet (Chen et al. 2018), the thesis's chapter-5 model: inverted residual blocks with depthwise
    convolutions, a global depthwise convolution, and a batch-normalised linear embedding of ``num_outputs``
    numbers. ``width`` is the base width (64 in the paper)."""

    width: int = 64

    def validate(self):
        check_range("width", self.width, 4, 512, integer=True)

    def build(self, num_runs, in_shape, num_outputs):
        return _MobileFaceNet(num_runs, in_shape, num_outputs, self.width)


@register_model("face_resnet")
@dataclass(frozen=True)
class FaceResNet(ModelSpec):
    """A bottleneck ResNet (He et al. 2016) of depth 50 or 152 as a face feature extractor (thesis §5.3, §6.3.1),
    ending in a batch-normalised linear embedding; ``face_resnet50`` and ``face_resnet152`` name it."""

    depth: int = 50
    width: int = 64

    def validate(self):
        check(self.depth in FACE_RESNET_BLOCKS, f"depth must be 50 or 152, got {self.depth}")
        check_range("width", self.width, 4, 512, integer=True)

    def build(self, num_runs, in_shape, num_outputs):
        return _FaceResNet(num_runs, in_shape, num_outputs, self.width, FACE_RESNET_BLOCKS[self.depth])

    @classmethod
    def from_name(cls, name):
        return {"face_resnet50": cls(depth=50), "face_resnet152": cls(depth=152)}.get(name)
