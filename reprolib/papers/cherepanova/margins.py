"""Face recognition training: an embedding network with an angular-margin head (CosFace, ArcFace), and the
chapter-6 interventions, as one training method of the core trainer (thesis §2.2, §5.3, §6.3.1, §6.4, §6.9.2).

The model (any registered model; ``face_models`` adds the thesis's) maps an image to an embedding of
``embedding_dim`` numbers. The margin head holds one weight vector W_j per training identity; with
cos θ_j = ⟨W_j/‖W_j‖, f/‖f‖⟩ the logits are s·cos θ_j for every other identity and, for the image's own
identity y (thesis §2.2),

- CosFace (Wang et al. 2018): s·(cos θ_y − m);
- ArcFace (Deng et al. 2019): s·cos(θ_y + m), replaced by s·(cos θ_y − m·sin m) once θ_y + m passes π, where
  cos(θ + m) would rise again (the insightface implementation's fallback).

The margin m may differ per group (thesis §6.4.4, §6.9.2: "m = 0.75 for females and m = 0.35 for males").
The loss is cross-entropy or the focal loss of Lin et al. 2017, (1 − p_y)^γ · CE (thesis §6.3.1). At test time
the head is dropped: the outputs are the embedding (compared by cosine similarity, ``faces.identification_metrics``)
and the head's class prediction without margin (classification accuracy on the training identities).

Interventions (thesis §6.4–6.6), one per run, chosen by ``intervention``:

- ``none``: the baseline;
- ``equal_loss``: L + α·|L_M − L_F| with the group means of the batch (eq. 6.2, §6.9.2);
- ``equal_loss_holdout``: ``holdout_share`` of the training images never enter the recognition loss; the
  penalty α·|L_M − L_F| is computed on a batch of them every step (§6.4.2, §6.9.2: "10% of training images");
- ``max_min``: the larger of the two group means, max{L_M, L_F} (eq. 6.11);
- ``flip_labels``: every step, each image of group 0 has its label replaced, with probability ``flip_share``,
  by a random identity of group 0 (§6.6: male identities swapped only with other male identities).

``class_balanced`` draws every epoch's images with probability inversely proportional to their identity's image
count, so every identity contributes equally (§5.3, "class-balanced sampling"). ``face_recipe`` is the thesis's
training routine of these models (§3.8.1, §6.9.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...objectives import Batch, Objective
from ...specs import MethodSpec, check, check_choice, check_range, register_method
from ...training import Recipe

__all__ = [
    "HEADS",
    "LOSSES",
    "INTERVENTIONS",
    "margin_logits",
    "focal_loss",
    "MarginHead",
    "MarginSoftmax",
    "MarginObjective",
    "penalised",
    "face_recipe",
]

HEADS = ("cosface", "arcface")
LOSSES = ("cross_entropy", "focal")
INTERVENTIONS = ("none", "equal_loss", "equal_loss_holdout", "max_min", "flip_labels")
HEAD_SEED_OFFSET = 3_000_017  # the head's initialisation: the run's seed plus this


def margin_logits(cosine: torch.Tensor, labels: torch.Tensor, margin: torch.Tensor, scale: float, head: str):
    """Margin logits of cosines (..., C) for labels (...) with a margin per image (...), thesis §2.2: s·cos θ_j
    for j ≠ y; s·(cos θ_y − m) (CosFace) or s·cos(θ_y + m) (ArcFace, with the fallback above) for j = y."""
    check_choice("head", head, HEADS)
    target = cosine.gather(-1, labels[..., None])[..., 0]
    if head == "cosface":
        adjusted = target - margin
    else:
        theta = torch.arccos(target.clamp(-1 + 1e-7, 1 - 1e-7))
        adjusted = torch.where(theta + margin < math.pi, torch.cos(theta + margin), target - margin * torch.sin(margin))
    return scale * cosine.scatter(-1, labels[..., None], adjusted[..., None].to(cosine.dtype))


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-image focal loss (1 − p_y)^γ · (−log p_y) of logits (..., C) (Lin et al. 2017); γ = 0 is cross-entropy."""
    log_p = logits.float().log_softmax(-1).gather(-1, labels[..., None])[..., 0]
    return -((1 - log_p.exp()) ** gamma) * log_p


class MarginHead(nn.Module):
    """K runs' head weights W (K, D, C); ``forward`` gives the cosines (K, B, C) of embeddings (K, B, D)."""

    def __init__(self, seeds, dim: int, classes: int):
        super().__init__()
        weight = torch.empty(len(seeds), dim, classes)
        for k, seed in enumerate(seeds):
            weight[k].normal_(0, 1, generator=torch.Generator().manual_seed(int(seed) + HEAD_SEED_OFFSET))
        self.weight = nn.Parameter(weight)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.bmm(F.normalize(embedding.float(), dim=-1), F.normalize(self.weight, dim=1))


def penalised(per_image: torch.Tensor, groups: torch.Tensor, kind: str, alpha: torch.Tensor) -> torch.Tensor:
    """The per-run training loss (K,) of per-image losses (K, B) under a group intervention: the mean (``none``,
    ``flip_labels``, ``equal_loss_holdout``, whose penalty is added elsewhere), mean + α·|L_M − L_F|
    (``equal_loss``, eq. 6.2) or max{L_M, L_F} (``max_min``, eq. 6.11). A group absent from the batch has no mean:
    the penalty is 0 and the maximum is the other group's."""
    mean = per_image.mean(1)
    if kind not in ("equal_loss", "max_min"):
        return mean
    means = group_means(per_image, groups)
    present = ~means.isnan()
    if kind == "max_min":
        return torch.where(present, means, torch.full_like(means, -torch.inf)).max(1).values
    gap = torch.where(present.all(1), (means[:, 0] - means[:, 1]).abs(), torch.zeros_like(mean))
    return mean + alpha * gap


def group_means(per_image: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """(K, 2) mean of per-image values (K, B) over each group's images; NaN for a group absent from the batch."""
    one_hot = F.one_hot(groups, 2).to(per_image.dtype)  # (K, B, 2)
    counts = one_hot.sum(1)
    sums = torch.einsum("kb,kbg->kg", per_image, one_hot)
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.full_like(sums, float("nan")))


class MarginObjective(Objective):
    """The objective of a group of runs of ``MarginSoftmax`` (module docstring)."""

    def __init__(self, specs, tasks):
        first = specs[0]
        self.spec = first
        self.num_outputs = first.embedding_dim
        self.classes = tasks[0].info["num_classes"]
        self.margins = torch.tensor(
            [[s.margin, s.female_margin if s.female_margin is not None else s.margin] for s in specs]
        )
        self.alpha = torch.tensor([s.alpha for s in specs])
        self.flip = torch.tensor([s.flip_share for s in specs])
        self.tasks = tasks

    def build(self, model, setup):
        device = setup.device
        self.margins, self.alpha, self.flip = self.margins.to(device), self.alpha.to(device), self.flip.to(device)
        self.generators = [torch.Generator().manual_seed(int(s) + HEAD_SEED_OFFSET) for s in setup.seeds]
        k_runs = len(setup.seeds)
        weights = torch.ones(k_runs, len(self.tasks[0].train))
        if self.spec.class_balanced:
            for k, task in enumerate(self.tasks):
                counts = torch.bincount(task.train.labels)
                weights[k] = 1.0 / counts[task.train.labels].float()
        if self.spec.intervention == "equal_loss_holdout":
            self.holdout = []
            for k, task in enumerate(self.tasks):
                n = len(task.train)
                chosen = torch.randperm(n, generator=self.generators[k])[: max(2, round(self.spec.holdout_share * n))]
                weights[k, chosen] = 0
                self.holdout.append(chosen)
            self.mean = torch.tensor([t.mean for t in self.tasks], device=device)[:, None, :, None, None]
            self.std = torch.tensor([t.std for t in self.tasks], device=device)[:, None, :, None, None]
        needs_weights = self.spec.class_balanced or self.spec.intervention == "equal_loss_holdout"
        self.sampling_weights = weights if needs_weights else None
        if self.spec.intervention == "flip_labels":
            self.group0_labels = [torch.unique(t.train.labels[t.train.groups == 0]) for t in self.tasks]
        return MarginHead(setup.seeds, self.num_outputs, self.classes).to(device)

    def state_dict(self) -> dict:
        """The label-flip and holdout-batch generators' states: part of the trainer's checkpoint, so a resumed run
        flips and draws exactly what an uninterrupted one does."""
        return {"generators": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)

    def _per_image(self, model, head, x, labels, groups) -> torch.Tensor:
        cosine = head(model(x))
        margin = self.margins.gather(1, groups)  # (K, B)
        logits = margin_logits(cosine, labels, margin, self.spec.scale, self.spec.head)
        gamma = self.spec.focal_gamma if self.spec.loss == "focal" else 0.0
        return focal_loss(logits, labels, gamma)

    def _flipped(self, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        out = labels.clone()
        for k, generator in enumerate(self.generators):
            flip = (groups[k] == 0) & (torch.rand(len(labels[k]), generator=generator).to(labels.device) < self.flip[k])
            pool = self.group0_labels[k].to(labels.device)
            draws = torch.randint(len(pool), (int(flip.sum()),), generator=generator).to(labels.device)
            out[k, flip] = pool[draws]
        return out

    def _holdout_gap(self, model, head, batch_size: int, device) -> torch.Tensor:
        """|L_M − L_F| on a random batch of each run's held-out images (§6.4.2), (K,)."""
        picks = []
        for k, generator in enumerate(self.generators):
            chosen = self.holdout[k]
            picks.append(chosen[torch.randint(len(chosen), (batch_size,), generator=generator)])
        index = torch.stack(picks)
        splits = [t.train for t in self.tasks]
        x = torch.stack([s.images[i] for s, i in zip(splits, index, strict=True)]).to(device).float().div(255)
        labels = torch.stack([s.labels[i] for s, i in zip(splits, index, strict=True)]).to(device)
        groups = torch.stack([s.groups[i] for s, i in zip(splits, index, strict=True)]).to(device)
        per_image = self._per_image(model, head, (x - self.mean) / self.std, labels, groups)
        means = group_means(per_image, groups)
        return torch.nan_to_num((means[:, 0] - means[:, 1]).abs(), nan=0.0)

    def loss(self, model, head, batch: Batch) -> torch.Tensor:
        labels = batch.labels
        if self.spec.intervention == "flip_labels":
            labels = self._flipped(labels, batch.groups)
        per_image = self._per_image(model, head, batch.x, labels, batch.groups)
        loss = penalised(per_image, batch.groups, self.spec.intervention, self.alpha)
        if self.spec.intervention == "equal_loss_holdout":
            loss = loss + self.alpha * self._holdout_gap(model, head, batch.x.shape[1], batch.x.device)
        return loss

    def predict(self, model, head, x, groups) -> dict:
        embedding = model(x).float()
        return {"embedding": embedding, "class_pred": head(embedding).argmax(-1)}


@register_method("margin_softmax")
@dataclass(frozen=True)
class MarginSoftmax(MethodSpec):
    """Face recognition training with a CosFace or ArcFace head (module docstring). ``scale`` s, ``margin`` m
    (group 0's, and group 1's unless ``female_margin`` is set), the loss, class-balanced sampling, and one
    intervention of chapter 6 with its strength ``alpha`` (penalties), ``holdout_share`` or ``flip_share``."""

    per_run: ClassVar[frozenset[str]] = frozenset({"alpha", "flip_share", "female_margin", "margin"})

    head: str = "cosface"
    scale: float = 16.0
    margin: float = 0.35
    female_margin: float | None = None
    loss: str = "cross_entropy"
    focal_gamma: float = 2.0
    embedding_dim: int = 32
    class_balanced: bool = True
    intervention: str = "none"
    alpha: float = 0.0
    holdout_share: float = 0.1
    flip_share: float = 0.0

    def validate(self):
        check_choice("head", self.head, HEADS)
        check_range("scale", self.scale, 0, None, open_low=True)
        check_range("margin", self.margin, 0, math.pi / 2)
        if self.female_margin is not None:
            check_range("female_margin", self.female_margin, 0, math.pi / 2)
        check_choice("loss", self.loss, LOSSES)
        check_range("focal_gamma", self.focal_gamma, 0, None)
        check_range("embedding_dim", self.embedding_dim, 2, 4096, integer=True)
        check(
            isinstance(self.class_balanced, bool), f"class_balanced must be true or false, got {self.class_balanced!r}"
        )
        check_choice("intervention", self.intervention, INTERVENTIONS)
        check_range("alpha", self.alpha, 0, None)
        check_range("holdout_share", self.holdout_share, 0, 1, open_low=True, open_high=True)
        check_range("flip_share", self.flip_share, 0, 1)

    @classmethod
    def objective(cls, specs, tasks):
        return MarginObjective(specs, tasks)


def face_recipe(config) -> Recipe:
    """The face models' training routine (thesis §3.8.1, §6.9.2): SGD, momentum 0.9, weight decay 5·10⁻⁴, lr ÷ 10
    at epochs 35, 65 and 95 of 120, scaled to ``epochs``; ``batch_size`` and ``lr`` of the configuration."""
    return Recipe(
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        momentum=0.9,
        weight_decay=5e-4,
        lr_drops=(35 / 120, 65 / 120, 95 / 120),
    )
