"""The thesis's face-recognition feature extractors as K-run models (thesis §3.4, §5.3, §6.3.1): MobileFaceNet
(Chen et al. 2018), bottleneck ResNets (He et al. 2016) and improved-residual ResNets, "IR" (Deng et al. 2019),
each ending in an embedding layer with batch normalisation, as face recognition libraries do (face.evoLVe, which
the thesis's code uses and modifies, §3.8.1, §6.9.2).

Depths: the thesis's 50 and 152 (ResNet blocks per stage (3, 4, 6, 3) and (3, 8, 36, 3); IR (3, 4, 14, 3) and
(3, 8, 36, 3), face.evoLVe's ``get_blocks``), and two shallow ones per family for CPU-sized chapters: one or
two blocks per stage (ResNet-14 and -26, three convolutions per block; IR-10 and -18, two per block).

As in ``reprolib.models``, K runs train at once: a dense convolution is a grouped convolution with K groups over
K·C channels, a depthwise one has K·C groups, and run k sees only its own channels. Chapters 5 and 6 use them at
``paper`` only (112 × 112 CelebA faces, a GPU); chapter 3 (C-3-LOWKEY) uses the shallow ones at ``course``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ...models import MultiLinear
from ...specs import ModelSpec, check, check_range, register_model

__all__ = [
    "MobileFaceNet",
    "FaceResNet",
    "FaceIR",
    "EmbeddingLayer",
    "MOBILEFACENET_BLOCKS",
    "FACE_RESNET_BLOCKS",
    "FACE_IR_BLOCKS",
]

# (expansion t, output channels as a multiple of the base width c/64, repeats n, stride s): Chen et al., Table 1
MOBILEFACENET_BLOCKS = ((2, 1, 5, 2), (4, 2, 1, 2), (2, 2, 6, 1), (4, 2, 1, 2), (2, 2, 2, 1))
FACE_RESNET_BLOCKS = {14: (1, 1, 1, 1), 26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 152: (3, 8, 36, 3)}
FACE_IR_BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 50: (3, 4, 14, 3), 152: (3, 8, 36, 3)}


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


class _IRUnit(nn.Module):
    """The improved residual unit (Deng et al. 2019, Fig. 7; face.evoLVe's ``bottleneck_IR``): BN → 3×3 conv →
    PReLU → 3×3 conv (the stride) → BN, plus a shortcut (subsampling, or a strided 1×1 conv with BN when the
    width changes)."""

    def __init__(self, k, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.body = nn.Sequential(
            nn.BatchNorm2d(k * cin),
            _conv(k, cin, cout, 3),
            nn.PReLU(k * cout),
            _conv(k, cout, cout, 3, stride),
            nn.BatchNorm2d(k * cout),
        )
        self.projection = (
            nn.Sequential(_conv(k, cin, cout, 1, stride), nn.BatchNorm2d(k * cout)) if cin != cout else None
        )

    def forward(self, x):
        shortcut = self.projection(x) if self.projection is not None else x[:, :, :: self.stride, :: self.stride]
        return self.body(x) + shortcut


class _FaceIR(nn.Module):
    """IR backbone (face.evoLVe's ``Backbone``): 3×3 conv → BN → PReLU, four stages of IR units (widths w, 2w, 4w,
    8w, the first unit of each strided), then BN and the flattened maps into the embedding layer. face.evoLVe's
    dropout before the embedding is left out: its draws would come from the global generator, not the run's."""

    def __init__(self, k, in_shape, dim, width, blocks):
        super().__init__()
        c, h, w = in_shape
        layers = [_conv(k, c, width, 3), nn.BatchNorm2d(k * width), nn.PReLU(k * width)]
        cin = width
        for stage, n in enumerate(blocks):
            for i in range(n):
                layers.append(_IRUnit(k, cin, width * 2**stage, 2 if i == 0 else 1))
                cin = width * 2**stage
        layers.append(nn.BatchNorm2d(k * cin))
        self.features = nn.Sequential(*layers)
        side_h, side_w = -(-h // 16), -(-w // 16)  # four stride-2 stages
        self.embedding = EmbeddingLayer(k, cin * side_h * side_w, dim)
        self.num_runs = k

    def forward(self, x):
        return self.embedding(self.features(_grouped_input(x)).flatten(1))


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


@dataclass(frozen=True)
class _StagedBackbone(ModelSpec):
    """A face backbone whose ``depth`` sets its blocks per stage (``blocks``), named ``<name><depth>``; its network
    is ``network(num_runs, in_shape, num_outputs, width, blocks per stage)``."""

    blocks: ClassVar[dict[int, tuple[int, ...]]]
    network: ClassVar[type[nn.Module]]

    depth: int = 50
    width: int = 64

    def validate(self):
        depths = ", ".join(map(str, self.blocks))
        check(self.depth in self.blocks, f"depth must be one of {depths}, got {self.depth}")
        check_range("width", self.width, 4, 512, integer=True)

    def build(self, num_runs, in_shape, num_outputs):
        return self.network(num_runs, in_shape, num_outputs, self.width, self.blocks[self.depth])

    @classmethod
    def from_name(cls, name):
        match = re.fullmatch(rf"{cls.name}(\d+)", name)
        return cls(depth=int(match.group(1))) if match and int(match.group(1)) in cls.blocks else None


@register_model("face_resnet")
@dataclass(frozen=True)
class FaceResNet(_StagedBackbone):
    """A bottleneck ResNet (He et al. 2016) as a face feature extractor (thesis §3.4, §5.3, §6.3.1), ending in a
    batch-normalised linear embedding; ``face_resnet<depth>`` names it (depths: ``FACE_RESNET_BLOCKS``)."""

    blocks = FACE_RESNET_BLOCKS
    network = _FaceResNet


@register_model("face_ir")
@dataclass(frozen=True)
class FaceIR(_StagedBackbone):
    """An improved-residual ResNet, "IR" (Deng et al. 2019; the thesis's IR-50 and IR-152, §3.4), ending in a
    batch-normalised linear embedding of the flattened final maps; ``face_ir<depth>`` names it (depths:
    ``FACE_IR_BLOCKS``)."""

    blocks = FACE_IR_BLOCKS
    network = _FaceIR
