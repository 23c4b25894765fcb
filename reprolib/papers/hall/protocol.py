"""Shared protocol of Part I (Hall et al. 2022, §2.1): the recipe per dataset, the models, and run specifications.

Where the paper's text and the authors' released code (facebookresearch/cv_bias_amplification) disagree, the
text is the default and the code's choice a parameter (``PROTOCOL``); where the text is silent, the code's
choice is the default. ``book/paper-scale.md`` tabulates every item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import params as P
from ...models import MultiResNet, parse_model
from ...specs import ModelSpec, register_model
from ...sweep import RunSpec
from ...training import Recipe
from .tasks import InversionTask

__all__ = [
    "recipe_for",
    "inversion_run",
    "model_spec",
    "mean_text",
    "DISPLAY",
    "PAPER_MODELS",
    "PAPER_RECIPE",
    "PROTOCOL",
    "PROTOCOL_PARAMETERS",
    "AuthorsFashionResNet",
    "per_dataset",
]

DISPLAY = {"digits": "digits (8×8)", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}

# The paper's architectures (§2.2, RQ1): ResNet-18 on Fashion-MNIST, ResNet-110 on CIFAR. The text's "residual
# networks with 18 layers" is the default on Fashion-MNIST; the authors' network (``fmnist_resnet``, 14 layers)
# is the parameter ``model={"fashion_mnist": "fmnist_resnet"}``.
PAPER_MODELS = {"fashion_mnist": "resnet18", "cifar10": "resnet110", "cifar100": "resnet110", "digits": "resnet20"}

# Protocol choices shared by every training chapter of Part I, with their defaults (text first, then code):
# - nesterov: the text says Nesterov momentum 0.9; the released configs leave ClassyVision's SGD at
#   nesterov=False (pass false for the code's choice);
# - precision: the text is silent; the configs train in fp32 (bf16 autocast is an option on a GPU);
# - cifar_augment: text and configs agree on pad → random crop → flip → resize to 32×32; the configs pad to
#   40×40 and take torchvision's RandomResizedCrop(32) ("resized_crop"); "translate_crop" is He et al.'s
#   4-pixel translation crop, which the book used before;
# - resnet: the text is silent on shortcuts and initialisation; the configs train ClassyVision's ResNet,
#   projection shortcuts and γ = 0 in each block's last BN ("classy"); "he2016" is He et al.'s option A, γ = 1.
PROTOCOL = {"nesterov": True, "precision": "fp32", "cifar_augment": "resized_crop", "resnet": "classy"}
PROTOCOL_PARAMETERS = {
    "nesterov": P.choice(True, False),
    "precision": P.choice("fp32", "bf16", "auto"),
    "cifar_augment": P.choice("resized_crop", "translate_crop"),
    "resnet": P.choice("classy", "he2016"),
}
CIFAR_PADDING = 4  # 32×32 → 40×40 (the configs' PadToSize), and He et al.'s translation range


@register_model("fmnist_resnet")
@dataclass(frozen=True)
class AuthorsFashionResNet(ModelSpec):
    """The Fashion-MNIST network of the authors' released code (``models/custom_resnet.py``): a 3×3 stem of 64
    channels, three stages of two basic blocks of 64, 128 and 256 channels, projection shortcuts, global average
    pooling (their AvgPool2d(7) on 7×7 maps) and one linear layer — 14 layers, where the text says 18."""

    def build(self, num_runs, in_shape, num_outputs):
        return MultiResNet(num_runs, in_shape[0], num_outputs, (64, 128, 256), (2, 2, 2), "B")


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


def per_dataset(check):
    """A parameter check that also accepts a mapping dataset → value, each value checked by ``check``."""

    def wrapped(name, value):
        if isinstance(value, dict):
            return {dataset: check(name, v) for dataset, v in value.items()}
        return check(name, value)

    return wrapped


def protocol(config: dict | None) -> dict:
    """The protocol choices of a chapter's ``config`` (``PROTOCOL`` for any it does not set)."""
    return {name: (config or {}).get(name, default) for name, default in PROTOCOL.items()}


def recipe_for(dataset: str, epochs: int, config: dict | None = None, **changes) -> Recipe:
    """The paper's recipe with the protocol choices of ``config`` and the augmentation of each dataset (§2.1:
    random crop, horizontal flip, resize to the input size): RandomResizedCrop without padding for
    Fashion-MNIST; for CIFAR zero-padding to 40×40, then RandomResizedCrop(32) (or He et al.'s translation crop,
    ``cifar_augment="translate_crop"``); for the 8×8 digits of the course a 1-pixel translation crop (the share
    of the image of 4 px of 32; a resized crop of 8% of an 8×8 image would keep 2×2 pixels)."""
    choices = protocol(config)
    if dataset == "fashion_mnist":
        augmentation = {"augment": "resized_crop_flip"}
    elif dataset == "digits":
        augmentation = {"augment": "pad_crop_flip", "crop_padding": 1}
    elif choices["cifar_augment"] == "resized_crop":
        augmentation = {"augment": "pad_resized_crop_flip", "crop_padding": CIFAR_PADDING}
    else:
        augmentation = {"augment": "pad_crop_flip", "crop_padding": CIFAR_PADDING}
    return PAPER_RECIPE.with_(
        epochs=epochs, nesterov=choices["nesterov"], precision=choices["precision"], **augmentation, **changes
    )


def model_spec(name: str, config: dict | None = None, width: int | None = None) -> ModelSpec:
    """The spec of model ``name`` with the protocol's ResNet variant (``resnet``: "classy" gives a CIFAR ResNet
    projection shortcuts and zero-initialised last BNs) and, if given, the width of its first stage."""
    spec = parse_model(name)
    if spec.name == "resnet_cifar" and protocol(config)["resnet"] == "classy":
        spec = spec.replace(shortcut="B", zero_init_residual=True)
    return spec.replace(width=width) if width is not None else spec


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
    config: dict | None = None,
    ambiguous: float = 0.0,
    validation_fraction: float = 0.0,
    **tags,
) -> RunSpec:
    """Run ``run`` of the inversion task: class assignment, inversion, initialisation and data order all seeded
    by ``run`` (the paper's 20 runs are 20 random class assignments). ``config`` gives the protocol choices;
    ``ambiguous`` and ``validation_fraction`` are the course's knobs (``tasks.make_inversion_task``); a run with
    a validation split also reports its metrics there."""
    task = InversionTask(
        dataset=dataset,
        eps=eps,
        seed=run,
        swap_roles=swap_roles,
        train_fraction=train_fraction,
        ambiguous=ambiguous,
        validation_fraction=validation_fraction,
    )
    return RunSpec(
        task,
        model_spec(model, config, width),
        recipe,
        seed=run,
        curves=curves,
        evaluate_on=("validation", "test") if validation_fraction > 0 else ("test",),
        tags={"dataset": dataset, "model": model, "eps": eps, "run": run, **tags},
    )
