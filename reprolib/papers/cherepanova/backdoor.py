"""The patch backdoor of Cherepanova (2023, thesis §4.4.1, Table 4.1), as a task and its evaluator.

Threat model (§4.2, §4.4.1). The attacker adds a 4 × 4 patch to training images of a randomly selected *target
class* — all of them, or 10% — which keep their correct label: the poisons are clean-label, the patch is the only
change (an ℓ0-bounded Δ, eq. 4.2). At test time the patch is added to images of another (*base*) class; the attack
succeeds on an image the model then assigns to the target class. The thesis is not consistent here: Table 4.1's
caption and §4.4.1's first description poison "images in the target class"; one later sentence says "all training
images in the base class are patched". This task follows the caption and the description (clean-label: the
target class's own images carry the patch, no label changes).

This book's choices, where the thesis is silent:
- the patch is a black-and-white checkerboard (top-left pixel white) in the bottom-right corner, every channel
  alike; its side is the field ``trigger`` times the image side, by default the thesis's 4/32 (4 pixels on
  CIFAR-10's 32 × 32 images, 2 on the digits at 16 × 16); chapter C-4-T1 chooses a larger one at ``course`` by
  a rule stated in advance (see there);
- images are upscaled to ``size`` by repeating pixels (nearest neighbour; the 8 × 8 digits at 16 × 16 by 2 × 2);
- the thesis patches one base class; here every test image of every class but the target is a triggered image,
  so success is the mean over base classes (one base class of the digits has only ≈ 54 test images).

The built task's test split holds the clean test images (group 0) followed by the same images with the patch
(group 1); training images carrying the patch are group 1. With ``split="validation"`` the test split is replaced
by a held-out, stratified 20% of the training images (``tasks.validation_source``, seeded by ``seed``), and the
rest is the training set: the same threat simulated on the defender's own data, for choosing a defence's
strength without the test set. The evaluator ``backdoor`` reports the clean accuracy
(``accuracy``, group 0) and the backdoor success (``success``: the share of triggered images of the other classes
classified as the target class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import metrics as M
from ...evaluation import register_evaluator
from ...sources import SOURCES, load_source
from ...specs import TaskSpec, check, check_choice, check_range, register_task
from ...tasks import Split, Task, channel_stats, split_balanced, validation_source

__all__ = ["PatchBackdoorTask", "patch_side", "add_patch", "upscale", "backdoor_metrics", "TRIGGER_FRACTION"]

TRIGGER_FRACTION = 4 / 32  # the thesis's 4 × 4 patch on 32 × 32 images (§4.4.1)


def patch_side(size: int, trigger: float = TRIGGER_FRACTION) -> int:
    """The patch's side on ``size`` × ``size`` images: ``trigger`` of the side, rounded, at least 1 (the thesis's
    4/32: 4 on 32, 2 on 16, 1 on 8)."""
    return max(1, round(size * trigger))


def add_patch(images: torch.Tensor, trigger: float = TRIGGER_FRACTION) -> torch.Tensor:
    """uint8 images (N, C, H, W) with the trigger: a checkerboard of 255 and 0 (255 at its top-left pixel) in the
    bottom-right ``patch_side(H, trigger)`` square of every channel; the rest unchanged."""
    side = patch_side(images.shape[-2], trigger)
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    checker = torch.where((rows + cols) % 2 == 0, 255, 0).to(torch.uint8)
    patched = images.clone()
    patched[..., -side:, -side:] = checker
    return patched


def upscale(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images (N, C, h, h) → (N, C, size, size), each pixel repeated size/h times along both axes."""
    factor = size // images.shape[-1]
    return images.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


def poison_train(images, labels, target_class: int, share: float, generator: torch.Generator, trigger: float):
    """The patch on exactly round(share · n_target) random training images of the target class (labels kept);
    returns (images, groups) with group 1 on the patched images."""
    members = torch.nonzero(labels == target_class).flatten()
    chosen = members[split_balanced(len(members), share, generator)]
    groups = torch.zeros(len(labels), dtype=torch.int64)
    groups[chosen] = 1
    images = images.clone()
    images[chosen] = add_patch(images[chosen], trigger)
    return images, groups


@register_task("patch_backdoor")
@dataclass(frozen=True)
class PatchBackdoorTask(TaskSpec):
    """The thesis's backdoor (§4.4.1) on ``dataset`` upscaled to ``size``: ``poisoned_share`` of the training images
    of ``target_class`` carry the patch; the test split is the clean test set, then all of it with the patch
    (``split="validation"``: held-out training images instead, module docstring)."""

    version: ClassVar[int] = 2  # 2: the trigger's side is a field
    per_run: ClassVar[frozenset[str]] = frozenset({"seed", "poisoned_share", "target_class"})

    dataset: str = "digits"
    size: int = 16
    poisoned_share: float = 1.0  # Table 4.1: 1.0 ("100%") or 0.1 ("10%") of the target class
    target_class: int = 0
    seed: int = 0
    trigger: float = TRIGGER_FRACTION  # the patch's side as a share of the image side
    split: str = "test"  # "validation": evaluate on held-out training images (module docstring)

    def validate(self):
        check_choice("dataset", self.dataset, SOURCES.names())
        check_choice("split", self.split, ("test", "validation"))
        check_range("trigger", self.trigger, 0, 1, open_low=True)
        check_range("size", self.size, 8, 256, integer=True)
        check_range("poisoned_share", self.poisoned_share, 0, 1, open_low=True)
        check_range("target_class", self.target_class, 0, None, integer=True)
        check_range("seed", self.seed, 0, None, integer=True)

    def build(self, data_root) -> Task:
        source = load_source(self.dataset, root=data_root)
        if self.split == "validation":
            source = validation_source(source, self.seed)
        side = source.image_shape[-1]
        check(
            self.size % side == 0 and source.image_shape[-2] == side,
            f"size must be a multiple of {self.dataset}'s square side {side}, got {self.size}",
        )
        check(
            self.target_class < source.num_classes,
            f"target_class must be below {self.dataset}'s {source.num_classes} classes, got {self.target_class}",
        )
        generator = torch.Generator().manual_seed(self.seed)
        train_images, groups = poison_train(
            upscale(source.train_images, self.size),
            source.train_labels,
            self.target_class,
            self.poisoned_share,
            generator,
            self.trigger,
        )
        clean = upscale(source.test_images, self.size)
        n_test = len(source.test_labels)
        test = Split(
            torch.cat([clean, add_patch(clean, self.trigger)]),
            source.test_labels.repeat(2),
            torch.cat([torch.zeros(n_test, dtype=torch.int64), torch.ones(n_test, dtype=torch.int64)]),
            source.test_labels.repeat(2),
        )
        train = Split(train_images, source.train_labels, groups, source.train_labels)
        mean, std = channel_stats(train.images)
        info = {
            "num_classes": source.num_classes,
            "target_class": self.target_class,
            "poisoned_share": self.poisoned_share,
            "poisoned": int(groups.sum()),
            "patch_side": patch_side(self.size, self.trigger),
        }
        return Task(f"{self.dataset}-patch-backdoor", train, test, mean, std, info, evaluator="backdoor")


@register_evaluator("backdoor")
def backdoor_metrics(task: Task, split: str, outputs: torch.Tensor) -> dict:
    """Clean accuracy (the images of group 0) and backdoor success (thesis §4.4.1, "poison success"): the share of
    triggered images (group 1) of every class but the target classified as the target class."""
    part = task.split(split)
    preds = outputs.argmax(-1)
    target = task.info["target_class"]
    clean = part.groups == 0
    triggered = (part.groups == 1) & (part.labels != target)
    return {
        "accuracy": M.accuracy(part.labels[clean], preds[clean]),
        "success": float((preds[triggered] == target).float().mean()),
    }
