"""Sweeps: run specifications → grouped multi-run training → one stored record per finished run.

A ``RunSpec`` is the full configuration of one training run. ``run_sweep`` skips the runs already in the
store, groups the others that can share one multi-run model (same data shapes, architecture and recipe; they
may differ in seed, ε, η, class/group roles and weight decay), trains each group, and stores every run of a
group as soon as the group finishes. Killing a sweep loses at most the group in flight.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import metrics as M
from .celeba import make_celeba_task
from .cifar_i import load_cinic_imagenet, make_domain_skew_task
from .methods import create_objective
from .skew_tasks import aligned_mask, load_skew_source, make_colour_skew_task, make_grey_colour_task, validation_source
from .sources import load_source
from .store import ResultsStore, config_key
from .tasks import Task, make_inversion_task, make_overlay_task
from .training import EpochEnd, Recipe, train_runs

__all__ = [
    "RunSpec",
    "run_sweep",
    "build_task",
    "TASK_BUILDERS",
    "RUN_METRICS",
    "run_metrics",
    "resolve_device",
    "group_key",
    "objective_for",
    "compatible_groups",
    "pending_specs",
    "balanced_chunks",
    "record_failure",
]


def _inversion(spec: dict, data_root) -> Task:
    source = load_source(spec["dataset"], root=data_root)
    return make_inversion_task(
        source, spec["eps"], spec["seed"], spec.get("swap_roles", False), spec.get("train_fraction", 1.0)
    )


def _overlay(spec: dict, data_root) -> Task:
    source = load_source(spec["dataset"], root=data_root)
    return make_overlay_task(source, spec["eta"], spec["eps"], spec["seed"])


def _skew_source(spec: dict, data_root):
    """The task's image source; with ``"split": "validation"`` its test split is held out of its training split."""
    source = load_skew_source(spec["dataset"], root=data_root)
    return validation_source(source, spec["seed"]) if spec.get("split") == "validation" else source


def _colour_skew(spec: dict, data_root) -> Task:
    source = _skew_source(spec, data_root)
    return make_colour_skew_task(source, spec["skew"], spec["seed"], spec.get("perturbation", 0.05))


def _grey_colour(spec: dict, data_root) -> Task:
    source = _skew_source(spec, data_root)
    return make_grey_colour_task(source, spec["skew"], spec["seed"], spec.get("binary", False))


def _domain_skew(spec: dict, data_root) -> Task:
    """CIFAR-I: ``dataset`` (CIFAR-10) against CINIC-10's ImageNet images; a validation task holds out both."""
    source, other = load_skew_source(spec["dataset"], root=data_root), load_cinic_imagenet(data_root)
    if spec.get("split") == "validation":
        source, other = validation_source(source, spec["seed"]), validation_source(other, spec["seed"])
    return make_domain_skew_task(source, other, spec["skew"], spec["seed"])


def _celeba(spec: dict, data_root) -> Task:
    root = spec.get("root") or data_root
    return make_celeba_task(spec["target"], spec.get("image_size", 64), root, spec.get("split", "test"))


TASK_BUILDERS: dict[str, Callable[[dict, Path | None], Task]] = {
    "inversion": _inversion,
    "overlay": _overlay,
    "colour_skew": _colour_skew,
    "grey_colour": _grey_colour,
    "domain_skew": _domain_skew,
    "celeba": _celeba,
}

# Fields that may differ between runs trained together in one multi-run model.
PER_RUN_FIELDS = {
    "seed": None,
    "task": {"seed", "eps", "eta", "swap_roles", "skew"},
    "recipe": {"weight_decay"},
    "method": {"lambda"},
}


@dataclass(frozen=True)
class RunSpec:
    task: dict  # {"builder": "inversion", "dataset": ..., "eps": ..., "seed": ..., ...}
    model: dict  # {"name": "resnet_cifar", "depth": 20, "width": 16}
    recipe: Recipe
    seed: int  # model initialisation, data order and augmentation
    curves: bool = False  # evaluate on the test set after every epoch
    tags: dict = field(default_factory=dict)  # chapter bookkeeping, not part of the key
    method: dict | None = None  # a debiasing method (reprolib.methods); None: the default binary objective

    def config(self) -> dict:
        config = {
            "task": self.task,
            "model": self.model,
            "recipe": self.recipe.to_dict(),
            "seed": self.seed,
            "curves": self.curves,
        }
        if self.method is not None:  # absent by default, so the keys of earlier runs do not change
            config["method"] = self.method
        return config

    @property
    def key(self) -> str:
        return config_key(self.config())

    def to_dict(self) -> dict:
        return {**self.config(), "tags": self.tags}

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        """The inverse of ``to_dict`` (a spec read back from JSON has the same key)."""
        return cls(
            values["task"],
            values["model"],
            Recipe.from_dict(values["recipe"]),
            values["seed"],
            values.get("curves", False),
            values.get("tags", {}),
            values.get("method"),
        )


def group_key(spec: RunSpec) -> str:
    config = spec.config()
    config.pop("seed")
    config["task"] = {k: v for k, v in config["task"].items() if k not in PER_RUN_FIELDS["task"]}
    config["recipe"] = {k: v for k, v in config["recipe"].items() if k not in PER_RUN_FIELDS["recipe"]}
    if "method" in config:
        config["method"] = {k: v for k, v in config["method"].items() if k not in PER_RUN_FIELDS["method"]}
    return json.dumps(config, sort_keys=True)


def pending_specs(specs: Sequence[RunSpec], store: ResultsStore) -> list[RunSpec]:
    """The specs whose runs are not finished in ``store``, each key once, in order."""
    return list({s.key: s for s in specs if not store.is_done(s.key)}.values())


def compatible_groups(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """``specs`` grouped by ``group_key``: the runs of one group can be trained together in one multi-run model."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    return list(groups.values())


@functools.lru_cache(maxsize=64)
def _cached_task(task_json: str, data_root: str | None) -> Task:
    spec = json.loads(task_json)
    builder = spec.get("builder", "inversion")
    if builder not in TASK_BUILDERS:
        raise ValueError(f"unknown task builder {builder!r}; accepted: {', '.join(TASK_BUILDERS)}")
    return TASK_BUILDERS[builder](spec, Path(data_root) if data_root else None)


def build_task(task_spec: dict, data_root: str | Path | None = None) -> Task:
    return _cached_task(json.dumps(task_spec, sort_keys=True), str(data_root) if data_root else None)


def run_metrics(task: Task, outputs) -> dict:
    """The metrics every run record carries, measured on the test split, chosen by the task's kind
    (``task.info["kind"]``; Hall et al.'s binary metrics by default)."""
    return RUN_METRICS[task.info.get("kind", "inversion")](task, outputs)


def _skew_metrics(task: Task, outputs: dict) -> dict:
    """Kurmi et al. (2022): for each test protocol the method reports, accuracy on the whole (unbiased) test
    split and on its bias-aligned and bias-conflicting parts, their mean and gap, and that mean per class
    (``class_mean``, the blocks of the Friedman test of Fig. 5); the discriminator's accuracy
    on the bias attribute, on aligned and conflicting images, when the method has a discriminator."""
    test = task.test
    aligned = aligned_mask(task)
    metrics = {"protocols": {}}
    for key, preds in outputs.items():
        if key.startswith("pred_"):
            per_class = [
                M.bias_conflict_accuracy(test.labels[c], preds[c], aligned[c])["mean"]
                for c in (test.labels == k for k in range(task.info["num_classes"]))
            ]
            metrics["protocols"][key[len("pred_") :]] = {
                "accuracy": M.accuracy(test.labels, preds),
                **M.bias_conflict_accuracy(test.labels, preds, aligned),
                "class_mean": per_class,
            }
    if "bias_pred" in outputs:
        correct = (outputs["bias_pred"] == test.groups).float()
        metrics["discriminator"] = {
            "accuracy": float(correct.mean()),
            "aligned": float(correct[aligned].mean()),
            "conflicting": float(correct[~aligned].mean()),
        }
    return metrics


def _inversion_metrics(task: Task, probs: torch.Tensor) -> dict:
    """Hall et al. §2.1: accuracy, BiasAmp, ECE and per-cell accuracy of the binary classifier."""
    test = task.test
    preds = (probs > 0.5).long()
    cells = M.cell_accuracy(test.groups, test.labels, preds)
    return {
        "accuracy": M.accuracy(test.labels, preds),
        "bias_amplification": M.bias_amplification(test.groups, test.labels, preds),
        "ece": M.expected_calibration_error(probs, test.labels),
        "cell_accuracy": {f"t{t}_a{a}": v for (t, a), v in cells.items()},
    }


RUN_METRICS: dict[str, Callable[[Task, object], dict]] = {"inversion": _inversion_metrics, "skew": _skew_metrics}


def objective_for(group: Sequence[RunSpec], tasks: Sequence[Task]):
    """The training objective of a group of runs: the default (None) or its method's (``reprolib.methods``)."""
    if group[0].method is None:
        return None
    return create_objective([s.method for s in group], tasks)


def resolve_device(device: str) -> torch.device:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use device=cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _environment(device: torch.device, k_runs: int) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {
        "device": device.type,
        "device_name": name,
        "torch": torch.__version__,
        "code": _code_version(),
        "runs_in_group": k_runs,
        "threads": torch.get_num_threads(),
    }


def default_group_size(device: torch.device, spec: RunSpec, task: Task, pending: int) -> int:
    """How many runs to train at once: on a GPU as many as fit in 70% of free memory (estimated from one
    probe step of a single run), on a CPU up to 8 (throughput barely grows beyond; smaller groups store
    results sooner)."""
    if device.type != "cuda":
        return min(pending, 8)
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    probe = spec.recipe.with_(epochs=1, warmup_epochs=0)
    small = _probe_task(task, probe.batch_size)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    train_runs([small], spec.model, probe, [0], device=device, objective=objective_for([spec], [small]))
    per_run = torch.cuda.max_memory_allocated(device) - before + task.train.images.numel() + task.test.images.numel()
    return max(1, min(pending, 64, int(0.7 * free / max(per_run, 1))))


def _group_size_override() -> int | None:
    """``$REPROLIB_GROUP_SIZE``: runs per multi-run model, overriding the automatic choice."""
    value = os.environ.get("REPROLIB_GROUP_SIZE")
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"REPROLIB_GROUP_SIZE must be a positive integer, got {value!r}")
    return int(value)


def _probe_task(task: Task, batch: int) -> Task:
    index = torch.arange(min(batch, len(task.train)))
    return Task(task.name, task.train.subset(index), task.test.subset(index[:8]), task.mean, task.std, task.info)


class _CurveRecorder:
    """Per-epoch test metrics of every run of a group (Hall et al. RQ5)."""

    def __init__(self, tasks: Sequence[Task]):
        self.tasks = tasks
        self.curves: list[list[dict]] = [[] for _ in tasks]

    def __call__(self, event: EpochEnd) -> None:
        outputs = event.evaluate()
        for k, task in enumerate(self.tasks):
            point = {"epoch": event.epoch, "lr": event.lr, "train_loss": float(event.train_loss[k])}
            self.curves[k].append({**point, **run_metrics(task, _run_slice(outputs, k))})


def _run_slice(outputs, k: int):
    """Run k's part of a group's test outputs (a (K, N) tensor or a dict of them)."""
    if isinstance(outputs, dict):
        return {key: value[k].cpu() for key, value in outputs.items()}
    return outputs[k].cpu()


def _train_group(group: list[RunSpec], tasks: list[Task], device, store: ResultsStore, bar) -> None:
    recorder = _CurveRecorder(tasks) if group[0].curves else None
    outputs = train_runs(
        tasks,
        group[0].model,
        group[0].recipe,
        [s.seed for s in group],
        weight_decays=[s.recipe.weight_decay for s in group],
        device=device,
        callbacks=[recorder] if recorder else [],
        progress=bar.update,
        objective=objective_for(group, tasks),
    )
    environment = _environment(device, len(group))
    for k, (spec, task, out) in enumerate(zip(group, tasks, outputs, strict=True)):
        store.put(
            {
                "key": spec.key,
                "status": "done",
                "config": spec.config(),
                "tags": spec.tags,
                "metrics": {**run_metrics(task, out.test_probs), "train_loss": out.train_loss},
                "curves": recorder.curves[k] if recorder else [],
                "environment": {**environment, **out.extras, "seconds": out.seconds},
                "finished_at": time.time(),
            }
        )


def balanced_chunks(items: Sequence, size: int) -> list[list]:
    """``items`` in order, cut into as few chunks of at most ``size`` as possible, of sizes differing by at most
    one: 10 runs in groups of 8 train as 5 + 5, not 8 + 2 (a small group wastes the multi-run model)."""
    n_chunks = -(-len(items) // size)
    base, extra = divmod(len(items), n_chunks)
    bounds = [i * base + min(i, extra) for i in range(n_chunks + 1)]
    return [list(items[bounds[i] : bounds[i + 1]]) for i in range(n_chunks)]


def run_sweep(
    specs: Sequence[RunSpec],
    store: ResultsStore,
    device: str = "cpu",
    group_size: int | None = None,
    data_root: str | Path | None = None,
    progress: bool = True,
) -> list[str]:
    """Train every spec not yet in ``store``; returns the keys of all specs (finished or failed).

    A group that raises is recorded as failed (error and traceback in each of its runs' records) and the sweep
    goes on with the next group.
    """
    device = resolve_device(device)
    keys = [s.key for s in specs]
    buildable: list[RunSpec] = []
    tasks: dict[str, Task] = {}
    for spec in pending_specs(specs, store):
        try:
            tasks[spec.key] = build_task(spec.task, data_root)
        except Exception as error:  # e.g. a data set that is not on disk: recorded, the others go on
            record_failure(store, [spec], error)
            continue
        buildable.append(spec)
    total = sum(len(tasks[s.key].train) * s.recipe.epochs for s in buildable)
    with tqdm(
        total=total,
        unit="img",
        unit_scale=True,
        disable=not progress,
        desc=f"{len(buildable)} of {len(specs)} runs to train",
    ) as bar:
        for members in compatible_groups(buildable):
            size = (
                group_size
                or _group_size_override()
                or default_group_size(device, members[0], tasks[members[0].key], len(members))
            )
            for group in balanced_chunks(members, size):
                try:
                    with store.running([s.key for s in group]):
                        _train_group(group, [tasks[s.key] for s in group], device, store, bar)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as error:  # recorded, then the sweep goes on
                    record_failure(store, group, error)
    return keys


def record_failure(
    store: ResultsStore, specs: Sequence[RunSpec], error: BaseException, trace: str | None = None
) -> None:
    """Store each of ``specs`` as failed, with the error and its traceback (by default, the one being handled)."""
    trace = trace if trace is not None else traceback.format_exc()
    for spec in specs:
        store.put(
            {
                "key": spec.key,
                "status": "failed",
                "config": spec.config(),
                "tags": spec.tags,
                "error": f"{type(error).__name__}: {error}",
                "traceback": trace,
                "finished_at": time.time(),
            }
        )
