"""Tasks: what the trainer sees of a dataset — per split, images, labels, groups — and helpers to build them.

A ``Task`` holds, per split, the uint8 images exactly as the model sees them (group transformations such as
inversion already applied), the label to predict, the group (the protected or bias attribute) and the source
class. Task builders are typed specs (``specs.TaskSpec``) registered by each paper's package
(``@register_task``); their ``build`` returns a ``Task``. ``evaluator`` names the registered function that turns
a run's outputs on a split into its metrics (``evaluation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .multilabel import alpha_balance, perturb_labels
from .sources import ImageSource

__all__ = [
    "Split",
    "Task",
    "split_balanced",
    "channel_stats",
    "stratified_subsample",
    "validation_source",
    "VALIDATION_FRACTION",
    "draw_with_repeats",
    "add_noise",
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
    """A built task: its splits (``validation`` optional), per-channel normalisation, the evaluator of its runs'
    outputs, and builder-specific ``info`` (class counts, the aligned group of each class, …)."""

    name: str
    train: Split
    test: Split
    mean: tuple[float, ...]  # per-channel normalisation, on the [0, 1] scale
    std: tuple[float, ...]
    info: dict = field(default_factory=dict)
    evaluator: str = "classification"  # a key of evaluation.EVALUATORS
    validation: Split | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])

    def split(self, name: str) -> Split:
        """The split called ``name``: train, validation (if the builder made one) or test."""
        part = {"train": self.train, "test": self.test, "validation": self.validation}.get(name)
        if part is None:
            accepted = "train, validation, test" if self.validation is not None else "train, test"
            raise ValueError(f"task {self.name} has no split {name!r}; accepted: {accepted}")
        return part


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


VALIDATION_FRACTION = 0.2


def validation_source(source: ImageSource, seed: int, fraction: float = VALIDATION_FRACTION) -> ImageSource:
    """The source with its test split replaced by a held-out, stratified ``fraction`` of its training split
    (seeded): hyperparameters are chosen on tasks built from it, never on the test set."""
    held_out = stratified_subsample(source.train_labels, fraction, torch.Generator().manual_seed(seed))
    keep = torch.ones(len(source.train_labels), dtype=torch.bool)
    keep[held_out] = False
    return ImageSource(
        f"{source.name}-validation",
        source.train_images[keep],
        source.train_labels[keep],
        source.train_images[held_out],
        source.train_labels[held_out],
        source.num_classes,
    )


def draw_with_repeats(pool: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices into ``pool``: a random permutation of it, repeated when ``n`` exceeds its size."""
    rounds = -(-n // len(pool))
    return torch.cat([pool[torch.randperm(len(pool), generator=generator)] for _ in range(rounds)])[:n]


def add_noise(images: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """A `course` class-difficulty knob (``course_scale``): fixed additive Gaussian pixel noise of standard
    deviation ``sigma`` (on the 0–255 scale), drawn once per image, rounded and clipped to uint8."""
    noisy = images.double() + sigma * torch.randn(images.shape, generator=generator, dtype=torch.float64)
    return noisy.round().clamp(0, 255).to(torch.uint8)
