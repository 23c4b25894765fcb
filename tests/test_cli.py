import json
import subprocess
import sys

import pytest

from reprolib.chapters import get_chapter
from reprolib.cli import main


def reprolib(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "reprolib.cli", *args], capture_output=True, text=True, **kwargs)


def test_list_names_every_chapter_with_its_id(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "H-RQ1" in out and "hall_rq1.md" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "eps=[0.1,0.7]"], r"error: eps must lie in [0, 0.5], got 0.7"),
        (["-p", "dataset=mnist"], "error: dataset must be one of digits, fashion_mnist, cifar10, cifar100"),
        (["-p", "model=vgg11"], "error: model: unknown model 'vgg11'"),
        (["-p", "model=resnet21"], "depth must be 6n+2"),
        (["-p", "epsilon=0.1"], "error: unknown parameter 'epsilon' for H-RQ1; accepted: preset, dataset"),
        (["--preset", "huge"], "error: preset must be one of smoke, course, paper, got 'huge'"),
        (["--device", "tpu"], "error: device must be 'cpu' or 'cuda', got 'tpu'"),
        (["-p", "runs=0"], "error: runs must be an integer in 1 … 1000, got 0"),
        (["--device", "cuda"], "error: device 'cuda' was asked for but no CUDA GPU is visible"),
    ],
)
def test_bad_input_fails_fast_with_one_line_naming_the_parameter(args, message, store_dir, capsys):
    assert main(["run", "H-RQ1", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not store_dir.exists()  # nothing trained


def test_the_command_exits_non_zero_on_bad_input(store_dir):
    result = reprolib("run", "H-RQ1", "-p", "eps=0.9")
    assert result.returncode == 2 and result.stderr.strip() == "error: eps must lie in [0, 0.5], got 0.9"


def test_unknown_chapter():
    result = reprolib("claims", "H-RQ9")
    assert result.returncode == 2 and "unknown chapter 'H-RQ9'; accepted: " in result.stderr
    assert "H-RQ1" in result.stderr.split("accepted:")[1]


def test_claims_without_results_says_what_to_run(store_dir):
    result = reprolib("claims", "H-RQ1", "--preset", "smoke", "--json")
    assert result.returncode == 1
    assert "reprolib run H-RQ1 --preset smoke" in result.stderr


def test_claims_json_from_stored_results_trains_nothing(store_dir):
    chapter = get_chapter("H-RQ1")
    config = chapter.configure("smoke")
    chapter.run(config, progress=False)
    files = sorted(p.name for p in store_dir.iterdir())
    result = reprolib("claims", "H-RQ1", "--preset", "smoke", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(set(r) == {"claim", "paper", "measured", "verdict"} for r in rows)
    assert sorted(p.name for p in store_dir.iterdir()) == files
    expected = chapter.claims(chapter.results(config), config)
    assert [r["verdict"] for r in rows] == list(expected["verdict"])


def test_a_run_whose_data_is_missing_ends_with_one_line_and_no_notebook(store_dir, tmp_path, capsys):
    """CelebA is read from a user-given folder: absent, every run fails when its task is built, and `run` says
    so in one line (the loader's message) instead of executing the notebook on no results."""
    output = tmp_path / "k_t3.ipynb"
    args = ["run", "K-T3", "--preset", "paper", "-p", f"celeba_root={tmp_path}", "--output", str(output)]
    assert main(args) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: all 120 runs of K-T3 at preset paper failed, the first with SourceUnavailable")
    assert f"CelebA is not in {tmp_path}/celeba" in last
    assert not output.exists()
