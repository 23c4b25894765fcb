"""The one trainer of the book: K runs of one architecture trained at once on device-resident uint8 data.

The recipe is data (``Recipe``, a typed spec); per-run differences that are data — the task (labels, groups,
images), the seed, the weight decay — travel as tensors with a leading run dimension K. Each run has its own
generator for its data order, augmentation and batch transform, so run k of a K-run group sees exactly what it
would see trained alone.

Plug points, each open to a paper's package: the optimiser (``OPTIMIZERS``: SGD, Adam), the per-image affine
augmentation (``augment.AUGMENTATIONS``), a per-batch transform that may mix images and labels
(``recipe.batch_transform``, a registered ``specs.TransformSpec``), the objective (loss, extra heads and modules,
test outputs, resampling weights; ``objectives.py``), per-epoch callbacks, evaluation on several splits, and a
``Checkpoint`` that saves the whole training state every few minutes and resumes from it after a kill.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from . import augment
from .models import create_model
from .objectives import Batch, BinaryCrossEntropy, Objective, Setup
from .registry import Registry
from .specs import TRANSFORMS, ModelSpec, Spec, TransformSpec, check, check_choice, check_range
from .tasks import Task

__all__ = [
    "Recipe",
    "EpochEnd",
    "RunOutput",
    "run_state",
    "Checkpoint",
    "train_runs",
    "learning_rate",
    "PRECISIONS",
    "OPTIMIZERS",
    "TRAINER_VERSION",
    "epoch_stream",
    "data_generator",
    "Batch",
    "BinaryCrossEntropy",
]

# Part of every run's key: bump it when a change to this module changes what a run computes.
TRAINER_VERSION = 2

PRECISIONS = ("auto", "fp32", "bf16")

OPTIMIZERS: Registry[Callable] = Registry("optimizer")
OPTIMIZERS.register("sgd")(
    lambda params, recipe: torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
)
OPTIMIZERS.register("adam")(lambda params, recipe: torch.optim.Adam(params, lr=recipe.lr, betas=tuple(recipe.betas)))

RECIPES: Registry = Registry("recipe")


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


@RECIPES.register("recipe")
@dataclass(frozen=True)
class Recipe(Spec):
    """How to train: optimiser, schedule, augmentation, precision. Papers state their protocol explicitly (e.g.
    ``papers.hall.protocol.hall_recipe``); the defaults here are a plain SGD run."""

    name: ClassVar[str] = "recipe"
    registry: ClassVar[Registry] = RECIPES
    per_run: ClassVar[frozenset[str]] = frozenset({"weight_decay"})

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"  # a key of OPTIMIZERS
    lr: float = 0.1  # after warm-up
    momentum: float = 0.9  # SGD
    nesterov: bool = False  # SGD
    betas: tuple[float, float] = (0.9, 0.999)  # Adam
    weight_decay: float = 0.0  # coupled L2 (grad += λ·w), on every trained parameter; a per-run value
    warmup_epochs: int = 0
    warmup_lr: float = 0.01
    lr_drops: tuple[float, ...] = ()  # fractions of training after which lr is divided by 10
    augment: str = "none"  # a key of augment.AUGMENTATIONS
    crop_padding: int = 4  # pixels on every side, for pad_crop_flip and pad_resized_crop_flip
    batch_transform: TransformSpec | None = field(default=None, metadata={"spec": TRANSFORMS})
    precision: str = "auto"  # "bf16": autocast the forward pass to bfloat16; "auto": bf16 where it is fast
    channels_last: bool | str = "auto"  # memory format of activations; "auto": where bf16 is fast
    compile: bool = False  # torch.compile the model

    def validate(self):
        check_range("epochs", self.epochs, 1, None, integer=True)
        check_range("batch_size", self.batch_size, 1, None, integer=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS.names())
        check_range("lr", self.lr, 0, None, open_low=True)
        check_range("momentum", self.momentum, 0, 1, open_high=True)
        check(not self.nesterov or self.momentum > 0, "nesterov needs momentum > 0")
        check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"betas must be two numbers in [0, 1), got {self.betas}",
        )
        check_range("weight_decay", self.weight_decay, 0, None)
        check(
            0 <= self.warmup_epochs < self.epochs or (self.epochs == 1 and self.warmup_epochs <= 1),
            f"warmup_epochs must lie in [0, epochs), got {self.warmup_epochs}",
        )
        check(all(0 < f < 1 for f in self.lr_drops), f"lr_drops must be fractions in (0, 1), got {self.lr_drops}")
        check_choice("augment", self.augment, augment.AUGMENTATIONS.names())
        check_range("crop_padding", self.crop_padding, 0, None, integer=True)
        check_choice("precision", self.precision, PRECISIONS)
        check(
            self.channels_last in (True, False, "auto"),
            f"channels_last must be true, false or 'auto', got {self.channels_last!r}",
        )

    def with_(self, **changes) -> Recipe:
        return self.replace(**changes)


def learning_rate(recipe: Recipe, epoch: int) -> float:
    """Warm-up at ``warmup_lr`` for ``warmup_epochs`` epochs, then ``lr`` divided by 10 after each drop
    (Hall et al.: 0.01 for one epoch, 0.1, then ÷10 after epochs 250 and 375 of 500)."""
    if epoch < recipe.warmup_epochs:
        return recipe.warmup_lr
    drops = sum(epoch >= round(f * recipe.epochs) for f in recipe.lr_drops)
    return recipe.lr * 0.1**drops


@dataclass
class EpochEnd:
    """What a per-epoch callback receives. ``evaluate(split)`` returns the outputs on that split (default the
    test split): the objective's ``predict``, concatenated — a (K, N, …) tensor or a dict of them."""

    epoch: int  # 1-based: the number of epochs finished
    lr: float
    train_loss: torch.Tensor  # (K,) mean training loss of the epoch
    evaluate: Callable[..., torch.Tensor | dict]
    model: torch.nn.Module  # the K-run model, for callbacks that inspect it


@dataclass
class RunOutput:
    outputs: dict  # split → this run's outputs on it (the objective's predict: a tensor or a dict of tensors)
    train_loss: float
    seconds: float
    extras: dict = field(default_factory=dict)
    model_state: dict | None = None  # with ``keep_model``: this run's final weights as a one-run model's state


def run_state(model: torch.nn.Module, k: int, k_runs: int) -> dict[str, torch.Tensor]:
    """Run k's part of a K-run model's state, on the CPU: the state of the one-run model of the same spec. Every
    parameter and buffer of a K-run model leads with K equal blocks, one per run (``reprolib.models``); scalars
    (BatchNorm's step counter) are shared."""
    return {
        name: (value.chunk(k_runs, dim=0)[k] if value.dim() else value).detach().cpu().contiguous().clone()
        for name, value in model.state_dict().items()
    }


class Checkpoint:
    """A group's whole training state in one file, saved at the end of an epoch when ``every_seconds`` have
    passed since the last save (0: every epoch), written atomically, and read back to resume after a kill or a
    preemption: the model, the objective's extra modules and its own state (``Objective.state_dict``: e.g. the
    generators of its label flips), the optimiser, every run's random generator, the epoch and the callbacks'
    states, so a resumed group computes exactly what an uninterrupted one does."""

    def __init__(self, path: str | Path, every_seconds: float = 300.0):
        self.path = Path(path)
        self.every_seconds = every_seconds
        self._last = time.monotonic()

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=False)

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_seconds

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self._temp_prefix, suffix=".pt")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._last = time.monotonic()

    @property
    def _temp_prefix(self) -> str:
        return f".tmp-{self.path.stem}-"

    def remove(self) -> None:
        """Delete the checkpoint and any half-written copy of it that a kill during ``save`` left behind (only
        the process that holds the group's marker writes them)."""
        self.path.unlink(missing_ok=True)
        for partial in self.path.parent.glob(f"{self._temp_prefix}*.pt"):
            partial.unlink(missing_ok=True)


def _stack(tasks: Sequence[Task], split: str, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    parts = [t.split(split) for t in tasks]
    images = torch.stack([p.images for p in parts]).to(device)
    labels = torch.stack([p.labels for p in parts]).to(device)
    groups = torch.stack([p.groups for p in parts]).to(device)
    return images, labels, groups


def _concat(outputs: list):
    if isinstance(outputs[0], dict):
        return {key: torch.cat([o[key] for o in outputs], dim=1) for key in outputs[0]}
    return torch.cat(outputs, dim=1)


def select_run(outputs, k: int):
    """Run k's part of a group's outputs (a (K, N, …) tensor or a dict of them), on the CPU."""
    if isinstance(outputs, dict):
        return {key: value[k].cpu() for key, value in outputs.items()}
    return outputs[k].cpu()


def _check_compatible(tasks: Sequence[Task], splits: Sequence[str]) -> None:
    shapes = {(t.image_shape, *(len(t.split(s)) for s in ("train", *splits))) for t in tasks}
    if len(shapes) != 1:
        raise ValueError(f"runs trained together need equal split sizes and image shapes, got {shapes}")


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
    """One epoch of a run's random stream: the order of its n training images and their augmentation maps
    (None without augmentation). With ``weights`` (n,), the epoch is n draws with replacement, image i with
    probability ∝ weights[i] (a dataset resampling such as REPAIR's); without, a permutation."""
    if weights is None:
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.multinomial(weights.float(), n, replacement=True, generator=generator)
    sample = augment.AUGMENTATIONS.get(recipe.augment).sample
    return order, (sample(n, size, recipe, generator) if sample is not None else None)


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _module_state(module) -> dict | None:
    return module.state_dict() if isinstance(module, torch.nn.Module) else None


def train_runs(
    tasks: Sequence[Task],
    model_spec: ModelSpec,
    recipe: Recipe,
    seeds: Sequence[int],
    weight_decays: Sequence[float] | None = None,
    device: str | torch.device = "cpu",
    callbacks: Sequence[Callable[[EpochEnd], None]] = (),
    progress: Callable[[int], None] | None = None,
    eval_batch_size: int = 1024,
    objective: Objective | None = None,
    evaluate_on: Sequence[str] = ("test",),
    checkpoint: Checkpoint | None = None,
    keep_model: bool = False,
) -> list[RunOutput]:
    """Train one run per (task, seed) of the architecture ``model_spec`` with ``recipe``, all at once.

    ``weight_decays`` overrides ``recipe.weight_decay`` per run. ``progress(n)`` is called after every step
    with the number of images processed (summed over runs). ``objective`` (default ``BinaryCrossEntropy``) sets
    the loss, the extra trainable modules and the outputs. ``evaluate_on`` names the splits whose outputs are
    returned after training (``train``, ``validation``, ``test``). With ``checkpoint``, the state is saved every
    few minutes and training resumes from a saved state. With ``keep_model``, each ``RunOutput`` carries its run's
    final weights (``run_state``). Returns one ``RunOutput`` per run, in order.
    """
    if len(tasks) != len(seeds):
        raise ValueError(f"one seed per task: got {len(tasks)} tasks and {len(seeds)} seeds")
    _check_compatible(tasks, evaluate_on)
    device = torch.device(device)
    k_runs = len(tasks)
    start = time.perf_counter()

    objective = objective if objective is not None else BinaryCrossEntropy()
    train_x, train_y, train_g = _stack(tasks, "train", device)
    n_train, in_shape = train_x.shape[1], tasks[0].image_shape
    c, h, w = in_shape
    normalise = _Normalise(tasks, device)

    precision, channels_last = resolve_speed_options(recipe, device)
    model = create_model(model_spec, seeds, in_shape, objective.num_outputs).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if recipe.compile else model
    extra = objective.build(model, Setup(model_spec, list(seeds), tasks, in_shape, device))
    sampling = objective.sampling_weights
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    optimizer = OPTIMIZERS.get(recipe.optimizer)(params, recipe)
    decay = torch.tensor(
        list(weight_decays) if weight_decays is not None else [recipe.weight_decay] * k_runs, device=device
    )
    # Every parameter's leading dimension is K blocks, one per run: λ_k broadcast over run k's block.
    decays = [decay.repeat_interleave(p.shape[0] // k_runs).view(-1, *[1] * (p.dim() - 1)) for p in params]
    generators = [data_generator(s) for s in seeds]
    interpolation = augment.AUGMENTATIONS.get(recipe.augment).interpolation
    run_index = torch.arange(k_runs, device=device)[:, None]
    stateful = [cb for cb in callbacks if hasattr(cb, "state_dict")]

    def evaluate(split: str = "test") -> torch.Tensor | dict:
        images, _, groups = _stack(tasks, split, device) if split != "train" else (train_x, None, train_g)
        model.eval()
        outputs = []
        with torch.no_grad(), _autocast(device, precision):
            for i in range(0, images.shape[1], eval_batch_size):
                x = normalise(_to_unit(images[:, i : i + eval_batch_size]))
                outputs.append(objective.predict(forward, extra, x, groups[:, i : i + eval_batch_size]))
        model.train()
        return _concat(outputs)

    first_epoch, last_loss = 0, torch.zeros(k_runs)
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        if extra is not None and state["extra"] is not None:
            extra.load_state_dict(state["extra"])
        optimizer.load_state_dict(state["optimizer"])
        for generator, saved in zip(generators, state["generators"], strict=True):
            generator.set_state(saved)
        for callback, saved in zip(stateful, state["callbacks"], strict=True):
            callback.load_state_dict(saved)
        objective.load_state_dict(state.get("objective", {}))
        first_epoch, last_loss = state["epoch"], state["train_loss"]

    steps_per_epoch = -(-n_train // recipe.batch_size)
    for epoch in range(first_epoch, recipe.epochs):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, epoch)
        streams = [
            epoch_stream(recipe, n_train, (h, w), g, None if sampling is None else sampling[k])
            for k, g in enumerate(generators)
        ]
        order = torch.stack([o for o, _ in streams]).to(device)
        theta = torch.stack([t for _, t in streams]).to(device) if interpolation is not None else None
        epoch_loss = torch.zeros(k_runs, device=device)
        for step, i in enumerate(range(0, n_train, recipe.batch_size)):
            idx = order[:, i : i + recipe.batch_size]
            b = idx.shape[1]
            x = _to_unit(train_x[run_index, idx])
            if interpolation is not None:  # augment on the [0, 1] scale, so padding is black as in He et al.
                x = augment.apply_affine(
                    x.reshape(k_runs * b, c, h, w), theta[run_index, idx].reshape(-1, 2, 3), interpolation
                ).reshape(k_runs, b, c, h, w)
            labels, targets = train_y[run_index, idx], []
            if recipe.batch_transform is not None:
                x, targets = recipe.batch_transform(x, labels, generators)
            done = (epoch * steps_per_epoch + step) / (recipe.epochs * steps_per_epoch)
            batch = Batch(normalise(x), labels, train_g[run_index, idx], idx, done, targets)
            with _autocast(device, precision):
                losses = objective.loss(forward, extra, batch)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            trained = [(p, d) for p, d in zip(params, decays, strict=True) if p.grad is not None]
            with torch.no_grad():  # coupled L2 per run: grad += λ_k · w, what SGD's weight_decay does for one run
                torch._foreach_addcmul_([p.grad for p, _ in trained], [p for p, _ in trained], [d for _, d in trained])
            optimizer.step()
            epoch_loss += losses.detach() * b
            if progress is not None:
                progress(k_runs * b)
        last_loss = (epoch_loss / n_train).cpu()
        event = EpochEnd(epoch + 1, optimizer.param_groups[0]["lr"], last_loss, evaluate, model)
        for callback in callbacks:
            callback(event)
        if checkpoint is not None and epoch + 1 < recipe.epochs and checkpoint.due():
            checkpoint.save(
                {
                    "epoch": epoch + 1,
                    "train_loss": last_loss,
                    "model": model.state_dict(),
                    "extra": _module_state(extra),
                    "objective": objective.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generators": [g.get_state() for g in generators],
                    "callbacks": [cb.state_dict() for cb in stateful],
                }
            )

    outputs = {split: evaluate(split) for split in evaluate_on}
    seconds = time.perf_counter() - start
    speed = {"precision": precision, "channels_last": channels_last, "compile": recipe.compile}
    if model.weights_note:  # e.g. "no ImageNet weights in …: seeded initialisation"
        speed["weights"] = model.weights_note
    if state is not None:
        speed["resumed_from_epoch"] = first_epoch
    return [
        RunOutput(
            {split: select_run(out, k) for split, out in outputs.items()},
            float(last_loss[k]),
            seconds,
            speed,
            run_state(model, k, k_runs) if keep_model else None,
        )
        for k in range(k_runs)
    ]
