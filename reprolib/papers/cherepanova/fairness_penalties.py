"""Train-time fairness interventions for a binary classifier (Cherepanova 2023, thesis §6.4–6.6, §6.9.1), as
one training method of the core trainer, ``fair_binary``.

The model gives one logit per image; p = σ(logit) is the predicted probability of the positive class ("a
softmax output", §6.4). The loss L is the binary cross-entropy, weighted so that positives and negatives
weigh equally (§6.3.2: "weighted binary cross entropy loss"; positives weigh (#negatives / #positives) of the
run's training labels). With a the sensitive attribute (the run's group: 0 male, 1 female) and L^{a±} the mean
loss of each group in the batch, the interventions are (one per run, ``intervention``):

- ``none``: L, the baseline;
- ``equal_loss``: L + α·|L^{a+} − L^{a−}| (eq. 6.2);
- ``disparate_impact``: L + α·di, di = −min(r, 1/r) with r the ratio of the groups' mean p (eqs. 6.8–6.9);
- ``equalized_odds``: L + α·(fpr + fnr), eqs. 6.4–6.6 exactly as written: the groups' means of p·(1 − y) and of
  (1 − p)·y, each divided by the group's size (Padala & Gujar 2020);
- ``max_min``: max{L^{a+}, L^{a−}} (eq. 6.11);
- ``flip_labels``: L on labels of which, every step, each image of group ``flip_group`` has its 0/1 label flipped
  with probability ``flip_share`` (§6.6: "we randomly flip the true label for p … of samples from a particular
  sensitive group in each iteration").

With ``on_holdout`` (§6.4.2, Table 6.8), ``holdout_share`` of the training images never enter L; the penalty is
computed every step on a random batch of them instead of on the training batch. A group absent from a batch has
no mean: its penalty term is 0 and max-min takes the other group's loss. The generators of the flips and the
holdout batches are part of the trainer's checkpoint (``state_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ...objectives import Batch, Objective
from ...specs import MethodSpec, check, check_choice, check_range, register_method
from .margins import group_means

__all__ = [
    "BINARY_INTERVENTIONS",
    "PENALTIES",
    "equal_loss_gap",
    "disparate_impact",
    "equalized_odds",
    "group_means",
    "FairBinary",
    "FairBinaryObjective",
]

BINARY_INTERVENTIONS = ("none", "equal_loss", "disparate_impact", "equalized_odds", "max_min", "flip_labels")
PENALTIES = ("equal_loss", "disparate_impact", "equalized_odds")
GENERATOR_OFFSET = 4_000_037  # the flips' and holdout batches' generator: the run's seed plus this


def _present(means: torch.Tensor) -> torch.Tensor:
    """(K,) whether both groups have a mean (K, 2)."""
    return ~means.isnan().any(1)


def equal_loss_gap(per_image: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """|L^{a+} − L^{a−}| (eq. 6.2) of per-image losses (K, B), (K,); 0 when a group is absent."""
    means = group_means(per_image, groups)
    return torch.where(_present(means), (means[:, 0] - means[:, 1]).abs(), torch.zeros_like(means[:, 0]))


def disparate_impact(p: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """di = −min(r, 1/r), r = mean p of group 1 / mean p of group 0 (eq. 6.9), for probabilities (K, B); in
    [−1, 0], −1 at parity; 0 when a group is absent."""
    means = group_means(p, groups)
    ratio = means[:, 1] / means[:, 0]
    di = -torch.minimum(ratio, 1 / ratio)
    return torch.where(_present(means), di, torch.zeros_like(di))


def equalized_odds(p: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """fpr + fnr (eqs. 6.4–6.6): fpr = |Σ p(1−y)a/Σa − Σ p(1−y)(1−a)/Σ(1−a)|, fnr the same of (1 − p)·y, for
    probabilities and 0/1 labels (K, B); 0 when a group is absent."""
    y = labels.to(p.dtype)
    false_pos, false_neg = group_means(p * (1 - y), groups), group_means((1 - p) * y, groups)
    total = (false_pos[:, 1] - false_pos[:, 0]).abs() + (false_neg[:, 1] - false_neg[:, 0]).abs()
    return torch.where(_present(false_pos), total, torch.zeros_like(total))


class FairBinaryObjective(Objective):
    """The objective of a group of runs of ``FairBinary`` (module docstring)."""

    def __init__(self, specs, tasks):
        self.spec = specs[0]
        self.tasks = tasks
        self.alpha = torch.tensor([s.alpha for s in specs])
        self.flip = torch.tensor([s.flip_share for s in specs])

    def build(self, model, setup):
        device = setup.device
        self.alpha, self.flip = self.alpha.to(device), self.flip.to(device)
        self.generators = [torch.Generator().manual_seed(int(s) + GENERATOR_OFFSET) for s in setup.seeds]
        labels = torch.stack([t.train.labels for t in self.tasks]).float()
        positives = labels.sum(1).clamp(min=1)
        self.pos_weight = ((labels.shape[1] - positives) / positives).to(device)  # (K,)
        if self.spec.on_holdout:
            n = labels.shape[1]
            size = max(2, round(self.spec.holdout_share * n))
            self.holdout = [torch.randperm(n, generator=g)[:size] for g in self.generators]
            weights = torch.ones(len(self.tasks), n)
            for k, chosen in enumerate(self.holdout):
                weights[k, chosen] = 0
            self.sampling_weights = weights
            self.mean = torch.tensor([t.mean for t in self.tasks], device=device)[:, None, :, None, None]
            self.std = torch.tensor([t.std for t in self.tasks], device=device)[:, None, :, None, None]
        return None

    def state_dict(self) -> dict:
        """The flip and holdout-batch generators' states (the trainer's checkpoint carries them)."""
        return {"generators": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)

    def _bce(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-image class-weighted binary cross-entropy (K, B)."""
        y = labels.float()
        weight = (
            torch.where(labels == 1, self.pos_weight[:, None], torch.ones_like(y)) if self.spec.class_weighted else 1
        )
        return weight * F.binary_cross_entropy_with_logits(logits, y, reduction="none")

    def _penalty(self, logits, labels, groups) -> torch.Tensor:
        kind = self.spec.intervention
        if kind == "equal_loss":
            return equal_loss_gap(self._bce(logits, labels), groups)
        p = torch.sigmoid(logits)
        if kind == "disparate_impact":
            return disparate_impact(p, groups)
        return equalized_odds(p, labels, groups)

    def _flipped(self, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        draws = torch.stack([torch.rand(labels.shape[1], generator=g) for g in self.generators]).to(labels.device)
        flip = (groups == self.spec.flip_group) & (draws < self.flip[:, None])
        return torch.where(flip, 1 - labels, labels)

    def _holdout_batch(self, batch_size: int, device):
        """A random batch of each run's held-out images, standardised: (x, labels, groups)."""
        index = torch.stack(
            [
                chosen[torch.randint(len(chosen), (batch_size,), generator=g)]
                for chosen, g in zip(self.holdout, self.generators, strict=True)
            ]
        )
        splits = [t.train for t in self.tasks]
        x = torch.stack([s.images[i] for s, i in zip(splits, index, strict=True)]).to(device).float().div(255)
        labels = torch.stack([s.labels[i] for s, i in zip(splits, index, strict=True)]).to(device)
        groups = torch.stack([s.groups[i] for s, i in zip(splits, index, strict=True)]).to(device)
        return (x - self.mean) / self.std, labels, groups

    def loss(self, model, extra, batch: Batch) -> torch.Tensor:
        kind, labels = self.spec.intervention, batch.labels
        if kind == "flip_labels":
            labels = self._flipped(labels, batch.groups)
        logits = model(batch.x)[..., 0].float()
        per_image = self._bce(logits, labels)
        if kind == "max_min":
            means = group_means(per_image, batch.groups)
            return torch.where(means.isnan(), torch.full_like(means, -torch.inf), means).max(1).values
        loss = per_image.mean(1)
        if kind not in PENALTIES:
            return loss
        if self.spec.on_holdout:
            x, held_labels, held_groups = self._holdout_batch(batch.x.shape[1], batch.x.device)
            return loss + self.alpha * self._penalty(model(x)[..., 0].float(), held_labels, held_groups)
        return loss + self.alpha * self._penalty(logits, labels, batch.groups)

    def predict(self, model, extra, x, groups):
        return torch.sigmoid(model(x).float()[..., 0])


@register_method("fair_binary")
@dataclass(frozen=True)
class FairBinary(MethodSpec):
    """A binary classifier trained with one of the thesis's fairness interventions (module docstring): its
    strength ``alpha`` (penalties) or ``flip_share`` (label flipping, of group ``flip_group``), the penalty on the
    training batch or on a holdout (``on_holdout``, ``holdout_share``), and class-weighted cross-entropy."""

    per_run: ClassVar[frozenset[str]] = frozenset({"alpha", "flip_share"})

    intervention: str = "none"
    alpha: float = 0.0
    flip_share: float = 0.0
    flip_group: int = 0  # the group whose labels flip: 0, males (§6.6)
    on_holdout: bool = False
    holdout_share: float = 0.1
    class_weighted: bool = True

    def validate(self):
        check_choice("intervention", self.intervention, BINARY_INTERVENTIONS)
        check_range("alpha", self.alpha, 0, None)
        check_range("flip_share", self.flip_share, 0, 1)
        check_choice("flip_group", self.flip_group, (0, 1))
        check(isinstance(self.on_holdout, bool), f"on_holdout must be true or false, got {self.on_holdout!r}")
        check(
            not self.on_holdout or self.intervention in ("none", *PENALTIES),
            f"on_holdout needs a penalty ({', '.join(PENALTIES)}) or none, got {self.intervention!r}",
        )
        check_range("holdout_share", self.holdout_share, 0, 1, open_low=True, open_high=True)
        check(
            isinstance(self.class_weighted, bool), f"class_weighted must be true or false, got {self.class_weighted!r}"
        )

    @classmethod
    def objective(cls, specs, tasks):
        return FairBinaryObjective(specs, tasks)
