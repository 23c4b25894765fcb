"""The results store: one JSON record per run, keyed by a hash of the run's full configuration.

Layout: ``<root>/<key>.json``, ``<root>/<key>.outputs.npz`` when a run keeps its per-example outputs, plus
``<root>/<key>.running`` while a process trains that run (its host and
process id; a marker left by a killed process on this host is ignored). A record is written to a temporary
file in the same folder and renamed into place (``os.replace`` is atomic on POSIX), so a reader never sees half
a record and concurrent writers never corrupt each other. Records are plain JSON: ``ResultsStore(root).frame()`` or
``pandas.json_normalize([json.load(open(f)) for f in glob(root + '/*.json')])`` opens them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ResultsStore", "config_key", "default_store_root", "STATES"]

STATES = ("done", "failed", "running", "pending")


def config_key(config: dict) -> str:
    """A stable key of a configuration: SHA-256 of its canonical JSON, 20 hex digits."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def default_store_root() -> Path:
    """``$REPROLIB_RESULTS``, or ``results/`` at the project's root (where the book's notebooks run)."""
    return Path(os.environ.get("REPROLIB_RESULTS", Path(__file__).resolve().parent.parent / "results"))


class ResultsStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_store_root()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self.path(key).read_text())
        except FileNotFoundError:
            return None

    def is_done(self, key: str) -> bool:
        record = self.get(key)
        return record is not None and record.get("status") == "done"

    def put(self, record: dict) -> None:
        """Write one record atomically; a record with the same key is replaced."""
        self._write_atomically(self.path(record["key"]), record)

    def _write_atomically(self, path: Path, content: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(content, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def outputs_path(self, key: str) -> Path:
        return self.root / f"{key}.outputs.npz"

    def put_outputs(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        """Store a run's per-example outputs (named arrays, e.g. ``test/probs``) beside its record, compressed and
        written atomically; returns the file's path."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.replace(tmp, self.outputs_path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.outputs_path(key)

    def get_outputs(self, key: str) -> dict[str, np.ndarray]:
        """A run's stored per-example outputs (``RunSpec(keep_outputs=True)``); {} when none were kept."""
        try:
            with np.load(self.outputs_path(key)) as data:
                return {name: data[name] for name in data.files}
        except FileNotFoundError:
            return {}

    def marker_path(self, key: str) -> Path:
        return self.root / f"{key}.running"

    @contextlib.contextmanager
    def running(self, keys: Iterable[str]) -> Iterator[None]:
        """Mark ``keys`` as being trained by this process for the duration of the block."""
        keys = list(keys)
        marker = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": time.time()}
        marker["job"] = os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")
        for key in keys:
            self._write_atomically(self.marker_path(key), marker)
        try:
            yield
        finally:
            for key in keys:
                self.marker_path(key).unlink(missing_ok=True)

    def is_running(self, key: str) -> bool:
        """Whether a live process holds the run's marker (a dead process's marker on this host does not count)."""
        try:
            marker = json.loads(self.marker_path(key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        if marker.get("host") != socket.gethostname():
            return True  # another node of a cluster: trust the marker
        try:
            os.kill(marker["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def state(self, key: str) -> str:
        """One of ``STATES``: done, failed (and not being retried), running, or pending."""
        record = self.get(key)
        if record is not None and record.get("status") == "done":
            return "done"
        if self.is_running(key):
            return "running"
        return "failed" if record is not None else "pending"

    def records(self, keys: Iterable[str] | None = None) -> list[dict]:
        if keys is None:
            paths = (
                sorted(p for p in self.root.glob("*.json") if not p.name.startswith(".")) if self.root.exists() else []
            )
            return [json.loads(p.read_text()) for p in paths]
        return [r for r in (self.get(k) for k in keys) if r is not None]

    def frame(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Finished runs as a flat table: ``config.*`` and ``metrics.*`` columns, curves left nested."""
        records = [r for r in self.records(keys) if r.get("status") == "done"]
        if not records:
            return pd.DataFrame()
        flat = pd.json_normalize([{k: v for k, v in r.items() if k != "curves"} for r in records])
        flat["curves"] = [r.get("curves", []) for r in records]
        return flat
