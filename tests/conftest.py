import pytest


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """A fresh results store, also seen by subprocesses and notebooks through $REPROLIB_RESULTS."""
    path = tmp_path / "results"
    monkeypatch.setenv("REPROLIB_RESULTS", str(path))
    return path
