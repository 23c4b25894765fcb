"""CIFAR-I (Wang et al. 2020; Kurmi et al. 2022, Table 2): CIFAR-10S with its second domain taken from ImageNet.

The bias attribute is the domain an image comes from: 0 = CIFAR-10, 1 = ImageNet images of the same ten classes
downsampled to 32×32. Those ImageNet images are read from CINIC-10 (Darlow et al. 2018, which Kurmi et al.
cite): its ``train/`` and ``test/`` folders hold one folder per CIFAR-10 class, and the files named after an
ImageNet synset (``n02690373_1234.png``) are the ImageNet half (the others, ``cifar10-train-…``, are CIFAR-10's).
Neither paper lists its synsets; CINIC-10's class-to-synset choice is the published one nearest to theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...sources import ImageSource, SourceUnavailable, load_source, register_source
from ...specs import register_task
from ...tasks import Split, Task, channel_stats, split_balanced
from .skew_tasks import SkewTaskSpec, _check_skew, noisy_source, skew_info, validation_source

__all__ = ["CIFAR10_CLASSES", "CINIC_URL", "DomainSkewTask", "load_cinic_imagenet", "make_domain_skew_task"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CINIC_URL = "https://datashare.ed.ac.uk/handle/10283/3192"


def _read_split(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        for path in sorted((folder / name).glob("n*.png")):
            with Image.open(path) as file:
                image = torch.from_numpy(np.array(file.convert("RGB"))).permute(2, 0, 1)
            if image.shape != (3, 32, 32):
                raise SourceUnavailable(f"{path} is {tuple(image.shape)}, expected a 32×32 RGB image as in CINIC-10")
            images.append(image)
            labels.append(label)
    if not images:
        raise SourceUnavailable(f"no ImageNet images (n*.png) in the class folders of {folder}")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def load_cinic_imagenet(root: str | Path | None = None) -> ImageSource:
    """The ImageNet images of CINIC-10 as an image source, classes in CIFAR-10's order, from
    ``root/cinic-10/{train,test}/<class>/n*.png`` (``root`` defaults to ``$REPROLIB_DATA`` or ``data/``).
    CINIC-10 is not downloaded automatically (a 700 MB archive): a missing folder is a one-line error. The
    registered source ``cinic10_imagenet``: decoded once per process (``sources.load_source``)."""
    return load_source("cinic10_imagenet", root=root)


@register_source("cinic10_imagenet")
def _load_folder(root: Path, download: bool) -> ImageSource:
    folder = Path(root) / "cinic-10"
    missing = [f"{split}/{name}" for split in ("train", "test") for name in CIFAR10_CLASSES]
    missing = [m for m in missing if not (folder / m).is_dir()]
    if missing:
        raise SourceUnavailable(
            f"dataset 'cinic10_imagenet' needs CINIC-10 unpacked in {folder} ({missing[0]}/ is missing); "
            f"download CINIC-10.tar.gz from {CINIC_URL} and unpack it there"
        )
    train_images, train_labels = _read_split(folder / "train")
    test_images, test_labels = _read_split(folder / "test")
    return ImageSource("cinic10_imagenet", train_images, train_labels, test_images, test_labels, 10)


def _draw(labels: torch.Tensor, c: int, count: int, name: str, split: str, generator) -> torch.Tensor:
    """``count`` indices of class c drawn without replacement."""
    pool = torch.nonzero(labels == c).flatten()
    if count > len(pool):
        raise ValueError(f"class {c} needs {count} {split} images from {name}, which has {len(pool)}")
    return pool[torch.randperm(len(pool), generator=generator)[:count]]


def make_domain_skew_task(source: ImageSource, other: ImageSource, skew: float, seed: int) -> Task:
    """CIFAR-I: group 0 = an image of ``source`` (CIFAR-10), group 1 = an image of ``other`` (its ImageNet twin).

    A seeded half of the classes is mostly ``source``, the other half mostly ``other``. Class c keeps as many
    training images as ``source`` has, exactly round(skew · n_c) of them from its majority domain, each domain's
    images drawn without replacement. The test split holds every test image of ``source`` and as many test images
    of ``other`` per class, so exactly half of it is bias-aligned.
    """
    _check_skew(skew)
    if other.num_classes != source.num_classes or other.image_shape != source.image_shape:
        raise ValueError(
            f"the two domains must have the same classes and image shape: {source.name} has "
            f"{source.num_classes} × {source.image_shape}, {other.name} {other.num_classes} × {other.image_shape}"
        )
    generator = torch.Generator().manual_seed(seed)
    num_classes = source.num_classes
    aligned_group = torch.zeros(num_classes, dtype=torch.long)
    aligned_group[torch.randperm(num_classes, generator=generator)[: num_classes // 2]] = 1
    domains = (source, other)
    train = {"images": [], "labels": [], "groups": []}
    for c in range(num_classes):
        n_c = int((source.train_labels == c).sum())
        majority = split_balanced(n_c, skew, generator).sum().item()
        counts = {int(aligned_group[c]): majority, 1 - int(aligned_group[c]): n_c - majority}
        for group, domain in enumerate(domains):
            picked = _draw(domain.train_labels, c, counts[group], domain.name, "training", generator)
            train["images"].append(domain.train_images[picked])
            train["labels"].append(torch.full((len(picked),), c, dtype=torch.long))
            train["groups"].append(torch.full((len(picked),), group, dtype=torch.long))
    twins = torch.cat(
        [
            _draw(other.test_labels, c, int((source.test_labels == c).sum()), other.name, "test", generator)
            for c in range(num_classes)
        ]
    )
    train_labels = torch.cat(train["labels"])
    train_split = Split(torch.cat(train["images"]), train_labels, torch.cat(train["groups"]), train_labels)
    test_labels = torch.cat([source.test_labels, other.test_labels[twins]])
    test_groups = torch.cat([torch.zeros(len(source.test_labels)), torch.ones(len(twins))]).long()
    test_split = Split(torch.cat([source.test_images, other.test_images[twins]]), test_labels, test_groups, test_labels)
    mean, std = channel_stats(train_split.images)
    info = skew_info(num_classes, 2, aligned_group, skew)
    return Task(f"{source.name}-{other.name}-domains", train_split, test_split, mean, std, info, evaluator="skew")


@register_task("domain_skew")
@dataclass(frozen=True)
class DomainSkewTask(SkewTaskSpec):
    """CIFAR-I (``make_domain_skew_task``): ``dataset`` (CIFAR-10) against CINIC-10's ImageNet images; a validation
    task holds out both domains."""

    dataset: str = "cifar10"

    def build(self, data_root):
        source, other = load_source(self.dataset, root=data_root), load_cinic_imagenet(data_root)
        if self.split == "validation":
            source, other = validation_source(source, self.seed), validation_source(other, self.seed)
        if self.noise > 0:
            source, other = noisy_source(source, self.noise, self.seed), noisy_source(other, self.noise, self.seed)
        return make_domain_skew_task(source, other, self.skew, self.seed)
