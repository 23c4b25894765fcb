"""Results-only rendering, parameter batches, `reprolib book` and `reprolib status`: nothing trains unless asked."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from reprolib.batch import read_batch
from reprolib.chapter import ROOT, ResultsMissing
from reprolib.chapters import CHAPTERS, get_chapter
from reprolib.cli import main
from reprolib.parts import parts
from reprolib.store import ResultsStore


@pytest.fixture
def book_dir(tmp_path, monkeypatch):
    """A copy of the book's skeleton, where `reprolib book` and `batch` write their pages."""
    root = tmp_path / "bookroot"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    monkeypatch.setenv("REPROLIB_BOOK", str(root))
    return root


def fake_done(store, spec, bias=0.01):
    store.put({"key": spec.key, "status": "done", "config": spec.config(), "metrics": {"bias_amplification": bias}})


def test_results_only_mode_never_trains_and_says_what_to_run(store_dir, monkeypatch, capsys):
    monkeypatch.setenv("REPROLIB_RESULTS_ONLY", "1")
    chapter = get_chapter("H-RQ1")
    config = chapter.configure("smoke", eps=[0.1, 0.3])
    n = len(chapter.specs(config))
    with pytest.raises(
        ResultsMissing, match=rf"{n} of {n} runs .* run `reprolib run H-RQ1 --preset smoke -p eps=\[0.1,0.3\]`"
    ):
        chapter.run(config)
    assert not store_dir.exists()
    specs = chapter.specs(config)
    fake_done(ResultsStore(), specs[0])
    results = chapter.run(config)
    assert list(results["key"]) == [specs[0].key] and len(list(store_dir.glob("*.json"))) == 1
    assert f"results missing: {n - 1} of {n} runs of H-RQ1 at preset smoke" in capsys.readouterr().out


def test_hall_rq1_figure_and_claims_cope_with_no_results():
    import pandas as pd

    chapter = get_chapter("H-RQ1")
    config = chapter.configure("paper")  # both data sets: the cross-data-set claim too
    claims = chapter.claims(pd.DataFrame(), config)
    assert len(claims) > 0 and set(claims["verdict"]) == {"not run at this scale"}
    assert len(chapter.figure(pd.DataFrame(), config).axes) == 2


def test_status_counts_done_failed_running_and_pending(store_dir, capsys):
    chapter = get_chapter("H-RQ1")
    specs = chapter.specs(chapter.configure("smoke"))
    store = ResultsStore()
    fake_done(store, specs[0])
    store.put({"key": specs[1].key, "status": "failed", "config": {}, "error": "ValueError: boom"})
    store.put({"key": "another-chapter", "status": "failed", "config": {}, "error": "not listed"})
    older = specs[3].config()
    older["task"]["version"] = 0  # the same run, made by an older version of its task builder
    store.put({"key": "made-by-an-older-version", "status": "done", "config": older})
    with store.running([specs[2].key]):
        assert main(["status", "H-RQ1", "--preset", "smoke", "--errors"]) == 0
    table, error = capsys.readouterr().out.strip().splitlines()[1:]
    assert table.split() == ["H-RQ1", "smoke", "1", "1", "1", str(len(specs) - 3), "1"]
    assert error == f"{specs[1].key}: ValueError: boom"


def test_book_with_no_results_says_so_on_each_page_and_trains_nothing(store_dir, book_dir):
    assert main(["book", "--preset", "course", "--no-build"]) == 0
    nb = nbformat.read(book_dir / "book" / "chapters" / "hall_rq1.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    rq1 = get_chapter("H-RQ1")
    runs = len({spec.key for spec in rq1.specs(rq1.configure("course"))})
    assert f"**Results missing**: {runs} of {runs} runs of H-RQ1 at preset course" in text
    assert "`reprolib run H-RQ1 --preset course`" in text
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    paths = sorted((book_dir / "book" / "chapters").glob("*.ipynb"))
    pages = {path.name: nbformat.read(path, as_version=4) for path in paths}
    assert len(pages) == len(CHAPTERS) + len(parts())  # every chapter, every part's landing page, the front page
    # only a chapter with results in an empty store (nothing to store: Z-T1 counts its data) cites any
    computed = {Path(c.notebook).stem + ".ipynb" for c in CHAPTERS.values() if c.has_results(c.configure("course"))}
    glued = {name for name, page in pages.items() if any("{glue:" in c.source for c in page.cells)}
    assert glued <= computed and "wang_f4.ipynb" not in computed
    assert not store_dir.exists()


def write_batch(path, entries):
    path.write_text(json.dumps(entries))  # JSON is YAML
    return path


def test_a_bad_batch_entry_is_named_before_anything_trains(tmp_path, store_dir, capsys):
    batch = write_batch(tmp_path / "batch.yml", [{"chapter": "H-RQ1"}, {"chapter": "H-RQ1", "params": {"eps": 2}}])
    assert main(["batch", str(batch)]) == 2
    assert capsys.readouterr().err.strip() == "error: batch entry 2: eps must lie in [0, 0.5], got 2"
    assert not store_dir.exists()


@pytest.mark.notebook
def test_a_batch_writes_one_page_per_entry_and_an_identical_request_trains_nothing(tmp_path, store_dir, book_dir):
    params = [{"eps": [0.2], "runs": 1, "epochs": 1}, {"eps": [0.2], "runs": 2, "epochs": 1}]  # share run 0
    batch = write_batch(tmp_path / "batch.yml", [{"chapter": "H-RQ1", "preset": "smoke", "params": p} for p in params])
    assert main(["batch", str(batch)]) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in store_dir.glob("*.json")}
    rq1 = get_chapter("H-RQ1")
    asked = [spec.key for p in params for spec in rq1.specs(rq1.configure("smoke", **p))]
    assert len(stamps) == len(set(asked)) < len(asked)  # the second entry's run 0 is the first entry's
    pages = [entry.output() for entry in read_batch(batch)]
    assert len(set(pages)) == 2 and all(page.name.startswith("hall_rq1--") for page in pages)
    for page, values in zip(pages, params, strict=True):
        nb = nbformat.read(page, as_version=4)
        top = nb.cells[:5]
        injected = next(c for c in top if "injected-parameters" in c.metadata.get("tags", []))
        assert f"runs = {values['runs']}" in injected.source and "eps = [0.2]" in injected.source
        assert any("Parameter batch" in c.source for c in top if c.cell_type == "markdown")
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert any("image/png" in o.get("data", {}) for o in outputs) and not any(
            o.output_type == "error" for o in outputs
        )
    assert main(["batch", str(batch)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in store_dir.glob("*.json")} == stamps
