"""Stored artifacts: computed once per configuration, read afterwards, in the store of the run in progress."""

import dataclasses
import threading

import numpy as np
import pytest

from reprolib.artifacts import (
    ArtifactMissing,
    ArtifactSpec,
    artifact_key,
    artifact_store,
    load_artifact,
    register_artifact,
)
from reprolib.papers.hall.protocol import inversion_run, recipe_for
from reprolib.papers.hall.tasks import InversionTask
from reprolib.specs import SpecError, check_range, register_task
from reprolib.store import RESULTS_ONLY, ResultsStore, current_store, using_store
from reprolib.sweep import run_sweep

CALLS: list[tuple] = []


@register_artifact("test_noise")
@dataclasses.dataclass(frozen=True)
class Noise(ArtifactSpec):
    """Seeded Gaussian noise; counts its computations in CALLS."""

    seed: int = 0
    size: int = 5

    def validate(self):
        check_range("size", self.size, 1, 1000, integer=True)

    def compute(self, data_root):
        CALLS.append((self.seed, self.size))
        return {"noise": np.random.default_rng(self.seed).normal(size=self.size)}


@pytest.fixture(autouse=True)
def _no_calls():
    CALLS.clear()


def test_an_artifact_is_computed_once_then_read(tmp_path):
    store = ResultsStore(tmp_path)
    first = load_artifact(Noise(seed=3), store)
    second = load_artifact(Noise(seed=3), store)
    assert CALLS == [(3, 5)]
    np.testing.assert_array_equal(first["noise"], np.random.default_rng(3).normal(size=5))
    np.testing.assert_array_equal(second["noise"], first["noise"])
    record = artifact_store(store).get(artifact_key(Noise(seed=3)))
    assert record["status"] == "done" and record["config"]["artifact"]["seed"] == 3


def test_every_field_is_part_of_the_key(tmp_path):
    store = ResultsStore(tmp_path)
    load_artifact(Noise(seed=3), store)
    load_artifact(Noise(seed=4), store)
    load_artifact(Noise(seed=3, size=6), store)
    assert CALLS == [(3, 5), (4, 5), (3, 6)]
    assert len({artifact_key(Noise(seed=s, size=n)) for s, n in CALLS}) == 3


def test_force_computes_again(tmp_path):
    store = ResultsStore(tmp_path)
    load_artifact(Noise(), store)
    load_artifact(Noise(), store, force=True)
    assert CALLS == [(0, 5), (0, 5)]


def test_results_only_mode_never_computes(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ONLY, "1")
    with pytest.raises(ArtifactMissing, match=r"artifact test_noise \(\w+\) is not in the store"):
        load_artifact(Noise(), ResultsStore(tmp_path))
    assert CALLS == []


def test_a_bad_field_is_one_line_before_computing():
    with pytest.raises(SpecError, match=r"^size must be an integer in \[1, 1000\], got 0$"):
        Noise(size=0)


def test_a_process_waits_for_the_one_computing_and_reads_its_result(tmp_path, monkeypatch):
    monkeypatch.setattr("reprolib.artifacts.POLL_SECONDS", 0.01)
    store = ResultsStore(tmp_path)
    arts, key = artifact_store(store), artifact_key(Noise(seed=9))
    got = {}
    with arts.running([key]):  # another computation of the same artifact is under way
        reader = threading.Thread(target=lambda: got.update(load_artifact(Noise(seed=9), store)))
        reader.start()
        reader.join(0.2)
        assert reader.is_alive() and CALLS == []  # it waits rather than computing a second time
        arts.put_outputs(key, {"noise": np.arange(3.0)})
        arts.put({"key": key, "status": "done"})
    reader.join(5)
    np.testing.assert_array_equal(got["noise"], np.arange(3.0))
    assert CALLS == []


@register_task("test_task_with_artifact")
@dataclasses.dataclass(frozen=True)
class TaskWithArtifact(InversionTask):
    """An inversion task whose builder loads an artifact, as a poisoned task loads its crafted poisons."""

    def build(self, data_root):
        load_artifact(Noise(seed=self.seed))
        return super().build(data_root)


def test_a_task_builder_reads_artifacts_from_the_store_of_its_sweep(tmp_path, store_dir):
    recipe = recipe_for("digits", epochs=1).with_(precision="fp32", channels_last=False)
    spec = inversion_run("digits", "resnet8", 0.25, 0, recipe, width=4)
    spec = dataclasses.replace(spec, task=TaskWithArtifact(**dataclasses.asdict(spec.task)))
    store = ResultsStore(tmp_path / "sweep")
    run_sweep([spec], store, progress=False)
    assert store.is_done(spec.key)
    assert artifact_store(store).is_done(artifact_key(Noise(seed=spec.task.seed)))
    assert not (store_dir / "artifacts").exists()  # not the default store


def test_using_store_sets_and_restores_the_current_store(tmp_path, store_dir):
    assert current_store().root == store_dir
    with using_store(ResultsStore(tmp_path)):
        assert current_store().root == tmp_path
    assert current_store().root == store_dir
