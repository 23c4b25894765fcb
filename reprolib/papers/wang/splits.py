"""Alternative data of Wang et al. (2019): the α-balanced training splits of §4.2 and the person-masking baselines
of §5.3.

``wang_alpha_balanced`` ("Alternative Data Splits"): a task whose training split is subsampled so that every
label satisfies eq. (2), 1/α ≤ #(m, y)/#(w, y) ≤ α; the dev and test splits stay the original ones ("All models
are developed and evaluated on the same dev and test sets from the original split", §4.1). It wraps any
multi-label task spec (the stand-in, COCO): ``removal`` chooses how images leave — ``"fewest_objects"``, the
paper's heuristic (images with fewer objects first), or ``"random"`` — see ``reprolib.multilabel.alpha_balance``.

``wang_person_masked`` (§5.3, "Blackout - Box" and "Blur"): every image of every split with its person box
(``info["person_boxes"]``: the stand-in knows its one box, ``wang_coco`` reads every person's from COCO's
instances) blacked out (grey level 0) or
blurred (a Gaussian blur, torchvision's ``gaussian_blur``, inside the box).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torchvision.transforms.functional import gaussian_blur

from ...multilabel import REMOVALS, alpha_balance
from ...specs import TASKS, TaskSpec, check_choice, check_range, register_task
from ...tasks import Split, Task, channel_stats
from .standin import CocoStandIn

__all__ = ["AlphaBalanced", "PersonMasked", "MASKS", "mask_people"]

MASKS = ("blackout", "blur")


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


def mask_people(images: torch.Tensor, boxes: torch.Tensor, mode: str, sigma: float = 2.0) -> torch.Tensor:
    """uint8 images (N, C, H, W) with each image's box (x0, y0, x1, y1) — boxes (N, 4), or (N, M, 4) for several
    people per image, empty boxes padding — set to 0 (``blackout``) or replaced by the same region of the image
    blurred with a Gaussian of standard deviation ``sigma`` pixels (``blur``)."""
    check_choice("mode", mode, MASKS)
    out = images.clone()
    blurred = gaussian_blur(images.float(), [2 * round(3 * sigma) + 1] * 2, [sigma] * 2) if mode == "blur" else None
    for i, own in enumerate(boxes.view(len(images), -1, 4).tolist()):
        for x0, y0, x1, y1 in own:
            out[i, :, y0:y1, x0:x1] = 0 if blurred is None else blurred[i, :, y0:y1, x0:x1].round().to(images.dtype)
    return out


@register_task("wang_person_masked")
@dataclass(frozen=True)
class PersonMasked(TaskSpec):
    """``base`` (a task with ``info["person_boxes"]``) with its people masked by ``mode`` in every split."""

    base: TaskSpec = field(default_factory=CocoStandIn, metadata={"spec": TASKS})
    mode: str = "blackout"
    sigma: float = 2.0  # the blur's standard deviation in pixels

    def validate(self):
        check_choice("mode", self.mode, MASKS)
        check_range("sigma", self.sigma, 0, 100, open_low=True)

    def build(self, data_root=None) -> Task:
        task = self.base.build(data_root)
        boxes = task.info.get("person_boxes")
        if boxes is None:
            raise ValueError(f"task {task.name} records no person boxes (info['person_boxes']) to mask")
        masked = {}
        for name in ("train", "validation", "test"):
            part = task.split(name)
            images = mask_people(part.images, boxes[name], self.mode, self.sigma)
            masked[name] = Split(images, part.labels, part.groups, part.source_labels)
        mean, std = channel_stats(masked["train"].images)
        return replace(
            task,
            name=f"{task.name}-{self.mode}",
            train=masked["train"],
            validation=masked["validation"],
            test=masked["test"],
            mean=mean,
            std=std,
        )
