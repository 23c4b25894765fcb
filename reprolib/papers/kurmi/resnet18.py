"""The CelebA network of K-T3's `paper` preset: an ImageNet-pretrained ResNet-18 at 224 × 224 (the protocol of
Nam et al. 2020, LfF, which Kurmi et al. follow for CelebA), K runs at once.

``resnet18_imagenet`` is torchvision's ``resnet18`` — a 7×7 stride-2 stem and max-pool, basic blocks (2, 2, 2, 2)
of widths 64·2^s, 1×1 projection shortcuts — built from grouped convolutions (``models.MultiResNet`` with
``stem="imagenet"``), its last fully connected layer replaced by two (``head_hidden`` hidden units; Kurmi et al.,
§Experiments). ImageNet's weights are read from torchvision's file in the torch hub cache (``pretrained``: the
folder ``torch.hub.get_dir()/checkpoints``, set by ``$TORCH_HOME``) and copied into every run; nothing is
downloaded, and the head keeps its seeded initialisation. Every layer is trained: Kurmi et al.'s adversarial
methods act on the features, which a frozen trunk (LfF's released code) would leave untouched. Without the file
the run fails with one line saying where to put it; K-T3's page says how to train from scratch instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...models import ResNet18
from ...pretrained import hub_files, hub_folder, load_into_runs
from ...sources import SourceUnavailable
from ...specs import register_model

__all__ = ["ImageNetResNet18", "imagenet_weights_files"]


def imagenet_weights_files():
    """Where torchvision keeps ResNet-18's ImageNet weights once downloaded (its only ImageNet weights, V1)."""
    from torchvision.models import ResNet18_Weights

    return hub_files(ResNet18_Weights.IMAGENET1K_V1)


@register_model("resnet18_imagenet")
@dataclass(frozen=True)
class ImageNetResNet18(ResNet18):
    """torchvision's ResNet-18 from ImageNet's weights (module docstring): ``models.ResNet18``'s fields with
    ImageNet's stem; ``width``: the first stage's (64 in ResNet-18: the weights file must have the same widths);
    ``head_hidden``: two fully connected layers with that many hidden units instead of one."""

    stem: ClassVar[str] = "imagenet"

    def load_weights(self, model) -> str:
        files = imagenet_weights_files()
        path = load_into_runs(model, files)
        if path is None:
            raise SourceUnavailable(
                f"resnet18_imagenet needs ImageNet weights: {files[0].name} is not in {hub_folder()} (nothing is "
                "downloaded; torchvision.models.resnet18(weights='IMAGENET1K_V1') saves it there, $TORCH_HOME sets "
                "the folder)"
            )
        return f"ImageNet weights from {path}"
