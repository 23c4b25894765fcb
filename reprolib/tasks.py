"""Task builders: from an image source to binary labels, groups and splits, seeded.

A ``Task`` holds, per split, the uint8 images exactly as the model sees them (group transformations such as
inversion already applied), the binary class label, the group and the source class. A new paper adds builders
here; the trainer only ever sees ``Task`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .multilabel import alpha_balance, perturb_labels
from .sources import ImageSource

__all__ = [
    "Split",
    "Task",
    "make_inversion_task",
    "make_overlay_task",
    "overlay",
    "split_balanced",
    "channel_stats",
    "stratified_subsample",
    "alpha_balance",
    "perturb_labels",
]


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 (N, C, H, W), as the model sees them
    labels: torch.Tensor  # int64 (N,), the class t to predict
    groups: torch.Tensor  # int64 (N,), the group a
    source_labels: torch.Tensor  # int64 (N,), the class in the source dataset

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index], self.groups[index], self.source_labels[index])


@dataclass(frozen=True)
class Task:
    name: str
    train: Split
    test: Split
    mean: tuple[float, ...]  # per-channel normalisation, on the [0, 1] scale
    std: tuple[float, ...]
    info: dict = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images on the [0, 1] scale."""
    x = images.double().div(255).transpose(0, 1).reshape(images.shape[1], -1)
    return tuple(x.mean(1).tolist()), tuple(x.std(1).tolist())


def split_balanced(n_items: int, rate: float, generator: torch.Generator) -> torch.Tensor:
    """A random boolean mask over ``n_items`` with exactly round(rate · n_items) entries set."""
    mask = torch.zeros(n_items, dtype=torch.bool)
    mask[torch.randperm(n_items, generator=generator)[: round(rate * n_items)]] = True
    return mask


def stratified_subsample(labels: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of a stratified random subsample: round(fraction · n_c) examples of every class c (RQ3)."""
    keep = [
        torch.nonzero(labels == c).flatten()[split_balanced(int((labels == c).sum()), fraction, generator)]
        for c in torch.unique(labels)
    ]
    return torch.sort(torch.cat(keep)).values


def _invert_split(images, source_labels, positive, eps, generator, swap_roles) -> Split:
    """Hall et al. §2.1: invert positives with rate ½−ε and negatives with rate ½+ε (exact counts per class)."""
    binary = positive[source_labels].long()
    inverted = torch.zeros(len(binary), dtype=torch.bool)
    for value, rate in ((1, 0.5 - eps), (0, 0.5 + eps)):
        members = torch.nonzero(binary == value).flatten()
        inverted[members[split_balanced(len(members), rate, generator)]] = True
    shown = torch.where(inverted[:, None, None, None], 255 - images, images)
    group = inverted.long()
    labels, groups = (group, binary) if swap_roles else (binary, group)
    return Split(shown, labels, groups, source_labels)


def make_inversion_task(
    source: ImageSource, eps: float, seed: int, swap_roles: bool = False, train_fraction: float = 1.0
) -> Task:
    """The synthetic-bias task of Hall et al. (2022) §2.1.

    A seeded random half of the source classes is positive (t = 1). Group a = 1 means the image is inverted
    (x → 255 − x). Positives are inverted with rate ½ − ε, negatives with rate ½ + ε, so the dataset carries a
    bias of strength 2ε. With ``swap_roles`` (RQ5b) the class is whether the image is inverted and the group is
    the binary object label. ``train_fraction`` keeps a stratified subsample of the training set (RQ3).
    Normalisation statistics are computed on the original, un-inverted training images.
    """
    if not 0 <= eps <= 0.5:
        raise ValueError(f"eps must lie in [0, 0.5], got {eps}")
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must lie in (0, 1], got {train_fraction}")
    generator = torch.Generator().manual_seed(seed)
    positive = torch.zeros(source.num_classes, dtype=torch.bool)
    positive[torch.randperm(source.num_classes, generator=generator)[: source.num_classes // 2]] = True
    train_images, train_labels = source.train_images, source.train_labels
    if train_fraction < 1:
        keep = stratified_subsample(train_labels, train_fraction, generator)
        train_images, train_labels = train_images[keep], train_labels[keep]
    mean, std = channel_stats(train_images)
    train = _invert_split(train_images, train_labels, positive, eps, generator, swap_roles)
    test = _invert_split(source.test_images, source.test_labels, positive, eps, generator, swap_roles)
    info = {"positive_classes": torch.nonzero(positive).flatten().tolist()}
    return Task(f"{source.name}-inversion", train, test, mean, std, info)


def overlay(group_images: torch.Tensor, class_images: torch.Tensor, eta: float) -> torch.Tensor:
    """Hall et al. eq. (5): I = η·I_group + (1 − η)·I_class, on uint8 images, rounded to the nearest integer."""
    mixed = eta * group_images.double() + (1 - eta) * class_images.double()
    return mixed.round().clamp(0, 255).to(torch.uint8)


def _draw(pool: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices into ``pool``: a random permutation of it, repeated when ``n`` exceeds its size."""
    rounds = -(-n // len(pool))
    return torch.cat([pool[torch.randperm(len(pool), generator=generator)] for _ in range(rounds)])[:n]


def _overlay_split(images, source_labels, classes, group_classes, eta, eps, generator) -> Split:
    """One split of the overlay task: the same number of class images of each of the two classes (the size of
    the split's smallest source class, so every seed gives equal sizes), positives in group a with rate ½ + ε
    and negatives in group b with rate ½ + ε (exact counts), and a group image drawn for each example."""
    per_class = int(torch.bincount(source_labels).min())
    picked, binary, groups = [], [], []
    for value, source_class in enumerate(classes):  # value 0: negative class, 1: positive class
        members = torch.nonzero(source_labels == source_class).flatten()
        members = members[torch.randperm(len(members), generator=generator)[:per_class]]
        majority = split_balanced(per_class, 0.5 + eps, generator)  # positives → a (1), negatives → b (0)
        picked.append(members)
        binary.append(torch.full((per_class,), value))
        groups.append(majority.long() if value == 1 else (~majority).long())
    picked, labels, groups = torch.cat(picked), torch.cat(binary), torch.cat(groups)
    group_image = torch.empty_like(picked)
    for value, source_class in enumerate(group_classes):  # value 0: group b, 1: group a
        in_group = torch.nonzero(groups == value).flatten()
        pool = torch.nonzero(source_labels == source_class).flatten()
        group_image[in_group] = _draw(pool, len(in_group), generator)
    shown = overlay(images[group_image], images[picked], eta)
    return Split(shown, labels, groups, source_labels[picked])


def make_overlay_task(source: ImageSource, eta: float, eps: float, seed: int) -> Task:
    """The overlay task of Hall et al. (2022) RQ6, eq. (5): I = η·I_group + (1 − η)·I_class.

    A seeded random choice of four source classes: the first two form the binary task (negative t = 0,
    positive t = 1), the other two the groups (b: a = 0, a: a = 1). Each example is a class image blended with
    an image of its group's class; it carries the class image's label. Positives are in group a with rate
    ½ + ε, negatives in group b with rate ½ + ε (exact counts). η = 0 shows only the class image, η = 1 only
    the group image. The images drawn do not depend on η, so runs that differ only in η see the same pairs.
    Normalisation statistics are those of the whole source training set, equal for every η and seed.
    """
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    if not 0 <= eps <= 0.5:
        raise ValueError(f"eps must lie in [0, 0.5], got {eps}")
    if source.num_classes < 4:
        raise ValueError(f"the overlay task needs a source with at least 4 classes, got {source.num_classes}")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(source.num_classes, generator=generator)[:4].tolist()
    classes, group_classes = chosen[:2], chosen[2:]
    mean, std = channel_stats(source.train_images)
    train = _overlay_split(source.train_images, source.train_labels, classes, group_classes, eta, eps, generator)
    test = _overlay_split(source.test_images, source.test_labels, classes, group_classes, eta, eps, generator)
    info = {"classes": classes, "group_classes": group_classes}
    return Task(f"{source.name}-overlay", train, test, mean, std, info)
