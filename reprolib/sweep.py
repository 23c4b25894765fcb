"""Sweeps: run specifications → grouped multi-run training → one stored record per finished run.

A ``RunSpec`` is the full configuration of one training run: typed task, model, recipe and method specs
(``specs.py``), the seed and what to evaluate. Its store key is the hash of the filled-in specs with their
versions and the trainer's, so a changed default or a bumped version never serves a stale result.

``run_sweep`` skips the runs already in the store, groups the others that can share one multi-run model (equal
specs except in each spec's ``per_run`` fields: seed, ε, η, weight decay, λ, …), builds the tasks of one group
at a time and releases them after it, trains the group, and stores every run of it as soon as it finishes.
Every few minutes a group's whole training state is checkpointed in the store (``checkpoints/``); a group
killed or preempted resumes from its checkpoint, so a kill loses at most the minutes since the last one.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .evaluation import evaluate_outputs
from .objectives import BinaryCE
from .specs import MethodSpec, ModelSpec, TaskSpec, strip_versions
from .store import ResultsStore, config_key, using_store
from .tasks import Task
from .training import TRAINER_VERSION, Checkpoint, EpochEnd, Recipe, select_run, train_runs

__all__ = [
    "RunSpec",
    "run_sweep",
    "build_task",
    "resolve_device",
    "group_key",
    "objective_for",
    "compatible_groups",
    "pending_specs",
    "balanced_chunks",
    "record_failure",
    "stale_keys",
    "CHECKPOINT_SECONDS",
]

CHECKPOINT_SECONDS = 300.0  # how often a group in training saves its state (``$REPROLIB_CHECKPOINT_SECONDS``)
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class RunSpec:
    """One training run. ``tags`` are a chapter's bookkeeping and not part of the key."""

    task: TaskSpec
    model: ModelSpec
    recipe: Recipe
    seed: int  # model initialisation, data order and augmentation
    method: MethodSpec = field(default_factory=BinaryCE)
    curves: bool = False  # evaluate on the test split after every epoch
    evaluate_on: tuple[str, ...] = ("test",)  # splits whose metrics the record carries
    keep_outputs: bool = False  # store every example's outputs on those splits beside the record
    tags: dict = field(default_factory=dict)

    def __post_init__(self):
        bad = [s for s in self.evaluate_on if s not in SPLITS]
        if bad or "test" not in self.evaluate_on:
            raise ValueError(
                f"evaluate_on must list splits of {', '.join(SPLITS)} including test, got {self.evaluate_on}"
            )

    def config(self) -> dict:
        return {
            "task": self.task.to_dict(),
            "model": self.model.to_dict(),
            "recipe": self.recipe.to_dict(),
            "method": self.method.to_dict(),
            "seed": self.seed,
            "curves": self.curves,
            "evaluate_on": list(self.evaluate_on),
            "keep_outputs": self.keep_outputs,
            "trainer": TRAINER_VERSION,
        }

    @functools.cached_property
    def key(self) -> str:
        return config_key(self.config())

    def to_dict(self) -> dict:
        return {**self.config(), "tags": self.tags}

    def with_tags(self, **tags) -> RunSpec:
        return replace(self, tags={**self.tags, **tags})

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        """The inverse of ``to_dict`` (a spec read back from JSON has the same key)."""
        return cls(
            TaskSpec.from_dict(values["task"]),
            ModelSpec.from_dict(values["model"]),
            Recipe.from_dict(values["recipe"]),
            values["seed"],
            MethodSpec.from_dict(values["method"]),
            values["curves"],
            tuple(values["evaluate_on"]),
            values["keep_outputs"],
            values.get("tags", {}),
        )


def group_key(spec: RunSpec) -> str:
    """Equal for runs that can train together in one multi-run model: every spec equal but its per-run fields."""
    config = spec.config()
    config.pop("seed")
    config["task"] = spec.task.shared()
    config["recipe"] = spec.recipe.shared()
    config["method"] = spec.method.shared()
    return json.dumps(config, sort_keys=True)


def pending_specs(specs: Sequence[RunSpec], store: ResultsStore, force: bool = False) -> list[RunSpec]:
    """The specs whose runs are not finished in ``store`` (all of them with ``force``), each key once, in order."""
    return list({s.key: s for s in specs if force or not store.is_done(s.key)}.values())


def compatible_groups(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """``specs`` grouped by ``group_key``: the runs of one group can be trained together in one multi-run model."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    return list(groups.values())


def build_task(task: TaskSpec, data_root: str | Path | None = None) -> Task:
    """The task a spec describes (its source decoded once per process: ``sources.load_source``)."""
    return task.build(Path(data_root) if data_root else None)


def stale_keys(specs: Sequence[RunSpec], store: ResultsStore) -> list[str]:
    """Stored records of the same runs as ``specs`` made by another version of a component (task, model, method,
    recipe or trainer): their keys differ from the current ones, so they are never served."""
    wanted = {config_key(strip_versions(s.config())): s.key for s in specs}
    stale = []
    for record in store.records():
        config = record.get("config")
        if not config:
            continue
        current = wanted.get(config_key(strip_versions(config)))
        if current is not None and current != record["key"]:
            stale.append(record["key"])
    return stale


def objective_for(group: Sequence[RunSpec], tasks: Sequence[Task]):
    """The training objective of a group of runs, made by its method spec."""
    return type(group[0].method).objective([s.method for s in group], tasks)


def resolve_device(device: str) -> torch.device:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use device=cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """The git commit of the code, with ``-dirty`` when tracked files differ from it."""
    here = Path(__file__).parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=here
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


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


CPU_GROUP_SIZE = 8  # runs at once on a CPU: throughput barely grows beyond, and smaller groups store results sooner


def gpu_group_size(device: torch.device, spec: RunSpec, task: Task, pending: int) -> int:
    """How many runs to train at once on a GPU: as many as fit in 70% of free memory, estimated from one probe
    step of a single run."""
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    probe = spec.recipe.with_(epochs=1, warmup_epochs=0)
    small = _probe_task(task, probe.batch_size)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    train_runs([small], spec.model, probe, [0], device=device, objective=objective_for([spec], [small]))
    per_run = torch.cuda.max_memory_allocated(device) - before + task.train.images.numel() + task.test.images.numel()
    return max(1, min(pending, 64, int(0.7 * free / max(per_run, 1))))


def _positive_int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _checkpoint_seconds() -> float:
    value = os.environ.get("REPROLIB_CHECKPOINT_SECONDS")
    if value is None:
        return CHECKPOINT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ValueError(f"REPROLIB_CHECKPOINT_SECONDS must be a number of seconds ≥ 0, got {value!r}")
    return seconds


def _probe_task(task: Task, batch: int) -> Task:
    index = torch.arange(min(batch, len(task.train)))
    return replace(task, train=task.train.subset(index), test=task.test.subset(index[:8]), validation=None)


class _CurveRecorder:
    """Per-epoch test metrics of every run of a group (Hall et al. RQ5); its state is checkpointed."""

    def __init__(self, tasks: Sequence[Task]):
        self.tasks = tasks
        self.curves: list[list[dict]] = [[] for _ in tasks]

    def __call__(self, event: EpochEnd) -> None:
        outputs = event.evaluate("test")
        for k, task in enumerate(self.tasks):
            point = {"epoch": event.epoch, "lr": event.lr, "train_loss": float(event.train_loss[k])}
            self.curves[k].append({**point, **evaluate_outputs(task, "test", select_run(outputs, k))})

    def state_dict(self) -> dict:
        return {"curves": self.curves}

    def load_state_dict(self, state: dict) -> None:
        self.curves = state["curves"]


def _arrays(outputs: dict) -> dict[str, np.ndarray]:
    """A run's outputs per split as flat named arrays, for the store's compact outputs file."""
    arrays = {}
    for split, value in outputs.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for name, tensor in items:
            array = tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
            arrays[f"{split}/{name}" if name else split] = array
    return arrays


def _train_group(group: list[RunSpec], tasks: list[Task], device, store: ResultsStore, bar) -> None:
    recorder = _CurveRecorder(tasks) if group[0].curves else None
    callbacks = [recorder] if recorder else []
    checkpoint = Checkpoint(
        store.root / "checkpoints" / f"{config_key([s.key for s in group])}.pt", _checkpoint_seconds()
    )
    outputs = train_runs(
        tasks,
        group[0].model,
        group[0].recipe,
        [s.seed for s in group],
        weight_decays=[s.recipe.weight_decay for s in group],
        device=device,
        callbacks=[*callbacks, lambda event: bar.update(len(group))],
        objective=objective_for(group, tasks),
        evaluate_on=group[0].evaluate_on,
        checkpoint=checkpoint,
    )
    bar.update(len(group) * outputs[0].extras.get("resumed_from_epoch", 0))
    environment = _environment(device, len(group))
    for k, (spec, task, out) in enumerate(zip(group, tasks, outputs, strict=True)):
        metrics = {split: evaluate_outputs(task, split, out.outputs[split]) for split in spec.evaluate_on}
        record = {
            "key": spec.key,
            "status": "done",
            "config": spec.config(),
            "tags": spec.tags,
            "metrics": {**metrics.pop("test"), "train_loss": out.train_loss},
            "split_metrics": metrics,
            "curves": recorder.curves[k] if recorder else [],
            "environment": {**environment, **out.extras, "seconds": out.seconds},
            "finished_at": time.time(),
        }
        if spec.keep_outputs:
            record["outputs"] = store.put_outputs(spec.key, _arrays(out.outputs)).name
        store.put(record)
    checkpoint.remove()


def balanced_chunks(items: Sequence, size: int) -> list[list]:
    """``items`` in order, cut into as few chunks of at most ``size`` as possible, of sizes differing by at most
    one: 10 runs in groups of 8 train as 5 + 5, not 8 + 2 (a small group wastes the multi-run model)."""
    n_chunks = -(-len(items) // size)
    base, extra = divmod(len(items), n_chunks)
    bounds = [i * base + min(i, extra) for i in range(n_chunks + 1)]
    return [list(items[bounds[i] : bounds[i + 1]]) for i in range(n_chunks)]


def _build_group(group: list[RunSpec], store: ResultsStore, data_root) -> tuple[list[RunSpec], list[Task]]:
    """The tasks of a group, built now; a run whose task cannot be built (e.g. its data set is not on disk) is
    recorded as failed and left out."""
    built, tasks = [], []
    for spec in group:
        try:
            tasks.append(build_task(spec.task, data_root))
        except Exception as error:
            record_failure(store, [spec], error)
            continue
        built.append(spec)
    return built, tasks


def run_sweep(
    specs: Sequence[RunSpec],
    store: ResultsStore,
    device: str = "cpu",
    group_size: int | None = None,
    data_root: str | Path | None = None,
    progress: bool = True,
    force: bool = False,
) -> list[str]:
    """Train every spec not yet in ``store`` (every spec with ``force``); returns the keys of all specs.

    Tasks are built one group at a time and released after it, so memory holds one group's data. A group that
    raises is recorded as failed (error and traceback in each of its runs' records) and the sweep goes on.
    """
    device = resolve_device(device)
    keys = [s.key for s in specs]
    todo = pending_specs(specs, store, force)
    total = sum(s.recipe.epochs for s in todo)
    desc = f"{len(todo)} of {len(specs)} runs to train"
    with using_store(store), tqdm(total=total, unit="run-epoch", disable=not progress, desc=desc) as bar:
        for members in compatible_groups(todo):
            size = group_size or _positive_int_env("REPROLIB_GROUP_SIZE")
            if size is None and device.type != "cuda":
                size = min(len(members), CPU_GROUP_SIZE)
            elif size is None:  # the GPU probe needs one task; only a GPU builds it ahead of its group
                first, first_tasks = _build_group(members[:1], store, data_root)
                size = gpu_group_size(device, first[0], first_tasks[0], len(members)) if first else CPU_GROUP_SIZE
                del first_tasks
            for chunk in balanced_chunks(members, size):
                group, tasks = _build_group(chunk, store, data_root)
                if not group:
                    continue
                try:
                    with store.running([s.key for s in group]):
                        _train_group(group, tasks, device, store, bar)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as error:  # recorded, then the sweep goes on
                    record_failure(store, group, error)
                del tasks
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
