"""The results store: one JSON record per run, keyed by a hash of the run's full configuration.

Layout: ``<root>/<key>.json``, ``<root>/<key>.outputs.npz`` when a run keeps its per-example outputs, plus
``<root>/<key>.running`` while a process trains that run. A record is written to a temporary file in the same
folder and renamed into place (``os.replace`` is atomic on POSIX), so a reader never sees half a record and
concurrent writers never corrupt each other. Records are plain JSON: ``ResultsStore(root).frame()`` or
``pandas.json_normalize([json.load(open(f)) for f in glob(root + '/*.json')])`` opens them.

Liveness: a marker holds its writer's host, process id and a heartbeat, a timestamp that a thread of the writer
renews every ``HEARTBEAT_SECONDS`` (60 s; ``$REPROLIB_HEARTBEAT_SECONDS`` overrides it; the marker records its
interval). A marker is stale when its process is dead on this host, or, whatever the host, when its heartbeat is
older than ``STALE_BEATS`` (10) of its intervals: 10 minutes by default, so a job killed without cleaning up (OOM
killer, node failure, SIGKILL) frees its runs 10 minutes later (the nodes' clocks must agree to within minutes). A
stale marker is removed when seen (only if unchanged since read) and its run counts as pending again, so a sweep
or a launcher trains it anew; a live marker from another host is trusted.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ResultsStore",
    "config_key",
    "default_store_root",
    "current_store",
    "using_store",
    "RESULTS_ONLY",
    "STATES",
    "HEARTBEAT_SECONDS",
    "STALE_BEATS",
]

STATES = ("done", "failed", "running", "pending")
HEARTBEAT_SECONDS = 60.0  # how often a training process renews its markers ($REPROLIB_HEARTBEAT_SECONDS overrides)
STALE_BEATS = 10  # a marker whose heartbeat is older than this many of its intervals is stale
RESULTS_ONLY = "REPROLIB_RESULTS_ONLY"  # set by `reprolib book`, `batch`, and `run` with submitit: never compute


def config_key(config: dict) -> str:
    """A stable key of a configuration: SHA-256 of its canonical JSON, 20 hex digits."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def _heartbeat_seconds() -> float:
    value = os.environ.get("REPROLIB_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"REPROLIB_HEARTBEAT_SECONDS must be a positive number of seconds, got {value!r}")
    return seconds


def _is_stale(marker: dict) -> bool:
    """A marker whose heartbeat is too old, or whose process is dead on this host."""
    age = time.time() - marker.get("heartbeat", 0)
    if age > STALE_BEATS * marker.get("heartbeat_seconds", HEARTBEAT_SECONDS):
        return True
    if marker.get("host") != socket.gethostname():
        return False  # another node of a cluster, heartbeat fresh: trust the marker
    try:
        os.kill(marker["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


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
        """Mark ``keys`` as being trained by this process for the duration of the block, with a heartbeat."""
        keys = list(keys)
        interval = _heartbeat_seconds()
        marker = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": time.time()}
        marker["job"] = os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")
        marker["heartbeat_seconds"] = interval

        def beat() -> None:
            marker["heartbeat"] = time.time()
            for key in keys:
                self._write_atomically(self.marker_path(key), marker)

        beat()
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(interval):
                with contextlib.suppress(OSError):  # e.g. a shared file system's hiccup: try at the next beat
                    beat()

        thread = threading.Thread(target=heartbeat, name="reprolib-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            for key in keys:
                self.marker_path(key).unlink(missing_ok=True)

    def is_running(self, key: str) -> bool:
        """Whether a live process holds the run's marker; a stale marker (see the module) is removed."""
        try:
            text = self.marker_path(key).read_text()
            marker = json.loads(text)
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        if not _is_stale(marker):
            return True
        self._reclaim(key, text)
        return False

    def _reclaim(self, key: str, stale: str) -> None:
        """Remove the run's marker if it still reads ``stale``. It is first renamed aside (atomic), so that a marker
        its live writer renewed since it was read is put back, not lost."""
        path = self.marker_path(key)
        aside = self.root / f".{key}.{socket.gethostname()}.{os.getpid()}.{threading.get_ident()}.reclaim"
        try:
            os.rename(path, aside)
        except FileNotFoundError:  # removed meanwhile (its writer finished, or another reader reclaimed it)
            return
        if aside.read_text() == stale:
            aside.unlink()
        else:
            os.replace(aside, path)

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


_CURRENT: contextvars.ContextVar[ResultsStore | None] = contextvars.ContextVar("reprolib_store", default=None)


def current_store() -> ResultsStore:
    """The store of the sweep or chapter run in progress (``using_store``), else the default store: what a task
    builder or a chapter reads stored artifacts and outputs from."""
    return _CURRENT.get() or ResultsStore()


@contextlib.contextmanager
def using_store(store: ResultsStore) -> Iterator[ResultsStore]:
    """Make ``store`` the ``current_store()`` for the duration of the block."""
    token = _CURRENT.set(store)
    try:
        yield store
    finally:
        _CURRENT.reset(token)
