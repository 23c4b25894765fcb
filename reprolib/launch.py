"""Launchers: where the training runs of a sweep execute.

``local`` trains in this process (``run_sweep``). ``submitit-local`` and ``slurm`` hand each multi-run group
(``compatible_groups`` cut into ``balanced_chunks``, as ``run_sweep`` forms them) to submitit as one job — its local
executor on this machine, or Slurm on a cluster. A job reads its runs from a JSON file, trains them with
``run_sweep`` and writes every record into the shared results store: the store, not the jobs' return values,
is the result, so a job that dies loses only its own group and a rerun trains only what is missing. The parent
waits for the jobs (and records a job that crashed as failed), or returns at once with ``wait=False``.

A job is a ``TrainJob``, which submitit can checkpoint: on the signal that precedes a preemption or the time limit
(Slurm sends it 90 s before), submitit calls its ``checkpoint``, which resubmits the same call, and requeues the
job (after 3 timeouts it gives up). Every finished run is already in the store, so the requeued job trains only
the runs still missing. A run held by a live process elsewhere is not submitted; a stale marker (``store``: its
process dead, or its heartbeat 10 minutes old) holds nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import submitit

from .params import ParameterError
from .store import ResultsStore
from .sweep import RunSpec, balanced_chunks, compatible_groups, pending_specs, record_failure, run_sweep

__all__ = ["LAUNCHERS", "Launch", "launch", "TrainJob"]

LAUNCHERS = ("local", "submitit-local", "slurm")
POLL_SECONDS = 2.0  # how often the parent looks at its local jobs


@dataclass(frozen=True)
class Launch:
    """Where and how to train: the launcher and, for submitit, the resources of each job."""

    launcher: str = "local"
    partition: str | None = None  # Slurm partition
    gpus: int | None = None  # GPUs per job; default 1 when the device is cuda, else 0
    time_min: int = 60  # wall-clock limit of one job, minutes (the local executor's default would be 2)
    array_parallelism: int = 8  # jobs running at once (a Slurm job array's %N; the local executor likewise)
    cpus_per_job: int | None = None  # Slurm cpus-per-task, and the job's torch threads
    group_size: int | None = None  # runs per job; default: a compatible group, at most 8 (CPU) or 64 (GPU)
    wait: bool = True  # wait for the jobs (False: submit and return; submitit-local then starts all at once)
    log_dir: str | None = None  # submitit's shared folder; default <store>/submitit

    def __post_init__(self):
        checks = [
            (self.launcher in LAUNCHERS, f"launcher must be one of {', '.join(LAUNCHERS)}, got {self.launcher!r}"),
            (self.gpus is None or self.gpus >= 0, f"gpus must be an integer ≥ 0, got {self.gpus}"),
            (self.time_min >= 1, f"time must be a number of minutes ≥ 1, got {self.time_min}"),
            (self.array_parallelism >= 1, f"array-parallelism must be an integer ≥ 1, got {self.array_parallelism}"),
            (self.cpus_per_job is None or self.cpus_per_job >= 1, f"cpus must be ≥ 1, got {self.cpus_per_job}"),
            (self.group_size is None or self.group_size >= 1, f"group-size must be ≥ 1, got {self.group_size}"),
            (self.partition is None or self.launcher == "slurm", "partition applies to the slurm launcher only"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(message)


class TrainJob(submitit.helpers.Checkpointable):
    """One submitit job: train the runs listed in ``specs_file`` into the store; returns their states. Being
    ``Checkpointable``, a preempted or timed-out job is requeued with the same arguments."""

    def __call__(
        self,
        specs_file: str,
        store_root: str,
        device: str,
        group_size: int | None,
        data_root: str | None,
        threads: int | None,
        force: bool = False,
    ) -> dict[str, int]:
        import torch

        if threads:
            torch.set_num_threads(threads)
        specs = [RunSpec.from_dict(values) for values in json.loads(Path(specs_file).read_text())]
        store = ResultsStore(store_root)
        run_sweep(specs, store, device=device, group_size=group_size, data_root=data_root, progress=False, force=force)
        return dict(Counter(store.state(s.key) for s in specs))


def _executor(options: Launch, folder: Path, gpus: int):
    cluster = "local" if options.launcher == "submitit-local" else "slurm"
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    except RuntimeError as error:  # e.g. no srun on this machine
        raise ParameterError(f"launcher {options.launcher}: {error}") from None
    executor.update_parameters(name="reprolib", timeout_min=options.time_min, gpus_per_node=gpus)
    if cluster == "slurm":
        executor.update_parameters(slurm_array_parallelism=options.array_parallelism)
        if options.partition:
            executor.update_parameters(slurm_partition=options.partition)
        if options.cpus_per_job:
            executor.update_parameters(cpus_per_task=options.cpus_per_job)
    return executor


def _job_groups(
    specs: Sequence[RunSpec], store: ResultsStore, device: str, size: int | None, force: bool = False
) -> list[list[RunSpec]]:
    """The runs to train, one list per job: not done (unless ``force``) and not held by a live marker (a stale one
    is reclaimed)."""
    todo = [s for s in pending_specs(specs, store, force) if not store.is_running(s.key)]
    size = size or (64 if device.startswith("cuda") else 8)
    return [group for members in compatible_groups(todo) for group in balanced_chunks(members, size)]


def launch(
    specs: Sequence[RunSpec],
    store: ResultsStore,
    device: str = "cpu",
    options: Launch | None = None,
    data_root: str | Path | None = None,
    progress: bool = True,
    force: bool = False,
) -> list:
    """Train what ``specs`` lack in ``store`` (everything with ``force``) with ``options.launcher``; returns the
    submitit jobs (none locally)."""
    options = options or Launch()
    if options.launcher == "local":
        run_sweep(
            specs,
            store,
            device=device,
            group_size=options.group_size,
            data_root=data_root,
            progress=progress,
            force=force,
        )
        return []
    groups = _job_groups(specs, store, device, options.group_size, force)
    if not groups:
        return []
    folder = Path(options.log_dir) if options.log_dir else store.root / "submitit"
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    gpus = options.gpus if options.gpus is not None else int(device.startswith("cuda"))
    executor = _executor(options, folder, gpus)
    parallel = options.array_parallelism
    threads = options.cpus_per_job
    if threads is None and options.launcher == "submitit-local":  # the jobs alive share this machine's cores
        threads = max(1, (os.cpu_count() or 1) // min(parallel, len(groups)))
    arguments = []
    for group in groups:
        specs_file = folder / "specs" / f"{group[0].key}-{len(group)}.json"
        specs_file.write_text(json.dumps([s.to_dict() for s in group]))
        arguments.append(
            (str(specs_file), str(store.root), device, options.group_size, _str(data_root), threads, force)
        )
    if options.launcher == "slurm":
        with executor.batch():
            jobs = [executor.submit(TrainJob(), *args) for args in arguments]
    else:  # the local executor has no queue: keep at most `parallel` jobs alive (all start at once without wait)
        jobs = []
        for args in arguments:
            while options.wait and sum(not job.done() for job in jobs) >= parallel:
                time.sleep(POLL_SECONDS)
            jobs.append(executor.submit(TrainJob(), *args))
    if progress:
        print(f"submitted {len(jobs)} {options.launcher} jobs ({sum(map(len, groups))} runs); logs in {folder}")
    if options.wait:
        for job, group in zip(jobs, groups, strict=True):
            _collect(job, group, store)
    return jobs


def _collect(job, group: list[RunSpec], store: ResultsStore) -> None:
    """Wait for ``job``; if it crashed (killed, timed out, out of memory), record its unfinished runs as failed."""
    try:
        job.result()
    except Exception as error:
        unfinished = [s for s in group if not store.is_done(s.key)]
        record_failure(store, unfinished, error, trace=f"submitit job {job.job_id}:\n{error}")


def _str(path: str | Path | None) -> str | None:
    return str(path) if path is not None else None
