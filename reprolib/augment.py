"""Batched data augmentation on tensors, with its random parameters drawn per run from the run's own generator.

Each augmentation is a per-image affine map (a 2×3 matrix ``theta`` in the normalised coordinates of
``torch.nn.functional.affine_grid``) sampled on the CPU and applied on the training device in one
``grid_sample`` call for the whole batch. torchvision's transforms draw one set of parameters per call, so
applied to a batch every image would get the same crop; drawing per image is why this module exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .registry import Registry

__all__ = [
    "sample_pad_crop_flip",
    "sample_resized_crop_flip",
    "sample_pad_resized_crop_flip",
    "sample_identity",
    "apply_affine",
    "Augmentation",
    "AUGMENTATIONS",
    "register_augmentation",
]


def _flip_signs(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)


def sample_pad_crop_flip(n: int, size: tuple[int, int], padding: int, generator: torch.Generator) -> torch.Tensor:
    """He et al. (2016): pad by ``padding`` zero pixels, crop back to ``size`` at a uniform integer offset, and
    flip horizontally with probability ½. Returns thetas (n, 2, 3)."""
    h, w = size
    shifts = torch.randint(-padding, padding + 1, (n, 2), generator=generator).float()
    flips = _flip_signs(n, generator)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = flips
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = shifts[:, 0] * 2 / w
    theta[:, 1, 2] = shifts[:, 1] * 2 / h
    return theta


def sample_resized_crop_flip(
    n: int, generator: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), frame=(1.0, 1.0)
) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop`` (area share in ``scale``, aspect ratio log-uniform in ``ratio``,
    crop resized back to the full image) plus a horizontal flip with probability ½; used for Fashion-MNIST by
    Hall et al. Crops that would leave the image are shrunk to fit instead of re-drawn.

    ``frame`` = (height, width) of the image the crop is taken from, as multiples of the image's own: (1.25,
    1.25) crops a 32×32 image zero-padded to 40×40 (Hall et al.'s CIFAR configuration: ``PadToSize`` 40, then
    ``RandomResizedCrop(32)``); the area share is of that padded frame."""
    area = torch.empty(n).uniform_(scale[0], scale[1], generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    fy, fx = frame
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = fx * width * _flip_signs(n, generator)
    theta[:, 1, 1] = fy * height
    theta[:, 0, 2] = fx * cx
    theta[:, 1, 2] = fy * cy
    return theta


def sample_pad_resized_crop_flip(
    n: int, size: tuple[int, int], padding: int, generator: torch.Generator
) -> torch.Tensor:
    """Zero-pad by ``padding`` pixels on every side, take a ``RandomResizedCrop`` of the padded image, resize it
    to ``size`` and flip it with probability ½ (Hall et al. 2022 §2.1 on CIFAR: "pad the images with zeros",
    "randomly cropping", "flipping", "resizing the crops to 32×32"; their configs pad 32×32 to 40×40)."""
    h, w = size
    return sample_resized_crop_flip(n, generator, frame=((h + 2 * padding) / h, (w + 2 * padding) / w))


def sample_identity(n: int) -> torch.Tensor:
    return torch.eye(2, 3).expand(n, 2, 3).clone()


def apply_affine(images: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    """Apply per-image affine maps to float images (n, C, H, W); pixels from outside the image are zero."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Augmentation:
    """A per-image affine augmentation: ``sample(n, (h, w), recipe, generator)`` → thetas (n, 2, 3), applied with
    ``interpolation`` ("nearest" keeps integer shifts exact); ``sample`` None means no augmentation."""

    interpolation: str | None
    sample: Callable | None


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


def register_augmentation(name: str, augmentation: Augmentation) -> Augmentation:
    return AUGMENTATIONS.register(name)(augmentation)


register_augmentation(
    "pad_crop_flip",
    Augmentation(
        "nearest", lambda n, size, recipe, generator: sample_pad_crop_flip(n, size, recipe.crop_padding, generator)
    ),
)
register_augmentation(
    "resized_crop_flip", Augmentation("bilinear", lambda n, size, recipe, g: sample_resized_crop_flip(n, g))
)
register_augmentation(
    "pad_resized_crop_flip",
    Augmentation(
        "bilinear",
        lambda n, size, recipe, generator: sample_pad_resized_crop_flip(n, size, recipe.crop_padding, generator),
    ),
)
register_augmentation("none", Augmentation(None, None))
