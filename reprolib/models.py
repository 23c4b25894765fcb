"""Models that train K independent runs at once, registered as typed specs (timm style, ``@register_model``).

Every model maps inputs shaped (K, B, ...) to logits shaped (K, B, outputs): run k sees only its own slice of
the batch and owns its own parameters. Convolutions are grouped convolutions with K groups and BatchNorm layers
have K·C channels, so each run's statistics are its own and BatchNorm stays ordinary (no vmap, eval mode as
usual). Run k's parameters are initialised from its own seed, so run k of a K-run model starts from exactly the
parameters of a one-run model with the same seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .specs import MODELS, ModelSpec, SpecError, check, check_choice, check_range, register_model

__all__ = [
    "register_model",
    "create_model",
    "MODELS",
    "parse_model",
    "count_parameters",
    "MultiLinear",
    "MultiMLP",
    "MultiMLPClassifier",
    "multi_head",
    "ResNetCifar",
    "imagenet_stem",
    "ResNet18",
    "MLP",
    "CIFAR_DEPTHS",
]


class MultiLinear(nn.Module):
    """K independent linear layers: (K, B, in) → (K, B, out)."""

    def __init__(self, num_runs: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_runs, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(num_runs, 1, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class MultiMLP(nn.Sequential):
    """K independent multi-layer perceptrons: linear layers of the given ``sizes`` with ReLU between them (and
    after the last one when ``final_relu``), (K, B, sizes[0]) → (K, B, sizes[-1])."""

    def __init__(self, num_runs: int, sizes: Sequence[int], final_relu: bool = False):
        layers = []
        for i, (cin, cout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(MultiLinear(num_runs, cin, cout))
            if final_relu or i < len(sizes) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def multi_head(num_runs: int, in_features: int, num_outputs: int, hidden: int | None) -> nn.Module:
    """The classifier on top of the features: one linear layer, or two with a ReLU between them when ``hidden``
    is given (Kurmi et al. 2022, "the last fully connected layer is replaced with two")."""
    sizes = (in_features, hidden, num_outputs) if hidden else (in_features, num_outputs)
    return MultiMLP(num_runs, sizes)


class MultiMLPClassifier(nn.Module):
    """A multi-layer perceptron on flattened images, K runs at once: ``depth`` hidden ReLU layers of ``hidden``
    units are the features, a linear layer the head (Nam et al. 2020 and Kurmi et al. 2022 on Colored MNIST)."""

    def __init__(self, num_runs, in_features, num_outputs, hidden, depth):
        super().__init__()
        self.num_runs, self.feature_dim = num_runs, hidden
        self.extractor = MultiMLP(num_runs, (in_features, *[hidden] * depth), final_relu=True)
        self.head = MultiLinear(num_runs, hidden, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, C, H, W) → (K, B, hidden)."""
        return self.extractor(x.flatten(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv(num_runs, cin, cout, kernel, stride=1):
    return nn.Conv2d(num_runs * cin, num_runs * cout, kernel, stride, kernel // 2, groups=num_runs, bias=False)


class BasicBlock(nn.Module):
    """He et al. (2016) basic block; shortcut 'A' (parameter-free) for the CIFAR ResNets, 'B' (1×1 conv) for
    ResNet-18. ``zero_init``: the block's last BatchNorm starts with γ = 0, so the block starts as its shortcut
    (Goyal et al. 2017; ClassyVision's ``zero_init_bn_residuals``)."""

    def __init__(self, num_runs, cin, cout, stride, shortcut, zero_init=False):
        super().__init__()
        self.num_runs, self.cin, self.cout, self.stride, self.zero_init = num_runs, cin, cout, stride, zero_init
        self.conv1 = _conv(num_runs, cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(num_runs * cout)
        self.conv2 = _conv(num_runs, cout, cout, 3)
        self.bn2 = nn.BatchNorm2d(num_runs * cout)
        self.projection = None
        if shortcut == "B" and (stride != 1 or cin != cout):
            self.projection = nn.Sequential(_conv(num_runs, cin, cout, 1, stride), nn.BatchNorm2d(num_runs * cout))

    def _shortcut(self, x):
        if self.projection is not None:
            return self.projection(x)
        if self.stride == 1 and self.cin == self.cout:
            return x
        # Option A: subsample, then zero-pad each run's channels from cin to cout.
        x = x[:, :, :: self.stride, :: self.stride]
        b, _, h, w = x.shape
        x = x.reshape(b, self.num_runs, self.cin, h, w)
        pad = self.cout - self.cin
        x = F.pad(x, (0, 0, 0, 0, pad // 2, pad - pad // 2))
        return x.reshape(b, self.num_runs * self.cout, h, w)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self._shortcut(x))


def imagenet_stem(num_runs: int, in_channels: int, width: int) -> nn.Sequential:
    """torchvision's ResNet stem, K runs: a 7×7 stride-2 convolution, BatchNorm, ReLU, a 3×3 stride-2 max-pool."""
    return nn.Sequential(
        _conv(num_runs, in_channels, width, 7, 2), nn.BatchNorm2d(num_runs * width), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
    )


class MultiResNet(nn.Module):
    """A ResNet of basic blocks, K runs at once: with a CIFAR stem for small images (3×3 conv, stride 1, no
    max-pool), or with ImageNet's (``stem="imagenet"``: ``imagenet_stem``, torchvision's layout)."""

    def __init__(
        self,
        num_runs,
        in_channels,
        num_outputs,
        stage_widths,
        blocks_per_stage,
        shortcut,
        head_hidden=None,
        zero_init_residual=False,
        stem="cifar",
    ):
        super().__init__()
        self.num_runs, self.in_channels = num_runs, in_channels
        self.stem = (
            imagenet_stem(num_runs, in_channels, stage_widths[0])
            if stem == "imagenet"
            else nn.Sequential(
                _conv(num_runs, in_channels, stage_widths[0], 3), nn.BatchNorm2d(num_runs * stage_widths[0])
            )
        )
        layers, cin = [], stage_widths[0]
        for stage, (cout, blocks) in enumerate(zip(stage_widths, blocks_per_stage, strict=True)):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(num_runs, cin, cout, stride, shortcut, zero_init_residual))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.feature_dim = cin
        self.head = (
            MultiLinear(num_runs, cin, num_outputs)
            if not head_hidden
            else multi_head(num_runs, cin, num_outputs, head_hidden)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, C, H, W) → pooled features (K, B, F)."""
        k, b, c, h, w = x.shape
        if self.stem[0].weight.stride(1) == 1:  # the model was moved to channels_last
            # One copy into (B, H, W, K·C): the channels_last layout of the grouped (B, K·C, H, W) input.
            x = x.permute(1, 3, 4, 0, 2).reshape(b, h, w, k * c).permute(0, 3, 1, 2)
        else:
            x = x.transpose(0, 1).reshape(b, k * c, h, w)
        out = self.layers(F.relu(self.stem(x)))
        out = out.mean(dim=(2, 3))
        return out.reshape(b, k, self.feature_dim).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def init_per_run(model: nn.Module, seeds: Sequence[int]) -> None:
    """Initialise run k's slice of every parameter from ``seeds[k]`` (He et al. 2015 for convs, BN γ=1 β=0 —
    γ=0 for the last BN of a ``zero_init`` block —, PyTorch's default uniform for linear layers), walking the
    modules in a fixed order."""
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    k_runs = len(seeds)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                for k, chunk in enumerate(module.weight.chunk(k_runs, dim=0)):
                    nn.init.kaiming_normal_(chunk, mode="fan_out", nonlinearity="relu", generator=generators[k])
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1)
                module.bias.zero_()
            elif isinstance(module, MultiLinear):
                bound = 1 / math.sqrt(module.weight.shape[1])
                for k in range(k_runs):
                    module.weight[k].uniform_(-bound, bound, generator=generators[k])
                    module.bias[k].uniform_(-bound, bound, generator=generators[k])
        for module in model.modules():
            if isinstance(module, BasicBlock) and module.zero_init:
                module.bn2.weight.zero_()


CIFAR_DEPTHS = tuple(range(8, 111, 6))


@register_model("resnet_cifar")
@dataclass(frozen=True)
class ResNetCifar(ModelSpec):
    """CIFAR ResNet of He et al. (2016) §4.2: depth 6n+2, three stages of n blocks, widths w, 2w, 4w, parameter-free
    shortcuts (option A). ``head_hidden``: two fully connected layers with that many hidden units instead of one.

    Options, off by default: ``shortcut="B"``, 1×1 projection shortcuts where the shape changes, and
    ``zero_init_residual``, γ = 0 in each block's last BatchNorm — together ClassyVision's ResNet, which Hall et
    al. (2022) trained (their released configs: ``small_input``, ``zero_init_bn_residuals``)."""

    depth: int = 20
    width: int = 16
    head_hidden: int | None = None
    shortcut: str = "A"
    zero_init_residual: bool = False

    def validate(self):
        check(self.depth in CIFAR_DEPTHS, f"depth must be 6n+2 between 8 and 110 (8, 14, 20, …, 110), got {self.depth}")
        check_range("width", self.width, 4, 64, integer=True)
        if self.head_hidden is not None:
            check_range("head_hidden", self.head_hidden, 1, None, integer=True)
        check_choice("shortcut", self.shortcut, ("A", "B"))
        check(
            isinstance(self.zero_init_residual, bool),
            f"zero_init_residual must be true or false, got {self.zero_init_residual!r}",
        )

    def to_dict(self) -> dict:
        """As ``Spec.to_dict``, without the two options while they are off: the network is then the one built
        before they existed, and its runs keep their store keys."""
        values = super().to_dict()
        for name, default in (("shortcut", "A"), ("zero_init_residual", False)):
            if values[name] == default:
                del values[name]
        return values

    def build(self, num_runs, in_shape, num_outputs):
        n = (self.depth - 2) // 6
        widths = (self.width, 2 * self.width, 4 * self.width)
        blocks = (n, n, n)
        shortcut, zero_init = self.shortcut, self.zero_init_residual
        return MultiResNet(num_runs, in_shape[0], num_outputs, widths, blocks, shortcut, self.head_hidden, zero_init)

    @classmethod
    def from_name(cls, name):
        """'resnetD' with D = 6n+2 (resnet8, resnet20, resnet110); ResNet-18 is a model of its own."""
        match = re.fullmatch(r"resnet(\d+)", name)
        if not match or name == "resnet18":
            return None
        return cls(depth=int(match.group(1)))


@register_model("resnet18")
@dataclass(frozen=True)
class ResNet18(ModelSpec):
    """ResNet-18 with a CIFAR stem: four stages of two blocks, widths w, 2w, 4w, 8w, projection shortcuts.
    ``head_hidden``: two fully connected layers with that many hidden units instead of one."""

    width: int = 64
    head_hidden: int | None = None
    stem: ClassVar[str] = "cifar"  # not a field: a subclass with ImageNet's stem is another registered model

    def validate(self):
        check_range("width", self.width, 4, 64, integer=True)
        if self.head_hidden is not None:
            check_range("head_hidden", self.head_hidden, 1, None, integer=True)

    def build(self, num_runs, in_shape, num_outputs):
        widths = (self.width, 2 * self.width, 4 * self.width, 8 * self.width)
        return MultiResNet(
            num_runs, in_shape[0], num_outputs, widths, (2, 2, 2, 2), "B", self.head_hidden, stem=self.stem
        )


@register_model("mlp")
@dataclass(frozen=True)
class MLP(ModelSpec):
    """Multi-layer perceptron on the flattened image: ``depth`` hidden ReLU layers of ``hidden`` units (Kurmi et al.:
    three hidden layers on Colored MNIST; Nam et al.: 100 units)."""

    hidden: int = 100
    depth: int = 3

    def validate(self):
        check_range("hidden", self.hidden, 1, 4096, integer=True)
        check_range("depth", self.depth, 1, 8, integer=True)

    def build(self, num_runs, in_shape, num_outputs):
        return MultiMLPClassifier(num_runs, math.prod(in_shape), num_outputs, self.hidden, self.depth)


def parse_model(name: str) -> ModelSpec:
    """A model name as a chapter parameter → its spec: a registered model's name (``resnet18``, ``mlp``) or a
    short name a registered model knows (``resnet20``: the CIFAR ResNet of depth 20). Open: a model registered by
    a paper's package is found here too."""
    if not isinstance(name, str):
        raise SpecError(f"model must be a name such as resnet20, resnet18 or mlp, got {name!r}")
    for model_name in MODELS:
        try:
            spec = MODELS.get(model_name).from_name(name)
        except SpecError as error:
            raise SpecError(f"model {name!r}: {error}") from None
        if spec is not None:
            return spec
    raise SpecError(f"unknown model {name!r}; accepted: {', '.join(MODELS)}, or resnetD with D = 6n+2 in [8, 110]")


def create_model(spec: ModelSpec, seeds: Sequence[int], in_shape: Sequence[int], num_outputs: int = 1) -> nn.Module:
    """Build the model ``spec`` describes with one run per seed, for inputs of shape ``in_shape`` (C, H, W), then
    load the weights the spec loads (``ModelSpec.load_weights``); ``model.weights_note`` is what it said."""
    model = spec.build(len(seeds), tuple(in_shape), num_outputs)
    init_per_run(model, seeds)
    model.weights_note = spec.load_weights(model)
    return model


def count_parameters(model: nn.Module) -> int:
    """Parameters per run."""
    total = sum(p.numel() for p in model.parameters())
    return total // getattr(model, "num_runs", 1)
