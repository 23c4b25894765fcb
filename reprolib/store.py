"""The results store: one JSON record per run, keyed by a hash of the run's full configuration.

Layout: ``<root>/<key>.json``. A record is written to a temporary file in the same folder and renamed into
place (``os.replace`` is atomic on POSIX), so a reader never sees half a record and concurrent writers never
corrupt each other. Records are plain JSON: ``ResultsStore(root).frame()`` or
``pandas.json_normalize([json.load(open(f)) for f in glob(root + '/*.json')])`` opens them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

__all__ = ["ResultsStore", "config_key", "default_store_root"]


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
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(record["key"]))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
