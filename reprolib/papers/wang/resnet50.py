"""The recognition network of Wang et al. (2019), §4.1 and §5.3: ResNet-50 (He et al. 2016) with ImageNet weights,
K runs at once.

``resnet50_imagenet`` is torchvision's ``resnet50`` — a 7×7 stride-2 stem and max-pool, bottleneck blocks
(3, 4, 6, 3) of widths 64·2^s with the stride on the 3×3 convolution — built from grouped convolutions as every
model of ``reprolib.models`` (run k owns the k-th group), so the core trainer, ``wang_randomization`` and
``wang_adversarial`` (conv4: the output of the third stage, conv5: of the fourth) use it as they use the small
ResNets. Its name is not ``resnet50``: that name is the CIFAR ResNet of depth 50 (``models.ResNetCifar``).

ImageNet weights (``imagenet=True``) are read from torchvision's file in the torch hub cache
(``torch.hub.get_dir()/checkpoints``) when it is there — nothing is downloaded — and copied into every run; the
classifier (the labels' head) keeps its seeded initialisation. Without the file, or for inputs that are not RGB or
a width other than 64, every run keeps its seeded initialisation and the run's record says why
(``environment.weights``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ...models import MultiLinear, MultiResNet, imagenet_stem
from ...pretrained import copy_into_runs, hub_files, hub_folder, load_into_runs
from ...specs import ModelSpec, check, check_range, register_model

__all__ = ["ImageNetResNet50", "MultiBottleneckResNet", "imagenet_weights_files", "copy_into_runs", "BLOCKS"]

BLOCKS = (3, 4, 6, 3)  # ResNet-50's blocks per stage (He et al. 2016, Table 1)
EXPANSION = 4


def _conv(k, cin, cout, kernel, stride=1):
    """K independent convolutions (one group per run), padding kernel // 2, no bias, as torchvision's."""
    return nn.Conv2d(k * cin, k * cout, kernel, stride, kernel // 2, groups=k, bias=False)


class Bottleneck(nn.Module):
    """torchvision's bottleneck (ResNet v1.5: the stride on the 3×3 convolution), K runs; modules in the order of
    torchvision's state dict: conv1, bn1, conv2, bn2, conv3, bn3, then the projection (downsample)."""

    def __init__(self, k, cin, width, stride):
        super().__init__()
        self.cout = EXPANSION * width
        self.conv1, self.bn1 = _conv(k, cin, width, 1), nn.BatchNorm2d(k * width)
        self.conv2, self.bn2 = _conv(k, width, width, 3, stride), nn.BatchNorm2d(k * width)
        self.conv3, self.bn3 = _conv(k, width, self.cout, 1), nn.BatchNorm2d(k * self.cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != self.cout:
            self.downsample = nn.Sequential(_conv(k, cin, self.cout, 1, stride), nn.BatchNorm2d(k * self.cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class MultiBottleneckResNet(MultiResNet):
    """ResNet-50's layout, K runs: ``stem`` (7×7 stride-2 convolution, BatchNorm, ReLU, 3×3 stride-2 max-pool),
    ``layers`` (the bottleneck blocks), ``head`` (one linear layer on the pooled features). A ``MultiResNet``: it
    shares its ``features`` and ``forward`` and the stage layout the Wang methods read (``stem``, ``layers`` of
    blocks with ``cout``, ``head``, ``feature_dim``); the ReLU ``MultiResNet`` applies after the stem is then a
    no-op on the max-pool's non-negative output."""

    def __init__(self, num_runs, in_channels, num_outputs, width=64, blocks=BLOCKS):
        nn.Module.__init__(self)  # MultiResNet's own constructor builds the CIFAR stem and basic blocks
        self.num_runs, self.in_channels = num_runs, in_channels
        self.stem = imagenet_stem(num_runs, in_channels, width)
        layers, cin = [], width
        for stage, n in enumerate(blocks):
            for block in range(n):
                layers.append(Bottleneck(num_runs, cin, width * 2**stage, 2 if stage > 0 and block == 0 else 1))
                cin = layers[-1].cout
        self.layers = nn.Sequential(*layers)
        self.feature_dim = cin
        self.head = MultiLinear(num_runs, cin, num_outputs)


def imagenet_weights_files() -> list[Path]:
    """Where torchvision keeps ResNet-50's ImageNet weights once downloaded (V1, the weights of 2019, first)."""
    from torchvision.models import ResNet50_Weights

    return hub_files(ResNet50_Weights.IMAGENET1K_V1, ResNet50_Weights.IMAGENET1K_V2)


@register_model("resnet50_imagenet")
@dataclass(frozen=True)
class ImageNetResNet50(ModelSpec):
    """ResNet-50 (module docstring); ``imagenet``: start from ImageNet's weights when torchvision's file is in
    the torch hub cache; ``width``: the first stage's width (64 in ResNet-50; other widths train from scratch)."""

    imagenet: bool = True
    width: int = 64

    def validate(self):
        check(isinstance(self.imagenet, bool), f"imagenet must be true or false, got {self.imagenet!r}")
        check_range("width", self.width, 4, 64, integer=True)

    def build(self, num_runs, in_shape, num_outputs):
        return MultiBottleneckResNet(num_runs, in_shape[0], num_outputs, self.width)

    def load_weights(self, model) -> str:
        if not self.imagenet:
            return ""
        if self.width != 64 or model.in_channels != 3:
            channels = model.in_channels
            return f"no ImageNet weights for width {self.width} on {channels}-channel images: seeded initialisation"
        path = load_into_runs(model, imagenet_weights_files())
        if path is None:
            return f"no ImageNet weights in {hub_folder()} (nothing is downloaded): seeded initialisation"
        return f"ImageNet weights from {path}"
