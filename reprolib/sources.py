"""Image sources: multi-class datasets as uint8 tensors (N, C, H, W) with their train/test split.

``digits`` (scikit-learn's bundled 8×8 handwritten digits) is embedded and always available. The others are
read with torchvision from ``root`` (default ``$REPROLIB_DATA`` or ``./data``) and downloaded when online. A
paper registers further sources (``@register_source``). ``load_source`` decodes a source once per process and
root, however many tasks and seeds use it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .registry import Registry

__all__ = [
    "ImageSource",
    "SourceUnavailable",
    "SOURCES",
    "load_source",
    "default_data_root",
    "register_source",
    "to_nchw_uint8",
]


class SourceUnavailable(RuntimeError):
    """A dataset is neither on disk nor downloadable; the message says where to put which files."""


@dataclass(frozen=True)
class ImageSource:
    """A labelled image dataset: uint8 images (N, C, H, W) and int64 labels for the train and test splits."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name == "train":
            return self.train_images, self.train_labels
        if name == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"split must be 'train' or 'test', got {name!r}")


def default_data_root() -> Path:
    """``$REPROLIB_DATA``, or ``data/`` at the project's root."""
    return Path(os.environ.get("REPROLIB_DATA", Path(__file__).resolve().parent.parent / "data"))


DIGITS_TEST_FRACTION = 0.3
DIGITS_SPLIT_SEED = 0


SOURCES: Registry[Callable[[Path, bool], ImageSource]] = Registry("dataset")
register_source = SOURCES.register


@register_source("digits")
def _digits(root: Path, download: bool) -> ImageSource:
    """The 1,797 8×8 digits of scikit-learn (pixel values 0–16, rescaled to 0–255).

    The dataset has no official split; a fixed stratified split (30% test, seed 0) stands in for one.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=DIGITS_TEST_FRACTION, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    return ImageSource(
        "digits",
        torch.from_numpy(images[train_idx]),
        torch.from_numpy(labels[train_idx]),
        torch.from_numpy(images[test_idx]),
        torch.from_numpy(labels[test_idx]),
        10,
    )


_TORCHVISION = {
    "mnist": (
        "MNIST",
        10,
        "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    # name: (torchvision class name, number of classes, what the folder must hold, download page)
    "fashion_mnist": (
        "FashionMNIST",
        10,
        "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
        "https://github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": ("CIFAR10", 10, "cifar-10-batches-py/", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "cifar100": ("CIFAR100", 100, "cifar-100-python/", "https://www.cs.toronto.edu/~kriz/cifar.html"),
}


def _torchvision_split(cls, root: Path, train: bool, download: bool):
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise
    return cls(str(root), train=train, download=True)


def to_nchw_uint8(data) -> torch.Tensor:
    array = torch.as_tensor(np.asarray(data), dtype=torch.uint8)
    return array[:, None] if array.ndim == 3 else array.permute(0, 3, 1, 2).contiguous()


def _torchvision_source(name: str, root: Path, download: bool) -> ImageSource:
    import torchvision.datasets

    class_name, num_classes, layout, page = _TORCHVISION[name]
    cls = getattr(torchvision.datasets, class_name)
    try:
        train = _torchvision_split(cls, root, True, download)
        test = _torchvision_split(cls, root, False, download)
    except (RuntimeError, OSError) as error:
        raise SourceUnavailable(
            f"dataset {name!r} is not in {root.resolve()} and could not be downloaded ({type(error).__name__}); "
            f"put {layout} there (from {page}) or pass root=/path/to/it"
        ) from None
    return ImageSource(
        name,
        to_nchw_uint8(train.data),
        torch.as_tensor(train.targets, dtype=torch.int64),
        to_nchw_uint8(test.data),
        torch.as_tensor(test.targets, dtype=torch.int64),
        num_classes,
    )


for _name in _TORCHVISION:
    register_source(_name)(functools.partial(_torchvision_source, _name))


def load_source(name: str, root: str | Path | None = None, download: bool = True) -> ImageSource:
    """Load a registered image source by name (``SOURCES``), decoded once per process, root and name."""
    loader = SOURCES.get(name)
    return _cached(loader, name, str(Path(root) if root is not None else default_data_root()), download)


@functools.lru_cache(maxsize=4)
def _cached(loader, name: str, root: str, download: bool) -> ImageSource:
    return loader(Path(root), download)
