"""Launchers: submitit's local executor for real (two short jobs), Slurm through a stand-in sbatch."""

import json
import os
import signal
import time

import pytest
import submitit

from reprolib.chapter import ParameterError
from reprolib.chapters import get_chapter
from reprolib.cli import main
from reprolib.launch import Launch, TrainJob, _job_groups, launch
from reprolib.papers.hall.protocol import inversion_run, recipe_for
from reprolib.store import ResultsStore

RECIPE = recipe_for("digits", epochs=1).with_(precision="fp32", channels_last=False)


def test_submitit_local_jobs_fill_the_store_and_a_failing_job_is_recorded(tmp_path):
    store = ResultsStore(tmp_path / "results")
    good = [inversion_run("digits", "resnet8", 0.2, run, RECIPE, width=4) for run in range(2)]
    bad = [inversion_run("fashion_mnist", "resnet8", 0.2, 0, RECIPE, width=4)]  # another group: another job
    (tmp_path / "nodata").mkdir()
    (tmp_path / "nodata" / "FashionMNIST").write_text("not a folder")  # the loader fails, offline or not
    options = Launch("submitit-local", time_min=5, array_parallelism=2, log_dir=str(tmp_path / "logs"))
    jobs = launch(good + bad, store, options=options, data_root=tmp_path / "nodata", progress=False)
    assert sorted(job.result().popitem()[0] for job in jobs) == ["done", "failed"]
    assert [store.state(s.key) for s in good + bad] == ["done", "done", "failed"]
    assert all(store.get(s.key)["environment"]["runs_in_group"] == 2 for s in good)  # one job trained the group
    assert store.get(bad[0].key)["error"].startswith("SourceUnavailable")
    assert not list(store.root.glob("*.running"))
    assert list((tmp_path / "logs").glob("*_log.err")), "no submitit logs in the shared folder"
    assert launch(good, store, options=options, progress=False) == []  # nothing left to train: no job


def test_a_job_interrupted_mid_way_is_requeued_and_trains_only_the_missing_runs(tmp_path):
    store = ResultsStore(tmp_path / "results")
    recipe = recipe_for("digits", epochs=40).with_(precision="fp32", channels_last=False)  # a few seconds a run
    first, second = [inversion_run("digits", "resnet8", 0.2, run, recipe, width=4) for run in range(2)]
    specs_file = tmp_path / "specs.json"
    specs_file.write_text(json.dumps([first.to_dict(), second.to_dict()]))
    executor = submitit.AutoExecutor(folder=tmp_path / "logs", cluster="local")
    executor.update_parameters(timeout_min=5)
    job = executor.submit(TrainJob(), str(specs_file), str(store.root), "cpu", 1, None, 1)  # one run at a time
    deadline = time.time() + 120
    while time.time() < deadline and not (store.is_done(first.key) and store.marker_path(second.key).exists()):
        time.sleep(0.02)
    finished_at = store.get(first.key)["finished_at"]
    worker = json.loads(store.marker_path(second.key).read_text())["pid"]
    os.kill(worker, signal.SIGUSR2)  # the signal that precedes a timeout: submitit checkpoints, then requeues
    assert job.result() == {"done": 2}
    assert "Requeued job" in job.stdout()
    assert store.get(first.key)["finished_at"] == finished_at  # the requeued job did not train it again


def test_a_run_held_by_a_stale_marker_is_submitted_again(tmp_path):
    store = ResultsStore(tmp_path)
    stale, live, free = [inversion_run("digits", "resnet8", 0.2, run, RECIPE, width=4) for run in range(3)]
    for spec, heartbeat in ((stale, time.time() - 3600), (live, time.time())):  # markers of another node
        marker = {"host": "another-node", "pid": 1, "heartbeat": heartbeat, "heartbeat_seconds": 60.0}
        store.marker_path(spec.key).write_text(json.dumps(marker))
    groups = _job_groups([stale, live, free], store, "cpu", None)
    assert [[s.key for s in group] for group in groups] == [[stale.key, free.key]]
    assert not store.marker_path(stale.key).exists() and store.marker_path(live.key).exists()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"launcher": "kubernetes"}, "launcher must be one of local, submitit-local, slurm, got 'kubernetes'"),
        ({"launcher": "slurm", "time_min": 0}, "time must be a number of minutes ≥ 1, got 0"),
        ({"launcher": "submitit-local", "partition": "gpu"}, "partition applies to the slurm launcher only"),
    ],
)
def test_bad_launch_options_name_the_option(options, message):
    with pytest.raises(ParameterError, match=message):
        Launch(**options)


def test_a_bad_launcher_stops_the_cli_before_anything_trains(store_dir, capsys):
    assert main(["run", "H-RQ1", "--preset", "smoke", "--launcher", "kubernetes"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: launcher must be one of local, submitit-local, slurm, got 'kubernetes'"]
    assert not store_dir.exists()


def test_slurm_sweep_submits_one_array_with_the_requested_resources(tmp_path, store_dir, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\ncp "$1" "$SBATCH_COPY"\necho "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_COPY", str(tmp_path / "job.sh"))
    args = ["--launcher", "slurm", "--device", "cuda", "--partition", "gpu", "--gpus", "2", "--time", "30"]
    assert (
        main(
            ["sweep", "H-RQ1", "--preset", "smoke", *args, "--array-parallelism", "3", "--group-size", "2", "--no-wait"]
        )
        == 0
    )
    script = (tmp_path / "job.sh").read_text()
    chapter = get_chapter("H-RQ1")
    jobs = -(-len(chapter.specs(chapter.configure("smoke"))) // 2)  # 2 runs per job
    for line in ["--partition=gpu", "--gpus-per-node=2", "--time=30", f"--array=0-{jobs - 1}%3"]:
        assert f"#SBATCH {line}\n" in script
    assert len(list((store_dir / "submitit" / "specs").glob("*.json"))) == jobs
    assert not list(store_dir.glob("*.json"))  # submitted, not trained
