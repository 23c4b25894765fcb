"""The one trainer of the book: K runs of one architecture trained at once on device-resident uint8 data.

The recipe is data (``Recipe``); per-run differences that are data — the task (labels, groups, images), the
seed, the weight decay — travel as tensors with a leading run dimension K. Each run has its own generator for
its data order and augmentation, so run k of a K-run group sees exactly what it would see trained alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import augment
from .models import create_model
from .tasks import Task

__all__ = [
    "Recipe",
    "EpochEnd",
    "RunOutput",
    "train_runs",
    "learning_rate",
    "PRECISIONS",
    "epoch_stream",
    "data_generator",
    "Batch",
    "BinaryCrossEntropy",
]

PRECISIONS = ("auto", "fp32", "bf16")


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast and channels_last pay off: on CUDA, and on CPUs with native bf16 arithmetic
    (AVX-512 BF16 or AMX). On a plain AVX2 CPU, bf16 convolutions are emulated and many times slower."""
    if device.type == "cuda":
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_speed_options(recipe: Recipe, device: torch.device) -> tuple[str, bool]:
    """The concrete (precision, channels_last) that ``recipe`` means on ``device`` ("auto" → what is fast)."""
    fast = fast_bf16(device)
    precision = recipe.precision if recipe.precision != "auto" else ("bf16" if fast else "fp32")
    channels_last = recipe.channels_last if recipe.channels_last != "auto" else fast
    return precision, channels_last


@dataclass(frozen=True)
class Recipe:
    """Hall et al. (2022) §2.1, after He et al. (2016): the defaults are the paper's protocol."""

    epochs: int = 500
    batch_size: int = 128
    lr: float = 0.1  # after warm-up
    warmup_epochs: int = 1
    warmup_lr: float = 0.01
    lr_drops: tuple[float, ...] = (0.5, 0.75)  # fractions of training after which lr is divided by 10
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4  # coupled L2, on every parameter (a per-run value: runs may differ)
    augment: str = "pad_crop_flip"  # a key of augment.AUGMENTATIONS
    crop_padding: int = 4  # pixels, for pad_crop_flip (CIFAR); Fashion-MNIST uses resized_crop_flip
    precision: str = "auto"  # "bf16": autocast the forward pass to bfloat16; "auto": bf16 where it is fast
    channels_last: bool | str = "auto"  # memory format of activations; "auto": where bf16 is fast
    compile: bool = False  # torch.compile the model

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"epochs must be a positive integer, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be a positive integer, got {self.batch_size}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be ≥ 0, got {self.weight_decay}"),
            (
                0 <= self.warmup_epochs < self.epochs or self.epochs == 1,
                f"warmup_epochs must lie in [0, epochs), got {self.warmup_epochs}",
            ),
            (all(0 < f < 1 for f in self.lr_drops), f"lr_drops must be fractions in (0, 1), got {self.lr_drops}"),
            (
                self.augment in augment.AUGMENTATIONS,
                f"augment must be one of {', '.join(augment.AUGMENTATIONS)}, got {self.augment!r}",
            ),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"),
            (
                self.channels_last in (True, False, "auto"),
                f"channels_last must be true, false or 'auto', got {self.channels_last!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return {**asdict(self), "lr_drops": list(self.lr_drops)}

    @classmethod
    def from_dict(cls, values: dict) -> Recipe:
        return cls(**{**values, "lr_drops": tuple(values.get("lr_drops", cls.lr_drops))})

    def with_(self, **changes) -> Recipe:
        return replace(self, **changes)


def learning_rate(recipe: Recipe, epoch: int) -> float:
    """Warm-up at ``warmup_lr`` for ``warmup_epochs`` epochs, then ``lr`` divided by 10 after each drop
    (Hall et al.: 0.01 for one epoch, 0.1, then ÷10 after epochs 250 and 375 of 500)."""
    if epoch < recipe.warmup_epochs:
        return recipe.warmup_lr
    drops = sum(epoch >= round(f * recipe.epochs) for f in recipe.lr_drops)
    return recipe.lr * 0.1**drops


@dataclass
class EpochEnd:
    """What a per-epoch callback receives. ``evaluate()`` returns the test outputs: probabilities (K, N_test) by
    default, a dict of (K, N_test) tensors for objectives that say so (``reprolib.methods``)."""

    epoch: int  # 1-based: the number of epochs finished
    lr: float
    train_loss: torch.Tensor  # (K,) mean training loss of the epoch
    evaluate: Callable[[], torch.Tensor]
    model: torch.nn.Module  # the K-run model, for callbacks that inspect it


@dataclass
class RunOutput:
    test_probs: torch.Tensor | dict  # (N_test,) P(t = 1) after training; an objective's own outputs otherwise
    train_loss: float
    seconds: float
    extras: dict = field(default_factory=dict)


def _stack(tasks: Sequence[Task], split: str, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = torch.stack([getattr(t, split).images for t in tasks]).to(device)
    labels = torch.stack([getattr(t, split).labels for t in tasks]).to(device)
    groups = torch.stack([getattr(t, split).groups for t in tasks]).to(device)
    return images, labels, groups


@dataclass
class Batch:
    """What an objective's loss sees of one training step, every tensor with a leading run dimension K."""

    x: torch.Tensor  # (K, B, C, H, W) augmented, standardised images
    labels: torch.Tensor  # (K, B) int64 classes
    groups: torch.Tensor  # (K, B) int64 groups (the bias attribute)
    index: torch.Tensor  # (K, B) positions of the images in the training split
    progress: float  # share of training done before this step, in [0, 1)


class BinaryCrossEntropy:
    """The default objective: one logit per image, binary cross-entropy against the 0/1 class (Hall et al.).

    An objective declares ``num_outputs``; ``build(model, setup)`` returns its extra trainable K-run modules (or
    None); ``loss(model, extra, batch)`` returns the per-run training loss (K,); ``predict(model, extra, x,
    groups)`` returns the test outputs of a batch — a tensor (K, B) or a dict of them.
    """

    num_outputs = 1

    def build(self, model, setup: dict):
        return None

    def loss(self, model, extra, batch: Batch) -> torch.Tensor:
        logits = model(batch.x)[..., 0].float()
        return F.binary_cross_entropy_with_logits(logits, batch.labels.float(), reduction="none").mean(1)

    def predict(self, model, extra, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model(x).float()[..., 0])


def _concat(outputs: list):
    if isinstance(outputs[0], dict):
        return {key: torch.cat([o[key] for o in outputs], dim=1) for key in outputs[0]}
    return torch.cat(outputs, dim=1)


def _select(outputs, k: int):
    if isinstance(outputs, dict):
        return {key: value[k].cpu() for key, value in outputs.items()}
    return outputs[k].cpu()


def _check_compatible(tasks: Sequence[Task]) -> None:
    shapes = {(len(t.train), len(t.test), t.image_shape) for t in tasks}
    if len(shapes) != 1:
        raise ValueError(f"runs trained together need equal train/test sizes and image shapes, got {shapes}")


class _Normalise(torch.nn.Module):
    def __init__(self, tasks: Sequence[Task], device):
        super().__init__()
        self.register_buffer("mean", torch.tensor([t.mean for t in tasks], device=device)[:, None, :, None, None])
        self.register_buffer("std", torch.tensor([t.std for t in tasks], device=device)[:, None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images on the [0, 1] scale (K, B, C, H, W) → per-run standardised images."""
        return (x - self.mean) / self.std


def _to_unit(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float().div_(255)


def data_generator(seed: int) -> torch.Generator:
    """The generator of a run's data order and augmentation (offset from the initialisation's seed)."""
    return torch.Generator().manual_seed(int(seed) + 1_000_003)


def epoch_stream(
    recipe: Recipe, n: int, size: tuple[int, int], generator: torch.Generator, weights: torch.Tensor | None = None
):
    """One epoch of a run's random stream: the order of its n training images and their augmentation maps.
    With ``weights`` (n,), the epoch is n draws with replacement, image i with probability ∝ weights[i] (a
    dataset resampling such as REPAIR's); without, a permutation."""
    if weights is None:
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.multinomial(weights.float(), n, replacement=True, generator=generator)
    if recipe.augment == "pad_crop_flip":
        theta = augment.sample_pad_crop_flip(n, size, recipe.crop_padding, generator)
    elif recipe.augment == "resized_crop_flip":
        theta = augment.sample_resized_crop_flip(n, generator)
    else:
        theta = augment.sample_identity(n)
    return order, theta


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_runs(
    tasks: Sequence[Task],
    model_spec: dict,
    recipe: Recipe,
    seeds: Sequence[int],
    weight_decays: Sequence[float] | None = None,
    device: str | torch.device = "cpu",
    callbacks: Sequence[Callable[[EpochEnd], None]] = (),
    progress: Callable[[int], None] | None = None,
    eval_batch_size: int = 1024,
    objective=None,
) -> list[RunOutput]:
    """Train one run per (task, seed) of the architecture ``model_spec`` with ``recipe``, all at once.

    ``weight_decays`` overrides ``recipe.weight_decay`` per run. ``progress(n)`` is called after every step
    with the number of images processed (summed over runs). ``objective`` (default ``BinaryCrossEntropy``) sets
    the loss, the extra trainable modules (e.g. a discriminator, ``reprolib.methods``) and the test outputs; an
    objective whose ``build`` sets ``sampling_weights`` (K, N) resamples each run's epochs by them.
    Returns one ``RunOutput`` per run, in order.
    """
    if len(tasks) != len(seeds):
        raise ValueError(f"one seed per task: got {len(tasks)} tasks and {len(seeds)} seeds")
    _check_compatible(tasks)
    device = torch.device(device)
    k_runs = len(tasks)
    start = time.perf_counter()

    objective = objective if objective is not None else BinaryCrossEntropy()
    train_x, train_y, train_g = _stack(tasks, "train", device)
    test_x, _, test_g = _stack(tasks, "test", device)
    n_train, (c, h, w) = train_x.shape[1], tasks[0].image_shape
    normalise = _Normalise(tasks, device)

    precision, channels_last = resolve_speed_options(recipe, device)
    model = create_model(model_spec, seeds, in_channels=c, num_outputs=objective.num_outputs).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if recipe.compile else model
    setup = {"model_spec": model_spec, "seeds": list(seeds), "tasks": tasks, "in_channels": c, "device": device}
    extra = objective.build(model, setup)
    sampling = getattr(objective, "sampling_weights", None)
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
    decay = torch.tensor(
        list(weight_decays) if weight_decays is not None else [recipe.weight_decay] * k_runs, device=device
    )
    # Every parameter's leading dimension is K blocks, one per run: λ_k broadcast over run k's block.
    decays = [decay.repeat_interleave(p.shape[0] // k_runs).view(-1, *[1] * (p.dim() - 1)) for p in params]
    generators = [data_generator(s) for s in seeds]
    interpolation = augment.AUGMENTATIONS[recipe.augment]
    run_index = torch.arange(k_runs, device=device)[:, None]

    def evaluate() -> torch.Tensor | dict:
        model.eval()
        outputs = []
        with torch.no_grad(), _autocast(device, precision):
            for i in range(0, test_x.shape[1], eval_batch_size):
                x = normalise(_to_unit(test_x[:, i : i + eval_batch_size]))
                outputs.append(objective.predict(forward, extra, x, test_g[:, i : i + eval_batch_size]))
        model.train()
        return _concat(outputs)

    steps_per_epoch = -(-n_train // recipe.batch_size)

    for epoch in range(recipe.epochs):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, epoch)
        streams = [
            epoch_stream(recipe, n_train, (h, w), g, None if sampling is None else sampling[k])
            for k, g in enumerate(generators)
        ]
        order = torch.stack([o for o, _ in streams]).to(device)
        theta = torch.stack([t for _, t in streams]).to(device)
        epoch_loss = torch.zeros(k_runs, device=device)
        for step, i in enumerate(range(0, n_train, recipe.batch_size)):
            idx = order[:, i : i + recipe.batch_size]
            b = idx.shape[1]
            x = _to_unit(train_x[run_index, idx])
            if interpolation is not None:  # augment on the [0, 1] scale, so padding is black as in He et al.
                x = augment.apply_affine(
                    x.reshape(k_runs * b, c, h, w), theta[run_index, idx].reshape(-1, 2, 3), interpolation
                ).reshape(k_runs, b, c, h, w)
            x = normalise(x)
            done = (epoch * steps_per_epoch + step) / (recipe.epochs * steps_per_epoch)
            batch = Batch(x, train_y[run_index, idx], train_g[run_index, idx], idx, done)
            with _autocast(device, precision):
                losses = objective.loss(forward, extra, batch)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            with torch.no_grad():  # coupled L2 per run: grad += λ_k · w, what SGD's weight_decay does for one run
                torch._foreach_addcmul_([p.grad for p in params], params, decays)
            optimizer.step()
            epoch_loss += losses.detach() * b
            if progress is not None:
                progress(k_runs * b)
        event = EpochEnd(epoch + 1, optimizer.param_groups[0]["lr"], epoch_loss / n_train, evaluate, model)
        for callback in callbacks:
            callback(event)

    outputs = evaluate()
    seconds = time.perf_counter() - start
    last_loss = event.train_loss.cpu()
    speed = {"precision": precision, "channels_last": channels_last, "compile": recipe.compile}
    return [RunOutput(_select(outputs, k), float(last_loss[k]), seconds, speed) for k in range(k_runs)]
