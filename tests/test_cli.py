import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from papermill.exceptions import PapermillExecutionError

from reprolib import book, cli
from reprolib.chapter import RESULTS_ONLY, ROOT
from reprolib.chapters import get_chapter
from reprolib.cli import main
from reprolib.parts import parts


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
        (
            ["-p", "eps=[0.1,"],
            "error: -p eps: not valid YAML (while parsing a flow node: expected the node content, but found "
            "'<stream end>' at line 1, column 6)",
        ),
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
    chapter = get_chapter("K-T3")
    n = len({s.key for s in chapter.specs(chapter.configure("paper", celeba_root=str(tmp_path)))})
    assert last.startswith(f"error: all {n} runs of K-T3 at preset paper failed, the first with SourceUnavailable")
    assert f"CelebA is not in {tmp_path}/celeba" in last
    assert not output.exists()


def test_run_all_refuses_one_output_file_for_every_chapter(store_dir, tmp_path, capsys):
    assert main(["run", "all", "--preset", "smoke", "--output", str(tmp_path / "page.ipynb")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: --output takes a single chapter, not all"]
    assert not store_dir.exists() and not (tmp_path / "page.ipynb").exists()


def test_a_malformed_batch_file_is_one_line_naming_the_file_and_the_problem(tmp_path, store_dir, capsys):
    batch = tmp_path / "batch.yml"
    batch.write_text("- chapter: H-RQ1\n  params: {eps: [0.1, 0.3]\n- chapter: H-RQ2\n")
    assert main(["batch", str(batch)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"error: batch file {batch}: not valid YAML (while parsing a flow mapping: expected ',' or '}}', "
        "but got '-' at line 3, column 1)"
    ]
    assert not store_dir.exists()


@pytest.fixture
def pages(tmp_path, monkeypatch):
    """Stand-in for papermill: the notebooks `reprolib run` executes, with whether it was in results-only mode."""
    root = tmp_path / "bookroot"
    root.mkdir()
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    monkeypatch.setenv("REPROLIB_BOOK", str(root))
    executed = []

    def execute(chapter, parameters, output, **options):
        executed.append((output.name, os.environ.get(RESULTS_ONLY)))
        if chapter is get_chapter("H-F1"):
            raise PapermillExecutionError(3, 3, "chapter.run(config)", "ResultsMissing", "no results", [])
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(), output)
        return output

    monkeypatch.setattr(cli, "execute_notebook", execute)
    return executed


def test_run_all_goes_on_past_failing_chapters_and_reports_each_at_the_end(
    store_dir, tmp_path, monkeypatch, pages, capsys
):
    chapters = {i: get_chapter(i) for i in ("H-RQ1", "H-RQ6")}
    monkeypatch.setattr(cli, "CHAPTERS", chapters)
    (tmp_path / "nodata").mkdir()
    (tmp_path / "nodata" / "FashionMNIST").write_text("not a folder")  # every run fails when its data loads
    monkeypatch.setenv("REPROLIB_DATA", str(tmp_path / "nodata"))
    assert main(["run", "all", "--preset", "smoke", "-p", "dataset=fashion_mnist"]) == 1
    expected = [f"error: {c.failure_message(c.configure('smoke', dataset='fashion_mnist'))}" for c in chapters.values()]
    assert all(line.startswith("error: all ") for line in expected)
    assert capsys.readouterr().err.strip().splitlines()[-2:] == expected
    landings = [(book.page_path(parts()[prefix]).name, None) for prefix in ("", "H-")]
    assert pages == landings  # no chapter page from no results; the front page and the part's landing page


def test_run_all_goes_on_past_a_failing_notebook_and_its_notebooks_train_nothing(store_dir, monkeypatch, pages, capsys):
    monkeypatch.setattr(cli, "CHAPTERS", {i: get_chapter(i) for i in ("H-F1", "H-RQ3")})
    assert main(["run", "all", "--preset", "smoke"]) == 1
    names = [book.page_path(get_chapter(i)).name for i in ("H-F1", "H-RQ3")]
    landings = [(book.page_path(parts()[prefix]).name, None) for prefix in ("", "H-")]
    assert pages == [(names[0], "1"), (names[1], "1"), *landings]
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: the notebook of H-F1 failed with ResultsMissing: no results (in ")


def test_output_names_a_notebook_file_or_a_folder_that_gets_the_pages_name():
    chapter = get_chapter("H-RQ3")
    assert cli._page_output(None, chapter) == book.page_path(chapter)
    assert cli._page_output("runs/page.ipynb", chapter).as_posix() == "runs/page.ipynb"
    assert cli._page_output("runs", chapter).as_posix() == "runs/hall_rq3.ipynb"
    assert cli._page_output("runs/", chapter).as_posix() == "runs/hall_rq3.ipynb"


def test_the_page_of_a_local_run_shows_no_progress_bar(store_dir, tmp_path):
    output = tmp_path / "hall_rq3.ipynb"
    assert main(["run", "H-RQ3", "--preset", "smoke", "--output", str(tmp_path)]) == 0  # a folder
    outputs = [o for cell in nbformat.read(output, as_version=4).cells for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the notebook read the results
    text = json.dumps(outputs)
    assert "application/vnd.jupyter.widget-view+json" not in text and "runs to train" not in text
