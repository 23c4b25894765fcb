"""Alternative training splits of Wang et al. (2019), §4.2 "Alternative Data Splits": a task whose training split
is subsampled so that every label satisfies eq. (2), 1/α ≤ #(m, y)/#(w, y) ≤ α; the dev and test splits stay
the original ones ("All models are developed and evaluated on the same dev and test sets from the original
split", §4.1).

``wang_alpha_balanced`` wraps any multi-label task spec (the stand-in, COCO): ``removal`` chooses how images
leave — ``"fewest_objects"``, the paper's heuristic (images with fewer objects first), or ``"random"`` — see
``reprolib.multilabel.alpha_balance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ...multilabel import REMOVALS, alpha_balance
from ...specs import TASKS, TaskSpec, check_choice, check_range, register_task
from ...tasks import Task, channel_stats
from .standin import CocoStandIn

__all__ = ["AlphaBalanced"]


@register_task("wang_alpha_balanced")
@dataclass(frozen=True)
class AlphaBalanced(TaskSpec):
    """``base`` with its training split α-balanced (eq. 2) by ``alpha_balance(…, alpha, seed, removal)``;
    ``info["achieved_alpha"]`` is the largest ratio left, ``info["kept"]`` the training images kept."""

    base: TaskSpec = field(default_factory=CocoStandIn, metadata={"spec": TASKS})
    alpha: float = 1.0
    removal: str = "fewest_objects"
    seed: int = 0  # the random order among equal candidates (or of all images, removal="random")

    def validate(self):
        check_range("alpha", self.alpha, 1, None)
        check_choice("removal", self.removal, REMOVALS)
        check_range("seed", self.seed, 0, None, integer=True)

    def build(self, data_root=None) -> Task:
        task = self.base.build(data_root)
        labels, groups = task.train.labels.numpy(), task.train.groups.numpy()
        subset = alpha_balance(labels, groups, self.alpha, self.seed, self.removal)
        kept = torch.as_tensor(subset.indices)
        train = task.train.subset(kept)
        info = {**task.info, "achieved_alpha": subset.achieved_alpha, "kept": kept}
        for name in ("person_boxes", "hidden_object"):
            if name in info:
                info[name] = {**info[name], "train": info[name]["train"][kept]}
        mean, std = channel_stats(train.images)
        return replace(task, name=f"{task.name}-alpha{self.alpha:g}", train=train, mean=mean, std=std, info=info)
