"""Part I's tasks (Hall et al. 2022, §2.1 and RQ6): the inversion task and the overlay task, as registered typed
specs, and the evaluator of their binary classifiers (accuracy, BiasAmp, ECE, per-cell accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import metrics as M
from ...evaluation import register_evaluator
from ...sources import SOURCES, ImageSource, load_source
from ...specs import TaskSpec, check_choice, check_range, register_task
from ...tasks import (
    Split,
    Task,
    add_noise,
    channel_stats,
    draw_with_repeats,
    split_balanced,
    stratified_subsample,
)

__all__ = [
    "InversionTask",
    "OverlayTask",
    "make_inversion_task",
    "make_overlay_task",
    "overlay",
    "binary_bias_metrics",
]

# Offsets of the generators of the course's difficulty knobs and validation split from the task's seed: separate
# streams, so a task with the knobs off is exactly the task built before they existed.
VALIDATION_STREAM, AMBIGUOUS_STREAM, NOISE_STREAM = 7_919, 104_729, 1_299_709


@register_task("inversion")
@dataclass(frozen=True)
class InversionTask(TaskSpec):
    """The inversion task of Hall et al. §2.1 (``make_inversion_task``) on the image source ``dataset``."""

    per_run: ClassVar[frozenset[str]] = frozenset({"seed", "eps", "swap_roles"})

    dataset: str = "digits"
    eps: float = 0.0
    seed: int = 0
    swap_roles: bool = False
    train_fraction: float = 1.0
    ambiguous: float = 0.0
    validation_fraction: float = 0.0

    def validate(self):
        check_choice("dataset", self.dataset, SOURCES.names())
        check_range("eps", self.eps, 0, 0.5)
        check_range("seed", self.seed, 0, None, integer=True)
        check_range("train_fraction", self.train_fraction, 0, 1, open_low=True)
        check_range("ambiguous", self.ambiguous, 0, 0.5)
        check_range("validation_fraction", self.validation_fraction, 0, 1, open_high=True)

    def build(self, data_root):
        source = load_source(self.dataset, root=data_root)
        return make_inversion_task(
            source,
            self.eps,
            self.seed,
            self.swap_roles,
            self.train_fraction,
            ambiguous=self.ambiguous,
            validation_fraction=self.validation_fraction,
        )


@register_task("overlay")
@dataclass(frozen=True)
class OverlayTask(TaskSpec):
    """The overlay task of Hall et al. RQ6, eq. (5) (``make_overlay_task``) on the image source ``dataset``."""

    per_run: ClassVar[frozenset[str]] = frozenset({"seed", "eps", "eta"})

    dataset: str = "digits"
    eta: float = 0.5
    eps: float = 0.0
    seed: int = 0
    noise: float = 0.0
    validation_fraction: float = 0.0

    def validate(self):
        check_choice("dataset", self.dataset, SOURCES.names())
        check_range("eta", self.eta, 0, 1)
        check_range("eps", self.eps, 0, 0.5)
        check_range("seed", self.seed, 0, None, integer=True)
        check_range("noise", self.noise, 0, 255)
        check_range("validation_fraction", self.validation_fraction, 0, 1, open_high=True)

    def build(self, data_root):
        source = load_source(self.dataset, root=data_root)
        return make_overlay_task(
            source, self.eta, self.eps, self.seed, noise=self.noise, validation_fraction=self.validation_fraction
        )


@register_evaluator("binary_bias")
def binary_bias_metrics(task: Task, split: str, probs: torch.Tensor) -> dict:
    """Hall et al. §2.1: accuracy, BiasAmp (eqs. 1–3), ECE (eq. 4) and per-cell accuracy of P(t = 1) on ``split``."""
    part = task.split(split)
    preds = (probs > 0.5).long()
    cells = M.cell_accuracy(part.groups, part.labels, preds)
    return {
        "accuracy": M.accuracy(part.labels, preds),
        "bias_amplification": M.bias_amplification(part.groups, part.labels, preds),
        "ece": M.expected_calibration_error(probs, part.labels),
        "cell_accuracy": {f"t{t}_a{a}": v for (t, a), v in cells.items()},
    }


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


def hold_out(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held out) indices: a stratified random share ``fraction`` of every class is held out as a
    validation split, drawn from its own generator (the course's calibration runs judge on it, never on test)."""
    generator = torch.Generator().manual_seed(seed + VALIDATION_STREAM)
    held = torch.zeros(len(labels), dtype=torch.bool)
    if fraction > 0:
        held[stratified_subsample(labels, fraction, generator)] = True
    return torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()


def preinvert(images: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """The course's group-difficulty knob: exactly round(share · n) random images are inverted *before* the
    task inverts its own, so that, seen alone, their group cannot be told (a pre-inverted image the task inverts
    looks original). It caps the accuracy of recognising inversion at 1 − share, independently of class and
    group — the regime of CIFAR-100, whose inversion a ResNet recognises with 96% accuracy (Hall et al.,
    footnote 1), on data whose uniform backgrounds make it trivial otherwise (footnote 2)."""
    flip = split_balanced(len(images), share, generator)
    return torch.where(flip[:, None, None, None], 255 - images, images)


def make_inversion_task(
    source: ImageSource,
    eps: float,
    seed: int,
    swap_roles: bool = False,
    train_fraction: float = 1.0,
    ambiguous: float = 0.0,
    validation_fraction: float = 0.0,
) -> Task:
    """The synthetic-bias task of Hall et al. (2022) §2.1.

    A seeded random half of the source classes is positive (t = 1). Group a = 1 means the image is inverted
    (x → 255 − x). Positives are inverted with rate ½ − ε, negatives with rate ½ + ε, so the dataset carries a
    bias of strength 2ε. With ``swap_roles`` (RQ5b) the class is whether the image is inverted and the group is
    the binary object label. ``train_fraction`` keeps a stratified subsample of the training set (RQ3).
    Normalisation statistics are computed on the original, un-inverted training images.

    Course knobs (both off by default, each from its own random stream): ``validation_fraction`` holds out a
    stratified share of the training images as a validation split (before ``train_fraction``); ``ambiguous``
    pre-inverts that share of every split's source images (``preinvert``).
    """
    if not 0 <= eps <= 0.5:
        raise ValueError(f"eps must lie in [0, 0.5], got {eps}")
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must lie in (0, 1], got {train_fraction}")
    generator = torch.Generator().manual_seed(seed)
    positive = torch.zeros(source.num_classes, dtype=torch.bool)
    positive[torch.randperm(source.num_classes, generator=generator)[: source.num_classes // 2]] = True
    kept, held = hold_out(source.train_labels, validation_fraction, seed)
    train_images, train_labels = source.train_images[kept], source.train_labels[kept]
    if train_fraction < 1:
        keep = stratified_subsample(train_labels, train_fraction, generator)
        train_images, train_labels = train_images[keep], train_labels[keep]
    mean, std = channel_stats(train_images)
    knob = torch.Generator().manual_seed(seed + AMBIGUOUS_STREAM)

    def split(images, labels):
        shown = preinvert(images, ambiguous, knob) if ambiguous > 0 else images
        return _invert_split(shown, labels, positive, eps, generator, swap_roles)

    train = split(train_images, train_labels)
    test = split(source.test_images, source.test_labels)
    validation = split(source.train_images[held], source.train_labels[held]) if len(held) else None
    info = {"positive_classes": torch.nonzero(positive).flatten().tolist()}
    return Task(f"{source.name}-inversion", train, test, mean, std, info, "binary_bias", validation)


def overlay(group_images: torch.Tensor, class_images: torch.Tensor, eta: float) -> torch.Tensor:
    """Hall et al. eq. (5): I = η·I_group + (1 − η)·I_class, on uint8 images, rounded to the nearest integer."""
    mixed = eta * group_images.double() + (1 - eta) * class_images.double()
    return mixed.round().clamp(0, 255).to(torch.uint8)


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
        group_image[in_group] = draw_with_repeats(pool, len(in_group), generator)
    shown = overlay(images[group_image], images[picked], eta)
    return Split(shown, labels, groups, source_labels[picked])


def make_overlay_task(
    source: ImageSource, eta: float, eps: float, seed: int, noise: float = 0.0, validation_fraction: float = 0.0
) -> Task:
    """The overlay task of Hall et al. (2022) RQ6, eq. (5): I = η·I_group + (1 − η)·I_class.

    A seeded random choice of four source classes: the first two form the binary task (negative t = 0,
    positive t = 1), the other two the groups (b: a = 0, a: a = 1). Each example is a class image blended with
    an image of its group's class; it carries the class image's label. Positives are in group a with rate
    ½ + ε, negatives in group b with rate ½ + ε (exact counts). η = 0 shows only the class image, η = 1 only
    the group image. The images drawn do not depend on η, so runs that differ only in η see the same pairs.
    Normalisation statistics are those of the whole source training set, equal for every η and seed.

    Course knobs (off by default, each from its own random stream): ``validation_fraction`` holds out a
    stratified share of the source training images, from which a validation split is built as the others;
    ``noise`` adds fixed Gaussian pixel noise of that standard deviation to every blended image (``add_noise``).
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
    kept, held = hold_out(source.train_labels, validation_fraction, seed)
    knob = torch.Generator().manual_seed(seed + NOISE_STREAM)

    def split(images, labels):
        part = _overlay_split(images, labels, classes, group_classes, eta, eps, generator)
        if noise == 0:
            return part
        return Split(add_noise(part.images, noise, knob), part.labels, part.groups, part.source_labels)

    train = split(source.train_images[kept], source.train_labels[kept])
    test = split(source.test_images, source.test_labels)
    validation = split(source.train_images[held], source.train_labels[held]) if len(held) else None
    info = {"classes": classes, "group_classes": group_classes}
    return Task(f"{source.name}-overlay", train, test, mean, std, info, "binary_bias", validation)
