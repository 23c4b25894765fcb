"""Objectives: what the one trainer optimises, and what it reports at test time.

An objective is made by a method spec (``specs.MethodSpec.objective``) for a group of K runs. It declares
``num_outputs`` (the model's outputs per image); ``build(model, setup)`` returns its extra trainable K-run modules
(a discriminator, a margin head, per-run state) or None, and may set ``sampling_weights`` (K, N) to resample each
run's epochs; ``loss(model, extra, batch)`` returns the per-run training loss (K,); ``predict(model, extra, x,
groups)`` returns the outputs of a batch of evaluation images — a (K, B[, …]) tensor or a dict of them.

The core's own methods are ``binary_ce`` (one logit, binary cross-entropy: Hall et al.) and ``cross_entropy``
(multi-class). A paper registers its own (``@register_method``) from its package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .specs import MethodSpec, ModelSpec, check_range, register_method

__all__ = [
    "Objective",
    "Setup",
    "Batch",
    "State",
    "BinaryCrossEntropy",
    "CrossEntropy",
    "BinaryCE",
    "MultiClassCE",
    "cross_entropy",
    "mixed_loss",
    "GradientReversal",
    "grad_reverse",
]


@dataclass
class Setup:
    """What an objective's ``build`` sees of the group it trains."""

    model_spec: ModelSpec
    seeds: list[int]
    tasks: Sequence  # the K tasks (reprolib.tasks.Task), one per run
    in_shape: tuple[int, int, int]
    device: torch.device


@dataclass
class Batch:
    """What an objective's loss sees of one training step, every tensor with a leading run dimension K.

    ``targets`` is what the loss should fit: a list of (weights (K, B), labels (K, B)) pairs whose weights sum to
    1 per image — ``[(1, labels)]`` unless a batch transform of the recipe mixed images and their labels."""

    x: torch.Tensor  # (K, B, C, H, W) augmented, standardised images
    labels: torch.Tensor  # (K, B) int64 classes (of the unmixed images)
    groups: torch.Tensor  # (K, B) int64 groups (the bias attribute)
    index: torch.Tensor  # (K, B) positions of the images in the training split
    progress: float  # share of training done before this step, in [0, 1)
    targets: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def __post_init__(self):
        if not self.targets:
            self.targets = [(torch.ones_like(self.labels, dtype=torch.float32), self.labels)]


class Objective:
    """Base of objectives: one output, no extra modules, no resampling; ``loss`` and ``predict`` to define."""

    num_outputs = 1
    sampling_weights: torch.Tensor | None = None

    def build(self, model: nn.Module, setup: Setup) -> nn.Module | None:
        return None

    def loss(self, model, extra, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, model, extra, x: torch.Tensor, groups: torch.Tensor):
        raise NotImplementedError

    def state_dict(self) -> dict:
        """What the objective itself carries across steps besides its modules (random generators' states)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict``'s values (called after ``build`` when a run resumes from a checkpoint)."""


class State(nn.Module):
    """Per-run state of an objective: buffers (saved in checkpoints with the model), and an optional extra model
    whose parameters train."""

    def __init__(self, buffers: dict, net: nn.Module | None = None):
        super().__init__()
        self.net = net
        for name, value in buffers.items():
            self.register_buffer(name, value)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-image cross-entropy of (K, B, C) logits against (K, B) labels, (K, B)."""
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)


def mixed_loss(per_image_loss, logits: torch.Tensor, targets) -> torch.Tensor:
    """Σ_j w_j · loss(logits, y_j) per image, (K, B): the loss against mixed targets (``Batch.targets``)."""
    return sum(weights * per_image_loss(logits, labels) for weights, labels in targets)


def _binary(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")


class BinaryCrossEntropy(Objective):
    """One logit per image, binary cross-entropy against the 0/1 class (Hall et al. 2022); reports P(t = 1)."""

    def loss(self, model, extra, batch: Batch) -> torch.Tensor:
        logits = model(batch.x)[..., 0].float()
        return mixed_loss(_binary, logits, batch.targets).mean(1)

    def predict(self, model, extra, x, groups):
        return torch.sigmoid(model(x).float()[..., 0])


class CrossEntropy(Objective):
    """Multi-class cross-entropy; reports the class probabilities (K, B, C)."""

    def __init__(self, num_classes: int):
        self.num_outputs = num_classes

    def loss(self, model, extra, batch: Batch) -> torch.Tensor:
        return mixed_loss(cross_entropy, model(batch.x), batch.targets).mean(1)

    def predict(self, model, extra, x, groups):
        return model(x).float().softmax(-1)


@register_method("binary_ce")
@dataclass(frozen=True)
class BinaryCE(MethodSpec):
    """Binary cross-entropy on one logit (the default method)."""

    @classmethod
    def objective(cls, specs, tasks):
        return BinaryCrossEntropy()


@register_method("cross_entropy")
@dataclass(frozen=True)
class MultiClassCE(MethodSpec):
    """Multi-class cross-entropy over ``num_classes`` outputs (0: the task's ``info["num_classes"]``)."""

    num_classes: int = 0

    def validate(self):
        check_range("num_classes", self.num_classes, 0, None, integer=True)

    @classmethod
    def objective(cls, specs, tasks):
        return CrossEntropy(specs[0].num_classes or tasks[0].info["num_classes"])


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by −coefficient (Ganin & Lempitsky 2015, §3.2): the
    adversarial methods of Parts II and III train a feature extractor against a discriminator through it."""

    @staticmethod
    def forward(ctx, x, coefficient):
        ctx.save_for_backward(coefficient)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (coefficient,) = ctx.saved_tensors
        return -coefficient * grad, None


def grad_reverse(x: torch.Tensor, coefficient: torch.Tensor) -> torch.Tensor:
    """Gradient reversal of (K, B, …) per-run features with one coefficient per run (K,)."""
    return GradientReversal.apply(x, coefficient.to(x.dtype).view(-1, *[1] * (x.dim() - 1)))
