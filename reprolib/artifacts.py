"""Stored computations that are not training runs: attackers fitted on a model's stored logits, crafted poisons,
crafted images, samples of a descriptive model. Each is a typed spec whose fields are its whole configuration;
``load_artifact`` computes it once and afterwards reads it from the store, like a run.

An artifact lives in the store's ``artifacts/`` folder, itself a ``ResultsStore``: ``<key>.json`` (its config, how
long it took) and ``<key>.outputs.npz`` (its arrays), both written atomically, with the heartbeat marker of a run
while a process computes it, so two processes never compute the same artifact (the second waits and reads) and
an interrupted computation is reclaimed like an interrupted run. With ``$REPROLIB_RESULTS_ONLY`` set (the book's
render), a missing artifact raises ``ArtifactMissing`` instead of being computed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from .registry import Registry
from .specs import Spec, _registrar
from .store import RESULTS_ONLY, ResultsStore, config_key, current_store

__all__ = [
    "ArtifactSpec",
    "ArtifactMissing",
    "ARTIFACTS",
    "ARTIFACTS_VERSION",
    "register_artifact",
    "artifact_key",
    "artifact_store",
    "load_artifact",
]

ARTIFACTS: Registry = Registry("artifact")
register_artifact = _registrar(ARTIFACTS)
ARTIFACTS_VERSION = 1  # the layout of stored artifacts; part of every key
POLL_SECONDS = 2.0  # how often a process waiting for another's computation looks again


class ArtifactMissing(RuntimeError):
    """An artifact is not in the store and computing is switched off (``$REPROLIB_RESULTS_ONLY``)."""


@dataclasses.dataclass(frozen=True)
class ArtifactSpec(Spec):
    """A stored computation: ``compute(data_root)`` → named arrays, determined by the spec's fields (seeds
    included). A spec may nest another spec (field metadata ``{"spec": REGISTRY}``), e.g. the run it reads."""

    registry: ClassVar[Registry] = ARTIFACTS

    def compute(self, data_root: str | Path | None) -> dict[str, np.ndarray]:
        raise NotImplementedError


def artifact_key(spec: ArtifactSpec) -> str:
    return config_key({"artifact": spec.to_dict(), "artifacts_version": ARTIFACTS_VERSION})


def artifact_store(store: ResultsStore | None = None) -> ResultsStore:
    """The ``artifacts/`` store inside ``store`` (by default the ``current_store()``)."""
    return ResultsStore((store or current_store()).root / "artifacts")


def load_artifact(
    spec: ArtifactSpec, store: ResultsStore | None = None, data_root: str | Path | None = None, force: bool = False
) -> dict[str, np.ndarray]:
    """The arrays of ``spec``: read from the store, or computed (then stored) when absent or with ``force``."""
    arts, key = artifact_store(store), artifact_key(spec)
    while not force:
        if arts.is_done(key):
            return arts.get_outputs(key)
        if not arts.is_running(key):
            break
        time.sleep(POLL_SECONDS)  # another process computes it: wait, then read
    if os.environ.get(RESULTS_ONLY):
        raise ArtifactMissing(
            f"artifact {spec.name} ({key}) is not in the store {arts.root}; run the chapter (`reprolib run …`) first"
        )
    with arts.running([key]):
        start = time.time()
        arrays = spec.compute(data_root)
        arts.put_outputs(key, arrays)
        arts.put(
            {
                "key": key,
                "status": "done",
                "config": {"artifact": spec.to_dict(), "artifacts_version": ARTIFACTS_VERSION},
                "seconds": time.time() - start,
                "finished_at": time.time(),
            }
        )
    return {name: np.asarray(value) for name, value in arrays.items()}
