"""Shared protocol of Part I (Hall et al. 2022, §2.1): the recipe per dataset, and run specifications."""

from __future__ import annotations

import numpy as np

from ...models import parse_model
from ...sweep import RunSpec
from ...training import Recipe
from .tasks import InversionTask

__all__ = ["recipe_for", "inversion_run", "mean_text", "DISPLAY", "PAPER_MODELS", "PAPER_RECIPE"]

DISPLAY = {"digits": "digits (8×8)", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}

# The paper's architectures (§2.2, RQ1): ResNet-18 on Fashion-MNIST, ResNet-110 on CIFAR.
PAPER_MODELS = {"fashion_mnist": "resnet18", "cifar10": "resnet110", "cifar100": "resnet110", "digits": "resnet20"}


# §2.1, after He et al. (2016): SGD with Nesterov momentum 0.9, batch 128, weight decay 1e-4, one warm-up epoch at
# lr 0.01, then lr 0.1 divided by 10 after half and after three quarters of training (epochs 250 and 375 of 500).
PAPER_RECIPE = Recipe(
    epochs=500,
    batch_size=128,
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    weight_decay=1e-4,
    warmup_epochs=1,
    warmup_lr=0.01,
    lr_drops=(0.5, 0.75),
)


def recipe_for(dataset: str, epochs: int, **changes) -> Recipe:
    """The paper's recipe, with the augmentation of each dataset: RandomResizedCrop for Fashion-MNIST (no
    padding, as in the authors' configuration), zero-padded random crops for CIFAR (4 px) and the 8×8 digits
    (1 px, the same share of the image as 4 px of 32), horizontal flips for all."""
    if dataset == "fashion_mnist":
        augmentation = {"augment": "resized_crop_flip"}
    else:
        augmentation = {"augment": "pad_crop_flip", "crop_padding": 1 if dataset == "digits" else 4}
    return PAPER_RECIPE.with_(epochs=epochs, **augmentation, **changes)


def mean_text(values) -> str:
    """The mean of fractions ``values`` in %, as text for a notebook's narrative ("93.1%"); "not run" when there
    is none."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return f"{values.mean() * 100:.1f}%" if len(values) else "not run"


def model_label(model: str) -> str:
    """'resnet110' → 'ResNet-110' (the paper's spelling), for figure titles."""
    return "ResNet-" + model.removeprefix("resnet") if model.startswith("resnet") else model


def model_for(config_model, dataset: str) -> str:
    if config_model is None:
        return PAPER_MODELS[dataset]
    if isinstance(config_model, dict):
        return config_model.get(dataset, PAPER_MODELS[dataset])
    return config_model


# Figs. 3 and 4 (RQ2, RQ3): ResNet-110 on CIFAR-100 at three partial biases, 20 runs of 500 epochs (§2.1).
PAPER_PROTOCOL = {"dataset": "cifar100", "model": "resnet110", "eps": [0.2, 0.3, 0.4], "runs": 20, "epochs": 500}


def inversion_run(
    dataset: str,
    model: str,
    eps: float,
    run: int,
    recipe: Recipe,
    width: int | None = None,
    curves: bool = False,
    swap_roles: bool = False,
    train_fraction: float = 1.0,
    **tags,
) -> RunSpec:
    """Run ``run`` of the inversion task: class assignment, inversion, initialisation and data order all seeded
    by ``run`` (the paper's 20 runs are 20 random class assignments)."""
    task = InversionTask(dataset=dataset, eps=eps, seed=run, swap_roles=swap_roles, train_fraction=train_fraction)
    model_spec = parse_model(model)
    if width is not None:
        model_spec = model_spec.replace(width=width)
    return RunSpec(
        task,
        model_spec,
        recipe,
        seed=run,
        curves=curves,
        tags={"dataset": dataset, "model": model, "eps": eps, "run": run, **tags},
    )
