"""Tasks with a skewed bias attribute (Kurmi et al. 2022, Part III): a class to predict and a bias attribute that
agrees with it on most training images.

Every class c has one *aligned* value of the bias attribute, ``info["aligned_group"][c]``; an image is
bias-aligned when its group (the bias attribute) equals its class's aligned value, bias-conflicting otherwise.
In the training split exactly round(skew · n_c) images of class c are aligned; the test split is unbiased.
``info`` also carries ``num_classes`` and ``num_groups``; the tasks' evaluator is ``skew`` (``skew_metrics``).

- ``make_colour_skew_task``: Colored MNIST of Nam et al. (2020) — every digit painted in one of ten colours,
  the aligned colour of class c being colour c, with a random perturbation of the colour per image.
- ``make_grey_colour_task``: CIFAR-10S of Wang et al. (2020) — per class, images shown in colour or in
  greyscale; half of the classes mostly colour, half mostly grey. The test set holds every test image twice,
  once in colour and once in grey, so exactly half of it is aligned.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import metrics as M
from ...evaluation import register_evaluator
from ...sources import SOURCES, ImageSource, load_source
from ...specs import TaskSpec, check_choice, check_range, register_task
from ...tasks import (
    VALIDATION_FRACTION,
    Split,
    Task,
    add_noise,
    channel_stats,
    split_balanced,
    validation_source,
)

__all__ = [
    "COLOURS",
    "SkewTaskSpec",
    "ColourSkewTask",
    "GreyColourTask",
    "make_colour_skew_task",
    "make_grey_colour_task",
    "aligned_mask",
    "skew_info",
    "skew_metrics",
    "cell_accuracies",
    "validation_source",
    "VALIDATION_FRACTION",
]

# Ten well-separated RGB colours (matplotlib's tab10), on the [0, 1] scale: colour c is the aligned colour of
# digit c.
COLOURS = torch.tensor(
    [
        [0.122, 0.467, 0.706],
        [1.000, 0.498, 0.055],
        [0.173, 0.627, 0.173],
        [0.839, 0.153, 0.157],
        [0.580, 0.404, 0.741],
        [0.549, 0.337, 0.294],
        [0.890, 0.467, 0.761],
        [0.498, 0.498, 0.498],
        [0.737, 0.741, 0.133],
        [0.090, 0.745, 0.812],
    ]
)

LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601, the greyscale of PIL and torchvision


def aligned_mask(task: Task, split: str = "test") -> torch.Tensor:
    """Boolean (N,): whether each image of ``split`` is bias-aligned (its group is its class's aligned group)."""
    part = task.split(split)
    aligned_group = torch.as_tensor(task.info["aligned_group"])
    return part.groups == aligned_group[part.labels]


def skew_info(num_classes: int, num_groups: int, aligned_group, skew: float, **extra) -> dict:
    return {
        "num_classes": num_classes,
        "num_groups": num_groups,
        "aligned_group": [int(g) for g in aligned_group],
        "skew": skew,
        **extra,
    }


def _check_skew(skew: float) -> None:
    if not 0 < skew < 1:
        raise ValueError(f"skew must lie in (0, 1), got {skew}")


def _skewed_groups(labels, aligned_group, num_groups, skew, generator) -> torch.Tensor:
    """Per class c: exactly round(skew · n_c) images get the aligned group, the others a group drawn uniformly
    from the remaining num_groups − 1."""
    groups = torch.empty(len(labels), dtype=torch.int64)
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        aligned = split_balanced(len(members), skew, generator)
        other = torch.randint(0, num_groups - 1, (len(members),), generator=generator)
        other = other + (other >= aligned_group[c]).long()  # skip the aligned group
        groups[members] = torch.where(aligned, aligned_group[c], other)
    return groups


def _balanced_groups(labels, num_groups, generator) -> torch.Tensor:
    """Per class: groups in a random order cycling through all num_groups values, so every class sees every
    group equally often (±1) — the unbiased test set."""
    groups = torch.empty(len(labels), dtype=torch.int64)
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        cycle = torch.arange(len(members)) % num_groups
        groups[members] = cycle[torch.randperm(len(members), generator=generator)]
    return groups


def _to_grey(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) → one-channel intensities on [0, 1] (luma for colour images)."""
    x = images.float().div(255)
    return x if x.shape[1] == 1 else (x * LUMA[None, :, None, None]).sum(1, keepdim=True)


def _paint(intensity: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Intensities (N, 1, H, W) on [0, 1] times per-image colours (N, 3) → uint8 (N, 3, H, W)."""
    return (intensity * colours[:, :, None, None]).mul(255).round().clamp(0, 255).to(torch.uint8)


def _colour_split(images, labels, groups, perturbation, generator) -> Split:
    colours = (COLOURS[groups] + perturbation * torch.randn(len(groups), 3, generator=generator)).clamp(0, 1)
    return Split(_paint(_to_grey(images), colours), labels, groups, labels)


def make_colour_skew_task(source: ImageSource, skew: float, seed: int, perturbation: float = 0.05) -> Task:
    """Colored MNIST (Nam et al. 2020; Kurmi et al. 2022, Table 4): the digit is painted in a colour, the bias
    attribute. Digit c is shown in colour c with rate ``skew`` (exact per class) and in one of the other nine
    colours otherwise; the test split is unbiased (each digit in every colour equally often). Each image's colour
    is perturbed by Gaussian noise of standard deviation ``perturbation`` per channel (on [0, 1])."""
    _check_skew(skew)
    if not 0 <= perturbation <= 0.5:
        raise ValueError(f"perturbation must lie in [0, 0.5], got {perturbation}")
    if source.num_classes != 10:
        raise ValueError(f"Colored MNIST needs a 10-class source, got {source.name} with {source.num_classes}")
    generator = torch.Generator().manual_seed(seed)
    aligned_group = torch.arange(10)
    train_groups = _skewed_groups(source.train_labels, aligned_group, 10, skew, generator)
    test_groups = _balanced_groups(source.test_labels, 10, generator)
    train = _colour_split(source.train_images, source.train_labels, train_groups, perturbation, generator)
    test = _colour_split(source.test_images, source.test_labels, test_groups, perturbation, generator)
    mean, std = channel_stats(train.images)
    info = skew_info(10, 10, aligned_group, skew, perturbation=perturbation)
    return Task(f"{source.name}-colour-skew", train, test, mean, std, info, evaluator="skew")


def _grey_colour_images(images, colour, generator) -> torch.Tensor:
    """Each image in greyscale (``colour`` False: luma replicated over three channels) or in colour (``colour``
    True: the image itself, or for a one-channel source the intensities painted in a random saturated hue)."""
    intensity = _to_grey(images)
    grey = _paint(intensity, torch.ones(len(images), 3))
    if images.shape[1] == 3:
        coloured = images
    else:
        hues = torch.rand(len(images), generator=generator)
        coloured = _paint(intensity, _hue_to_rgb(hues))
    return torch.where(colour[:, None, None, None], coloured, grey)


def _hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """Fully saturated, full-value colours of the given hues in [0, 1) (HSV → RGB)."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue[:, None] * 6) % 6
    return 1 - torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def make_grey_colour_task(source: ImageSource, skew: float, seed: int, binary: bool = False) -> Task:
    """CIFAR-10S (Wang et al. 2020; Kurmi et al. 2022, Table 1): group 1 = shown in colour, 0 = in greyscale.

    A seeded random half of the classes is mostly colour, the other half mostly grey: exactly round(skew · n_c)
    training images of class c are in its majority domain. The test split shows every test image in both domains.
    With ``binary``, the class to predict is whether the source class lies in a seeded random half of the
    classes (a two-class target with a two-valued bias attribute, the shape of CelebA's attribute tasks).
    """
    _check_skew(skew)
    generator = torch.Generator().manual_seed(seed)
    num_source = source.num_classes
    if binary:
        positive = torch.zeros(num_source, dtype=torch.long)
        positive[torch.randperm(num_source, generator=generator)[: num_source // 2]] = 1
        train_labels, test_labels = positive[source.train_labels], positive[source.test_labels]
        num_classes = 2
    else:
        train_labels, test_labels, num_classes = source.train_labels, source.test_labels, num_source
    aligned_group = torch.zeros(num_classes, dtype=torch.long)
    aligned_group[torch.randperm(num_classes, generator=generator)[: num_classes // 2]] = 1
    train_groups = _skewed_groups(train_labels, aligned_group, 2, skew, generator)
    train_images = _grey_colour_images(source.train_images, train_groups.bool(), generator)
    n_test = len(test_labels)
    test_groups = torch.cat([torch.ones(n_test, dtype=torch.long), torch.zeros(n_test, dtype=torch.long)])
    test_images = _grey_colour_images(source.test_images.repeat(2, 1, 1, 1), test_groups.bool(), generator)
    train = Split(train_images, train_labels, train_groups, source.train_labels)
    test = Split(test_images, test_labels.repeat(2), test_groups, source.test_labels.repeat(2))
    mean, std = channel_stats(train.images)
    info = skew_info(num_classes, 2, aligned_group, skew, binary=binary)
    name = f"{source.name}-grey-colour{'-binary' if binary else ''}"
    return Task(name, train, test, mean, std, info, evaluator="skew")


SPLITS = ("test", "validation")


NOISE_STREAM = 1_299_709  # offset of the noise knob's generator from the task's seed: a stream of its own


def noisy_source(source: ImageSource, sigma: float, seed: int) -> ImageSource:
    """The source with fixed Gaussian pixel noise of standard deviation ``sigma`` (0–255 scale, ``add_noise``)
    added to every training and test image, drawn from its own seeded stream: the `course` difficulty knob of
    ``papers.kurmi.course`` (rule 2), applied before the bias attribute is painted on."""
    generator = torch.Generator().manual_seed(seed + NOISE_STREAM)
    return dataclasses.replace(
        source,
        name=f"{source.name}-noise{sigma:g}",
        train_images=add_noise(source.train_images, sigma, generator),
        test_images=add_noise(source.test_images, sigma, generator),
    )


def skew_source(dataset: str, split: str, seed: int, data_root, noise: float = 0.0) -> ImageSource:
    """The image source of a skew task; with ``split="validation"`` its test split is held out of its training
    split (``validation_source``), for choosing hyperparameters; with ``noise`` > 0, ``noisy_source``."""
    source = load_source(dataset, root=data_root)
    source = validation_source(source, seed) if split == "validation" else source
    return noisy_source(source, noise, seed) if noise > 0 else source


@dataclass(frozen=True)
class SkewTaskSpec(TaskSpec):
    """What the skew tasks share: the image source ``dataset``, the ``skew``, the seed, the split evaluated on
    (``test``, or ``validation``: a held-out part of the training split, for choosing hyperparameters), and the
    `course` difficulty knob ``noise`` (``noisy_source``; 0, off, by default)."""

    per_run: ClassVar[frozenset[str]] = frozenset({"seed", "skew", "noise"})
    version: ClassVar[int] = 2  # 2: accuracies averaged over (class, bias value) cells (``cell_accuracies``)

    dataset: str = "digits"
    skew: float = 0.95
    seed: int = 0
    split: str = "test"
    noise: float = 0.0

    def validate(self):
        check_choice("dataset", self.dataset, SOURCES.names())
        check_range("skew", self.skew, 0, 1, open_low=True, open_high=True)
        check_range("seed", self.seed, 0, None, integer=True)
        check_choice("split", self.split, SPLITS)
        check_range("noise", self.noise, 0, 255)

    def to_dict(self) -> dict:
        """As ``Spec.to_dict``, without ``noise`` while it is off: the task is then the one built before the knob
        existed, and its runs keep their store keys."""
        values = super().to_dict()
        if values["noise"] == 0:
            del values["noise"]
        return values

    def source(self, data_root) -> ImageSource:
        return skew_source(self.dataset, self.split, self.seed, data_root, self.noise)


@register_task("colour_skew")
@dataclass(frozen=True)
class ColourSkewTask(SkewTaskSpec):
    """Colored MNIST (``make_colour_skew_task``) on ``dataset``."""

    perturbation: float = 0.05

    def validate(self):
        super().validate()
        check_range("perturbation", self.perturbation, 0, 0.5)

    def build(self, data_root):
        return make_colour_skew_task(self.source(data_root), self.skew, self.seed, self.perturbation)


@register_task("grey_colour")
@dataclass(frozen=True)
class GreyColourTask(SkewTaskSpec):
    """CIFAR-10S (``make_grey_colour_task``) on ``dataset``."""

    binary: bool = False

    def build(self, data_root):
        return make_grey_colour_task(self.source(data_root), self.skew, self.seed, self.binary)


def cell_accuracies(labels, preds, groups, aligned_group) -> dict[str, float]:
    """Accuracy averaged over (class, bias value) cells, as Nam et al. (2020) evaluate and Kurmi et al. (2022)
    report "on the unbiased test set": each cell present in the split gets the accuracy of its images;
    ``aligned`` is the mean over the cells whose bias value is the class's aligned value
    (``aligned_group[class]``), ``conflicting`` the mean over the other cells, ``mean`` = (aligned +
    conflicting) / 2 (Tables 1–3), ``gap`` = aligned − conflicting (signed; the tables print |gap|) and
    ``accuracy`` the mean over every cell (Table 4's unbiased accuracy; LfF's ``attrwise_acc.mean()``).

    On a test split with equally many images per cell (CIFAR-10S, Colored MNIST) these equal the accuracies
    pooled over images; on a naturally biased one (CelebA's partitions) the cells are weighted equally, as on an
    unbiased test set. NaN for a part with no images."""
    labels, preds, groups = (torch.as_tensor(t).long().flatten() for t in (labels, preds, groups))
    if not len(labels) == len(preds) == len(groups):
        raise ValueError(
            f"labels, preds and groups must have equal lengths, got {len(labels)}, {len(preds)}, {len(groups)}"
        )
    aligned_group = torch.as_tensor(aligned_group).long()
    num_groups = int(max(int(groups.max()) + 1, int(aligned_group.max()) + 1)) if len(groups) else 1
    cell = labels * num_groups + groups
    size = len(aligned_group) * num_groups
    count = torch.bincount(cell, minlength=size).double()
    correct = torch.bincount(cell, weights=(labels == preds).double(), minlength=size)
    present = count > 0
    accuracy = correct / count.clamp(min=1)
    cell_aligned = (torch.arange(size) % num_groups) == aligned_group.repeat_interleave(num_groups)

    def average(mask) -> float:
        mask = mask & present
        return float(accuracy[mask].mean()) if mask.any() else float("nan")

    on_aligned, on_conflicting = average(cell_aligned), average(~cell_aligned)
    return {
        "accuracy": average(torch.ones(size, dtype=torch.bool)),
        "aligned": on_aligned,
        "conflicting": on_conflicting,
        "mean": (on_aligned + on_conflicting) / 2,
        "gap": on_aligned - on_conflicting,
    }


@register_evaluator("skew")
def skew_metrics(task: Task, split: str, outputs: dict) -> dict:
    """Kurmi et al. (2022): for each test protocol the method reports, the cell-averaged accuracies of
    ``cell_accuracies`` (unbiased accuracy; on bias-aligned and bias-conflicting cells, their mean and gap), the
    accuracy pooled over the split's images (``pooled``), and the mean of aligned and conflicting per class
    (``class_mean``, the blocks of the Friedman test of Fig. 5); the discriminator's accuracy on the bias
    attribute, on aligned and conflicting images, when the method has a discriminator."""
    part = task.split(split)
    aligned = aligned_mask(task, split)
    aligned_group = task.info["aligned_group"]
    metrics = {"protocols": {}}
    for key, preds in outputs.items():
        if key.startswith("pred_"):
            per_class = [
                cell_accuracies(part.labels[c], preds[c], part.groups[c], aligned_group)["mean"]
                for c in (part.labels == k for k in range(task.info["num_classes"]))
            ]
            metrics["protocols"][key.removeprefix("pred_")] = {
                **cell_accuracies(part.labels, preds, part.groups, aligned_group),
                "pooled": M.accuracy(part.labels, preds),
                "class_mean": per_class,
            }
    if "bias_pred" in outputs:
        correct = (outputs["bias_pred"] == part.groups).float()
        metrics["discriminator"] = {
            "accuracy": float(correct.mean()),
            "aligned": float(correct[aligned].mean()),
            "conflicting": float(correct[~aligned].mean()),
        }
    return metrics
