import dataclasses
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref

import pytest

from reprolib.models import ResNetCifar
from reprolib.papers.hall.protocol import inversion_run, recipe_for
from reprolib.papers.hall.rq6 import overlay_run
from reprolib.papers.hall.tasks import InversionTask, make_inversion_task
from reprolib.papers.kurmi.methods import Adversarial
from reprolib.sources import SOURCES, load_source, register_source
from reprolib.specs import register_task
from reprolib.store import HEARTBEAT_SECONDS, STALE_BEATS, ResultsStore, config_key
from reprolib.sweep import RunSpec, balanced_chunks, group_key, run_sweep

RECIPE = recipe_for("digits", epochs=1).with_(precision="fp32", channels_last=False)


def specs(n_runs=2, eps=(0.1, 0.4)):
    return [inversion_run("digits", "resnet8", e, r, RECIPE, width=4) for e in eps for r in range(n_runs)]


def test_config_key_ignores_key_order():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_store_roundtrip_and_frame(tmp_path):
    store = ResultsStore(tmp_path)
    store.put({"key": "k1", "status": "done", "config": {"task": {"eps": 0.1}}, "metrics": {"accuracy": 0.9}})
    store.put({"key": "k2", "status": "failed", "config": {}, "error": "boom"})
    assert store.is_done("k1") and not store.is_done("k2") and store.get("nope") is None
    frame = store.frame()
    assert list(frame["key"]) == ["k1"] and frame.loc[0, "config.task.eps"] == 0.1
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_spec_read_back_from_json_has_the_same_key():
    spec = inversion_run("digits", "resnet8", 0.3, 4, RECIPE.with_(weight_decay=1e-3), width=4, curves=True)
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again.key == spec.key and again.tags == spec.tags
    with_method = dataclasses.replace(spec, method=Adversarial(lam=0.5))
    assert RunSpec.from_dict(json.loads(json.dumps(with_method.to_dict()))).key == with_method.key != spec.key


def test_a_run_is_running_while_marked_by_a_live_process_and_pending_after(tmp_path):
    store = ResultsStore(tmp_path)
    with store.running(["k1"]):
        assert store.state("k1") == "running"
    assert store.state("k1") == "pending" and not list(tmp_path.glob("*.running"))
    store.put({"key": "k1", "status": "failed", "config": {}, "error": "boom"})
    assert store.state("k1") == "failed"
    with store.running(["k1"]):  # a failed run being retried
        assert store.state("k1") == "running"


def test_a_marker_left_by_a_dead_process_does_not_count_as_running(tmp_path):
    store = ResultsStore(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with store.running(["k1", "k2"]):
        marker = json.loads(store.marker_path("k1").read_text())
        store.marker_path("k1").write_text(json.dumps({**marker, "pid": int(dead.stdout)}))
        store.marker_path("k2").write_text(json.dumps({**marker, "host": "another-node"}))
        assert store.state("k1") == "pending"
        assert store.state("k2") == "running"  # a cluster node's marker is trusted


def test_a_marker_whose_heartbeat_is_old_counts_as_pending_and_is_removed(tmp_path):
    store = ResultsStore(tmp_path)
    old = time.time() - STALE_BEATS * HEARTBEAT_SECONDS - 5
    for key, host in (("here", socket.gethostname()), ("there", "another-node")):  # its process alive, or not seen
        marker = {"host": host, "pid": os.getpid(), "heartbeat": old, "heartbeat_seconds": HEARTBEAT_SECONDS}
        store.marker_path(key).write_text(json.dumps(marker))
        assert store.state(key) == "pending"
        assert not store.marker_path(key).exists()
    fresh = {"host": "another-node", "pid": 1, "heartbeat": time.time(), "heartbeat_seconds": HEARTBEAT_SECONDS}
    store.marker_path("live").write_text(json.dumps(fresh))
    assert store.state("live") == "running" and store.marker_path("live").exists()  # a live cluster node's


def test_a_stale_marker_renewed_since_it_was_read_is_not_removed(tmp_path):
    store = ResultsStore(tmp_path)
    stale = json.dumps({"host": "another-node", "pid": 1, "heartbeat": 0.0, "heartbeat_seconds": 60.0})
    renewed = json.dumps({"host": "another-node", "pid": 1, "heartbeat": time.time(), "heartbeat_seconds": 60.0})
    store.marker_path("k1").write_text(renewed)  # its writer renewed it after a reader read `stale`
    store._reclaim("k1", stale)
    assert store.marker_path("k1").read_text() == renewed and store.state("k1") == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["k1.running"]


def test_the_heartbeat_advances_while_a_run_trains_and_stops_after(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_HEARTBEAT_SECONDS", "0.1")
    store = ResultsStore(tmp_path)

    def heartbeat(key):
        return json.loads(store.marker_path(key).read_text())["heartbeat"]

    with store.running(["k1", "k2"]):
        first = json.loads(store.marker_path("k1").read_text())
        assert first["heartbeat_seconds"] == 0.1 and first["pid"] == os.getpid()
        deadline = time.time() + 10
        while time.time() < deadline and heartbeat("k2") == first["heartbeat"]:
            time.sleep(0.01)
        assert heartbeat("k2") > first["heartbeat"]
        time.sleep(STALE_BEATS * 0.1 + 0.2)  # longer than the stale age: the heartbeat keeps the marker live
        assert store.state("k1") == "running" and time.time() - heartbeat("k1") < STALE_BEATS * 0.1
    assert not list(tmp_path.glob("*.running"))
    assert not [t for t in threading.enumerate() if t.name == "reprolib-heartbeat"]


WRITER_SCRIPT = """
import sys
from reprolib.store import ResultsStore
store, name = ResultsStore(sys.argv[1]), sys.argv[2]
for n in range(300):
    store.put({"key": f"{name}-{n}", "status": "done", "writer": name, "payload": list(range(200))})
    store.put({"key": f"shared-{n}", "status": "done", "writer": name, "payload": list(range(200))})
"""


def test_two_processes_writing_the_store_at_once_lose_nothing(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(tmp_path), name]) for name in "ab"]
    assert [w.wait() for w in writers] == [0, 0]
    records = {r["key"]: r for r in ResultsStore(tmp_path).records()}  # every file parses: no partial record
    assert len(records) == 3 * 300
    assert all(records[f"{name}-{n}"]["writer"] == name for name in "ab" for n in range(300))
    assert all(records[f"shared-{n}"]["payload"] == list(range(200)) for n in range(300))
    assert not list(tmp_path.glob(".tmp-*"))


def test_runs_of_one_architecture_group_together_whatever_their_eps_seed_or_decay():
    a, b = specs(1, eps=(0.1, 0.4))
    c = inversion_run("digits", "resnet8", 0.2, 5, RECIPE.with_(weight_decay=1e-3), width=4)
    d = inversion_run("digits", "resnet14", 0.2, 5, RECIPE, width=4)
    assert group_key(a) == group_key(b) == group_key(c) != group_key(d)


def test_sweep_stores_every_run_and_a_rerun_trains_nothing(tmp_path):
    store = ResultsStore(tmp_path)
    todo = specs()
    run_sweep(todo, store, group_size=3, progress=False)
    records = store.records()
    assert sorted(r["key"] for r in records) == sorted(s.key for s in todo)
    assert all(r["status"] == "done" and r["environment"]["precision"] == "fp32" for r in records)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    run_sweep(todo, store, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")} == stamps


def test_a_failing_group_is_recorded_and_the_sweep_goes_on(tmp_path):
    store = ResultsStore(tmp_path)
    good = specs(1, eps=(0.2,))
    bad = [inversion_run("fashion_mnist", "resnet8", 0.2, 0, RECIPE, width=4)]
    # an empty data folder with a file where the download would go: the loader fails, offline or not
    (tmp_path / "nodata").mkdir()
    (tmp_path / "nodata" / "FashionMNIST").write_text("not a folder")
    run_sweep(bad + good, store, progress=False, data_root=tmp_path / "nodata")
    assert store.is_done(good[0].key)
    failed = store.get(bad[0].key)
    assert failed["status"] == "failed" and failed["error"].startswith("SourceUnavailable")
    assert "Traceback" in failed["traceback"]


SWEEP_SCRIPT = """
import sys
from reprolib.papers.hall.protocol import inversion_run, recipe_for
from reprolib.papers.hall.rq6 import overlay_run
from reprolib.store import ResultsStore
from reprolib.sweep import run_sweep
recipe = recipe_for("digits", epochs=2).with_(precision="fp32", channels_last=False)
todo = [inversion_run("digits", "resnet8", e, r, recipe, width=4) for e in (0.1, 0.2, 0.3) for r in range(2)]
run_sweep(todo, ResultsStore(sys.argv[1]), group_size=1, progress=False)
"""


def test_a_sweep_killed_mid_way_resumes_without_losing_or_repeating_runs(tmp_path):
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", SWEEP_SCRIPT, str(root)])
    deadline = time.time() + 120
    while time.time() < deadline and len(list(root.glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: json.loads(p.read_text()) for p in root.glob("*.json")}
    assert 2 <= len(finished) < 6, "the kill should land mid-sweep"
    store = ResultsStore(root)
    states = [store.state(p.stem) for p in root.glob("*.running")]
    assert "running" not in states, "the killed sweep's marker must not count as running"
    subprocess.run([sys.executable, "-c", SWEEP_SCRIPT, str(root)], check=True)
    after = {p.name: json.loads(p.read_text()) for p in root.glob("*.json")}
    assert len(after) == 6 and {store.state(p.stem) for p in root.glob("*.json")} == {"done"}
    for name, record in finished.items():  # finished runs were kept, not trained again
        assert after[name]["finished_at"] == record["finished_at"]


def test_group_size_can_be_overridden_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_GROUP_SIZE", "1")
    store = ResultsStore(tmp_path)
    run_sweep(specs(1), store, progress=False)
    assert {r["environment"]["runs_in_group"] for r in store.records()} == {1}
    monkeypatch.setenv("REPROLIB_GROUP_SIZE", "0")
    with pytest.raises(ValueError, match="REPROLIB_GROUP_SIZE must be a positive integer"):
        run_sweep(specs(1, eps=(0.3,)), ResultsStore(tmp_path / "other"), progress=False)


def test_overlay_runs_differing_in_eta_and_eps_train_in_one_group(tmp_path):
    store = ResultsStore(tmp_path)
    todo = [overlay_run("digits", "resnet8", eta, eps, 0, RECIPE) for eta, eps in ((0.0, 0.2), (1.0, 0.4))]
    run_sweep(todo, store, progress=False)
    records = [store.get(s.key) for s in todo]
    assert all(r["status"] == "done" and r["environment"]["runs_in_group"] == 2 for r in records)
    assert [r["config"]["task"]["eta"] for r in records] == [0.0, 1.0]


def test_balanced_chunks_keep_order_and_differ_in_size_by_at_most_one():
    assert [len(c) for c in balanced_chunks(list(range(10)), 8)] == [5, 5]
    assert [len(c) for c in balanced_chunks(list(range(90)), 8)] == [8] * 6 + [7] * 6
    assert balanced_chunks(list(range(5)), 8) == [[0, 1, 2, 3, 4]]
    assert sum(balanced_chunks(list(range(17)), 4), []) == list(range(17))


GROUP_SCRIPT = """
import sys
from reprolib.papers.hall.protocol import inversion_run, recipe_for
from reprolib.store import ResultsStore
from reprolib.sweep import run_sweep
recipe = recipe_for("digits", epochs=30).with_(precision="fp32", channels_last=False)
todo = [inversion_run("digits", "resnet8", e, 0, recipe, width=4) for e in (0.1, 0.3)]
run_sweep(todo, ResultsStore(sys.argv[1]), group_size=2, progress=False)
"""


def test_a_group_killed_mid_training_resumes_from_its_checkpoint(tmp_path):
    """One group of two runs, checkpointed after every epoch: killed once its checkpoint exists, the rerun starts
    from the saved epoch instead of epoch 0."""
    root = tmp_path / "store"
    env = {**os.environ, "REPROLIB_CHECKPOINT_SECONDS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", GROUP_SCRIPT, str(root)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not list((root / "checkpoints").glob("*.pt")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(root.glob("*.json")), "the kill should land before the group finishes"
    subprocess.run([sys.executable, "-c", GROUP_SCRIPT, str(root)], env=env, check=True)
    records = ResultsStore(root).records()
    assert len(records) == 2 and {r["status"] for r in records} == {"done"}
    assert all(r["environment"]["resumed_from_epoch"] >= 1 for r in records)
    assert not list((root / "checkpoints").glob("*.pt"))  # removed once the group's records are stored


def test_removing_a_checkpoint_also_removes_its_half_written_copies(tmp_path):
    from reprolib.training import Checkpoint

    checkpoint = Checkpoint(tmp_path / "abc.pt", every_seconds=0)
    checkpoint.save({"epoch": 1})
    killed = tmp_path / ".tmp-abc-x1y2.pt"  # what a SIGKILL during torch.save leaves behind
    other = tmp_path / ".tmp-def-x1y2.pt"  # another group's write in progress
    killed.write_bytes(b"partial")
    other.write_bytes(b"partial")
    assert checkpoint.load() == {"epoch": 1}
    checkpoint.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]


def test_a_run_can_keep_its_per_example_outputs(tmp_path):
    store = ResultsStore(tmp_path)
    spec = dataclasses.replace(specs(1, eps=(0.3,))[0], keep_outputs=True, evaluate_on=("train", "test"))
    run_sweep([spec], store, progress=False)
    record, outputs = store.get(spec.key), store.get_outputs(spec.key)
    assert record["outputs"] == f"{spec.key}.outputs.npz" and set(outputs) == {"train", "test"}
    task = spec.task.build(None)
    assert outputs["test"].shape == (len(task.test),) and outputs["train"].shape == (len(task.train),)
    accuracy = ((outputs["test"] > 0.5) == task.test.labels.numpy()).mean()
    assert accuracy == pytest.approx(record["metrics"]["accuracy"])
    assert record["split_metrics"]["train"]["accuracy"] == pytest.approx(
        ((outputs["train"] > 0.5) == task.train.labels.numpy()).mean()
    )
    assert store.get_outputs(specs(1, eps=(0.1,))[0].key) == {}


def test_a_run_can_keep_its_final_weights_and_be_rebuilt(tmp_path):
    import torch

    from reprolib.sweep import load_model

    store = ResultsStore(tmp_path)
    kept = [dataclasses.replace(s, keep_outputs=True, keep_model=True) for s in specs(2, eps=(0.3,))]
    plain = specs(1, eps=(0.3,))[0]
    assert "keep_model" not in plain.config() and kept[0].key != dataclasses.replace(kept[0], keep_model=False).key
    assert RunSpec.from_dict(json.loads(json.dumps(kept[0].to_dict()))).key == kept[0].key
    run_sweep(kept, store, progress=False)  # both runs train together in one two-run model
    for spec in kept:  # each rebuilt one-run model gives back its own run's stored test outputs
        images = spec.task.build(None).test.images.float() / 255
        model = load_model(spec.key, store)
        with torch.no_grad():
            probs = torch.sigmoid(model(images)[:, 0]).numpy()
        assert store.get(spec.key)["model"] == f"{spec.key}.model.npz"
        assert probs == pytest.approx(store.get_outputs(spec.key)["test"], abs=1e-5)
        assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(KeyError, match=f"run {plain.key} has no stored weights"):
        load_model(plain.key, store)


def test_force_trains_a_stored_run_again(tmp_path):
    store = ResultsStore(tmp_path)
    todo = specs(1, eps=(0.2,))
    run_sweep(todo, store, progress=False)
    first = store.get(todo[0].key)["finished_at"]
    run_sweep(todo, store, progress=False)
    assert store.get(todo[0].key)["finished_at"] == first
    run_sweep(todo, store, progress=False, force=True)
    assert store.get(todo[0].key)["finished_at"] > first


BUILT, LIVE = [], weakref.WeakSet()


@register_source("counted_digits_for_test")
def _counted_digits(root, download):
    BUILT.append("source")
    return SOURCES.get("digits")(root, download)


@register_task("counted_inversion_for_test")
@dataclasses.dataclass(frozen=True)
class _CountedTask(InversionTask):
    """The inversion task, counting how many of its tasks are alive whenever one is built."""

    def build(self, data_root):
        gc.collect()
        BUILT.append(len(LIVE))
        task = make_inversion_task(load_source(self.dataset, root=data_root), self.eps, self.seed)
        LIVE.add(task)
        return task


def test_tasks_are_built_one_group_at_a_time_and_a_source_decoded_once(tmp_path):
    BUILT.clear()
    model = ResNetCifar(depth=8, width=4)
    todo = [
        RunSpec(_CountedTask(dataset="counted_digits_for_test", eps=0.1, seed=s), model, RECIPE, seed=s)
        for s in range(6)
    ]
    run_sweep(todo, ResultsStore(tmp_path), group_size=2, progress=False)
    assert BUILT.count("source") == 1  # six tasks, one decoding
    alive_at_build = [n for n in BUILT if n != "source"]
    assert len(alive_at_build) == 6 and max(alive_at_build) <= 1  # the previous group was released
