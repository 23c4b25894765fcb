"""Targeted clean-label poisoning by gradient matching — Witches' Brew (Geiping et al., ICLR 2021) — as thesis §4.2
and §4.4.2 use it: crafted poisons (a stored artifact), the poisoned task that nests them, and its evaluator.

Threat model (§4.2, eqs. 4.1–4.2; §4.4.2). One target image x_t of the test set and an adversarial class y_adv ≠
its label. The attacker perturbs ``budget`` · N training images (the thesis: 1%) of the adversarial class within
‖Δ_i‖∞ ≤ ε (16/255), keeping their correct labels (clean-label), so that a model trained from scratch on the
poisoned set classifies x_t as y_adv. Witches' Brew approximates the bilevel problem by aligning the training
gradient of the poisons with the adversarial gradient of the target, on a model trained on clean data:

    min_Δ  1 − cos( ∇_θ L(F(x_t, θ), y_adv),  ∇_θ Σ_i L(F(x_i + Δ_i, θ), y_i) ),

optimised by signed Adam (the gradient's sign fed to Adam) with projection onto the ε-ball and the [0, 1] box,
from random starts, keeping the restart with the lowest final loss; the step size drops ÷ 10 after 3/8, 5/8 and
7/8 of the steps. Following Geiping et al.'s framework (``forest/options.py``): 250 steps, 8 restarts, signed
Adam; the poisons are augmented as the victim's recipe augments (differentiably) during crafting; the crafting
model is in evaluation mode (BatchNorm running statistics). The step size here is on the [0, 1] pixel scale:
0.025, Geiping et al.'s 0.1 on standardised pixels times CIFAR-10's ≈ 0.25 standard deviation.

Basic and adaptive attacks (§4.4.2). The crafting model is trained with ``recipe`` and ``method``: the basic
attack's is the undefended baseline's, the adaptive attack's is trained with the defence itself ("incorporating
the data augmentation into the training phase of the clean model used in the attack"). The thesis adapts to
DP-SGD "by a straight-through estimate" (Geiping et al. add the defence's clipping and noise to the poison
gradient while crafting); here the adaptive attack on DP-SGD is, like the others, crafted on a model trained with
the defence — a simplification stated on the page. The crafting model is trained by the core's ``train_runs``
inside the artifact's computation (never a second training loop).

The crafted poisons are stored through ``reprolib.artifacts`` keyed by the whole ``PoisonSpec`` (never crafted
twice); they are stored as uint8 images, rounded toward the clean image so that every pixel stays within ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ... import augment as A
from ... import metrics as M
from ...artifacts import ARTIFACTS, ArtifactSpec, load_artifact, register_artifact
from ...evaluation import register_evaluator
from ...models import ResNetCifar
from ...objectives import MultiClassCE
from ...sources import SOURCES, load_source
from ...specs import (
    METHODS,
    MODELS,
    MethodSpec,
    ModelSpec,
    SpecError,
    TaskSpec,
    check,
    check_choice,
    check_range,
    register_task,
)
from ...tasks import Split, Task, channel_stats, validation_source
from ...training import RECIPES, Recipe, train_runs
from .backdoor import upscale

__all__ = [
    "PoisonSpec",
    "PoisonedTask",
    "clean_task",
    "matching_loss",
    "craft",
    "poison_indices",
    "poison_metrics",
    "quantise",
    "adversarial_class",
]


def clean_task(dataset: str, size: int, data_root=None, split: str = "test", seed: int = 0) -> Task:
    """The unpoisoned task: ``dataset`` upscaled to ``size`` by repeating pixels, its train and test splits; with
    ``split="validation"`` the test split is a held-out 20% of the training images (``tasks.validation_source``,
    seeded by ``seed``) and the training split the rest."""
    source = load_source(dataset, root=data_root)
    if split == "validation":
        source = validation_source(source, seed)
    side = source.image_shape[-1]
    check(size % side == 0, f"size must be a multiple of {dataset}'s square side {side}, got {size}")
    train = Split(
        upscale(source.train_images, size),
        source.train_labels,
        torch.zeros_like(source.train_labels),
        source.train_labels,
    )
    test = Split(
        upscale(source.test_images, size), source.test_labels, torch.zeros_like(source.test_labels), source.test_labels
    )
    mean, std = channel_stats(train.images)
    return Task(f"{dataset}-clean", train, test, mean, std, {"num_classes": source.num_classes})


def poison_indices(labels: torch.Tensor, adversarial_class: int, budget: float, generator) -> torch.Tensor:
    """round(budget · N) random training images of the adversarial class (sorted indices); a budget the class
    cannot hold is one line naming the largest."""
    members = torch.nonzero(labels == adversarial_class).flatten()
    count = max(1, round(budget * len(labels)))
    check(
        count <= len(members),
        f"budget must be at most {len(members) / len(labels):.3f} (class {adversarial_class}'s share of the "
        f"training set), got {budget}",
    )
    return torch.sort(members[torch.randperm(len(members), generator=generator)[:count]]).values


def matching_loss(poison_grads, target_grads) -> torch.Tensor:
    """1 − cos(∇ poison loss, ∇ target adversarial loss) over all parameters at once (Geiping et al., eq. 3)."""
    dot = sum((p * t).sum() for p, t in zip(poison_grads, target_grads, strict=True))
    poison_norm = torch.sqrt(sum(p.pow(2).sum() for p in poison_grads))
    target_norm = torch.sqrt(sum(t.pow(2).sum() for t in target_grads))
    return 1 - dot / (poison_norm * target_norm)


def quantise(clean: torch.Tensor, crafted: torch.Tensor, epsilon: float) -> torch.Tensor:
    """uint8 poisoned images from clean uint8 images and crafted [0, 1] images: rounded, then clamped to the
    ε-ball (⌊255 ε⌋ levels either way) and to [0, 255], so ‖poison − clean‖∞ ≤ ε holds exactly after rounding."""
    levels = math.floor(255 * epsilon + 1e-9)
    rounded = torch.round(crafted * 255)
    base = clean.float()
    return torch.clamp(rounded, base - levels, base + levels).clamp(0, 255).to(torch.uint8)


def craft(model, normalise, target, adversarial, base, labels, epsilon, steps, restarts, lr, generator, augment=None):
    """Witches' Brew on ``model`` (a one-run K = 1 model in eval mode): perturbations Δ (P, C, H, W) of the [0, 1]
    images ``base`` with labels ``labels`` minimising :func:`matching_loss` against the target image ``target``
    (1, C, H, W) and class ``adversarial``. ``augment(x, generator)`` augments the poisons differentiably each step.
    Random numbers come from the CPU ``generator``; the tensors live on ``base``'s device. Returns (best Δ, its
    final loss, every restart's final loss)."""
    params = [p for p in model.parameters() if p.requires_grad]
    device = base.device
    target_loss = F.cross_entropy(
        model(normalise(target)[None, None])[0].float(), torch.tensor([adversarial], device=device)
    )
    target_grads = [g.detach() for g in torch.autograd.grad(target_loss, params)]
    best, best_loss, losses = None, math.inf, []
    for _ in range(restarts):
        delta = ((torch.rand(base.shape, generator=generator) * 2 - 1) * epsilon).to(device).requires_grad_()
        optimiser = torch.optim.Adam([delta], lr=lr)
        milestones = [round(steps * f) for f in (3 / 8, 5 / 8, 7 / 8)]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones, gamma=0.1)
        for step in range(steps + 1):
            x = base + delta
            if augment is not None:
                x = augment(x, generator)
            poison_loss = F.cross_entropy(model(normalise(x)[None])[0].float(), labels)
            grads = torch.autograd.grad(poison_loss, params, create_graph=True)
            loss = matching_loss(grads, target_grads)
            if step == steps:  # the final loss, measured after the last update
                break
            (grad,) = torch.autograd.grad(loss, delta)
            optimiser.zero_grad()
            delta.grad = grad.sign()
            optimiser.step()
            scheduler.step()
            with torch.no_grad():
                delta.clamp_(-epsilon, epsilon)
                delta.copy_((base + delta).clamp(0, 1) - base)
        losses.append(float(loss.detach()))
        if losses[-1] < best_loss:
            best, best_loss = delta.detach().clone(), losses[-1]
    return best, best_loss, losses


def adversarial_class(task: Task, spec: PoisonSpec) -> int:
    """(target's label + ``adversarial_shift``) mod the number of classes; a shift that returns to the target's
    own class, or a target index beyond the test split, is one line."""
    classes = task.info["num_classes"]
    check(
        spec.target_index < len(task.test),
        f"target_index must be below {spec.dataset}'s {len(task.test)} test images, got {spec.target_index}",
    )
    check(
        spec.adversarial_shift % classes != 0,
        f"adversarial_shift must not be a multiple of {classes}, got {spec.adversarial_shift}",
    )
    return (int(task.test.labels[spec.target_index]) + spec.adversarial_shift) % classes


class _Capture:
    """A per-epoch callback keeping the model after the last epoch."""

    def __init__(self, epochs: int):
        self.epochs, self.model = epochs, None

    def __call__(self, event):
        if event.epoch == self.epochs:
            self.model = event.model


@register_artifact("witches_brew_poison")
@dataclass(frozen=True)
class PoisonSpec(ArtifactSpec):
    """Witches' Brew poisons for one target (module docstring): the crafting model is trained on the clean
    ``dataset`` with ``model``, ``recipe``, ``method`` and ``seed``; ``seed`` also draws the poisoned images and
    the restarts' starting points. With ``split="validation"`` the target is a held-out training image and
    everything else is the rest of the training split (``clean_task``): the attack simulated on the defender's own
    data, for choosing a defence's strength without the test set."""

    dataset: str = "digits"
    size: int = 16
    target_index: int = 0  # the target image: its position in the test split
    adversarial_shift: int = 1  # the adversarial class is (target's label + shift) mod the number of classes
    epsilon: float = 16 / 255  # ℓ∞ bound on the [0, 1] scale (thesis: 16/255)
    budget: float = 0.01  # share of the training set that is poisoned (thesis: 1%)
    steps: int = 250
    restarts: int = 8
    lr: float = 0.025
    seed: int = 0
    split: str = "test"  # where the target image comes from: the test split, or held-out training images
    model: ModelSpec = field(default_factory=ResNetCifar, metadata={"spec": MODELS})
    recipe: Recipe = field(default_factory=Recipe, metadata={"spec": RECIPES})
    method: MethodSpec = field(default_factory=MultiClassCE, metadata={"spec": METHODS})

    def validate(self):
        check_choice("dataset", self.dataset, SOURCES.names())
        check_range("size", self.size, 8, 256, integer=True)
        check_range("target_index", self.target_index, 0, None, integer=True)
        check_range("adversarial_shift", self.adversarial_shift, 1, None, integer=True)
        check_range("epsilon", self.epsilon, 0, 1, open_low=True)
        check_range("budget", self.budget, 0, 1, open_low=True)
        check_range("steps", self.steps, 1, None, integer=True)
        check_range("restarts", self.restarts, 1, None, integer=True)
        check_range("lr", self.lr, 0, None, open_low=True)
        check_range("seed", self.seed, 0, None, integer=True)
        check_choice("split", self.split, ("test", "validation"))

    def compute(self, data_root) -> dict[str, np.ndarray]:
        """Train the crafting model (core trainer), craft, quantise: ``indices`` (P,) of the poisoned training
        images, ``images`` (P, C, H, W) uint8 poisoned images, ``loss`` (restarts,) every restart's final loss."""
        task = clean_task(self.dataset, self.size, data_root, self.split, self.seed)
        adversarial = adversarial_class(task, self)
        generator = torch.Generator().manual_seed(self.seed)
        indices = poison_indices(task.train.labels, adversarial, self.budget, generator)
        capture = _Capture(self.recipe.epochs)
        objective = self.method.objective([self.method], [task])
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as the sweep's "auto"
        train_runs(
            [task], self.model, self.recipe, [self.seed], device=device, objective=objective, callbacks=[capture]
        )
        model = capture.model.eval()  # crafting runs outside autocast: full precision
        for p in model.parameters():
            p.requires_grad_(True)
        mean = torch.tensor(task.mean, device=device)[:, None, None]
        std = torch.tensor(task.std, device=device)[:, None, None]
        base = task.train.images[indices].float().to(device) / 255
        augmentation = A.AUGMENTATIONS.get(self.recipe.augment)
        augment = None
        if augmentation.sample is not None:

            def augment(x, g):
                theta = augmentation.sample(len(x), tuple(x.shape[-2:]), self.recipe, g).to(x.device)
                return A.apply_affine(x, theta, augmentation.interpolation)

        delta, _, losses = craft(
            model,
            lambda x: (x - mean) / std,
            task.test.images[self.target_index].float().to(device) / 255,
            adversarial,
            base,
            task.train.labels[indices].to(device),
            self.epsilon,
            self.steps,
            self.restarts,
            self.lr,
            generator,
            augment,
        )
        images = quantise(task.train.images[indices], (base + delta).cpu(), self.epsilon)
        return {"indices": indices.numpy(), "images": images.numpy(), "loss": np.asarray(losses)}


@register_task("witches_brew")
@dataclass(frozen=True)
class PoisonedTask(TaskSpec):
    """The training set with ``poison``'s crafted images in place of the clean ones (group 1), the clean test set
    (group 0) followed by the target image (group 1, with its true label). Evaluator ``targeted_poison``."""

    per_run: ClassVar[frozenset[str]] = frozenset({"poison"})

    poison: PoisonSpec = field(default_factory=PoisonSpec, metadata={"spec": ARTIFACTS})

    def validate(self):
        if not isinstance(self.poison, PoisonSpec):
            raise SpecError(f"poison must be a witches_brew_poison spec, got {self.poison!r}")

    def build(self, data_root) -> Task:
        spec = self.poison
        clean = clean_task(spec.dataset, spec.size, data_root, spec.split, spec.seed)
        arrays = load_artifact(spec, data_root=data_root)
        indices = torch.from_numpy(arrays["indices"]).long()
        images = clean.train.images.clone()
        images[indices] = torch.from_numpy(arrays["images"])
        groups = torch.zeros(len(images), dtype=torch.int64)
        groups[indices] = 1
        train = Split(images, clean.train.labels, groups, clean.train.labels)
        t = spec.target_index
        test = Split(
            torch.cat([clean.test.images, clean.test.images[t : t + 1]]),
            torch.cat([clean.test.labels, clean.test.labels[t : t + 1]]),
            torch.cat([torch.zeros(len(clean.test), dtype=torch.int64), torch.ones(1, dtype=torch.int64)]),
            torch.cat([clean.test.labels, clean.test.labels[t : t + 1]]),
        )
        mean, std = channel_stats(train.images)
        info = {
            "num_classes": clean.info["num_classes"],
            "adversarial_class": adversarial_class(clean, spec),
            "target_index": t,
            "poisoned": len(indices),
        }
        return Task(f"{spec.dataset}-witches-brew", train, test, mean, std, info, evaluator="targeted_poison")


@register_evaluator("targeted_poison")
def poison_metrics(task: Task, split: str, outputs: torch.Tensor) -> dict:
    """Clean accuracy (group 0) and poison success (thesis §4.4.2): 1 if the target image (group 1) is classified
    as the adversarial class, else 0; and the probability the model gives the target's adversarial class (a
    graded view of the same attack, for runs where it moves the model without flipping the target)."""
    part = task.split(split)
    preds = outputs.argmax(-1)
    clean = part.groups == 0
    target = part.groups == 1
    adversarial = task.info["adversarial_class"]
    return {
        "accuracy": M.accuracy(part.labels[clean], preds[clean]),
        "success": float((preds[target] == adversarial).float().mean()),
        "adversarial_probability": float(outputs[target, adversarial].float().mean()),
    }
