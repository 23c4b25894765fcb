"""Papers plug into the core: the core imports none of them, and a toy paper works end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from reprolib import verdict_calibration
from reprolib.chapter import CHAPTERS as CHAPTER_REGISTRY
from reprolib.chapter import ROOT
from reprolib.chapters import chapters, get_chapter
from reprolib.cli import main
from reprolib.papers import PAPERS, load_papers
from reprolib.parts import part_claims
from reprolib.specs import METHODS, TASKS

CORE = ("sweep", "training", "store", "models", "metrics", "verdicts", "verdict_calibration")
EXAMPLES = ROOT / "examples"


def test_importing_the_core_loads_no_paper():
    code = (
        "import json, sys\n"
        + "".join(f"import reprolib.{m}\n" for m in CORE)
        + "print(json.dumps(sorted(m for m in sys.modules if m.startswith('reprolib'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert {f"reprolib.{m}" for m in CORE} <= set(loaded)
    assert not [m for m in loaded if m.startswith("reprolib.papers") or m == "reprolib.chapters"], loaded


def test_every_chapter_belongs_to_a_registered_paper_and_the_book_keeps_their_order():
    ids = list(chapters())
    prefixes = [paper.prefix for _, paper in sorted(PAPERS.items(), key=lambda item: item[1].part)]
    owners = [next(i for i, prefix in enumerate(prefixes) if cid.startswith(prefix)) for cid in ids]
    assert owners == sorted(owners)
    assert ids[:2] == ["H-F1", "H-RQ1"] and [i for i in ids if i.startswith("K-")][-1] == "K-SUM"


@pytest.fixture
def toy_paper(monkeypatch):
    """The toy paper of the page "Adding a paper", loaded as a user would: ``$REPROLIB_PAPERS`` names it."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("REPROLIB_PAPERS", "toy_paper")
    for registry in (PAPERS, CHAPTER_REGISTRY, TASKS, METHODS):  # the toy's registrations end with the test
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    monkeypatch.setattr(verdict_calibration, "SCENARIOS", list(verdict_calibration.SCENARIOS))
    sys.modules.pop("toy_paper", None)
    import toy_paper

    yield toy_paper
    for name in [m for m in sys.modules if m == "toy_paper" or m.startswith("toy_paper.")]:
        del sys.modules[name]


def test_a_toy_paper_plugs_in_its_task_method_and_chapter_and_runs(toy_paper, store_dir, tmp_path, capsys):
    chapter = get_chapter("T-1")
    config = chapter.configure("smoke")
    results = chapter.run(config, progress=False)
    assert len(results) == len(chapter.specs(config)) and set(results["smoothing"]) == {0.0, 0.2}
    assert results["config.method.name"].eq("smoothed_ce").all() and results["config.task.name"].eq("toy_stripes").all()
    table = chapter.claims(results, config)
    assert list(table.columns) == ["claim", "paper", "measured", "verdict"] and len(table) == 1
    assert main(["list"]) == 0 and "T-1" in capsys.readouterr().out
    output = tmp_path / "toy_chapter.ipynb"
    assert main(["run", "T-1", "--preset", "smoke", "--output", str(output)]) == 0
    outputs = [o for c in nbformat.read(output, as_version=4).cells for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert part_claims("T-", "smoke")["chapter"].tolist() == ["T-1"]
    assert [(s.chapter, s.rule) for s in verdict_calibration.all_scenarios() if s.chapter == "T-1"] == [
        ("T-1", "positive")
    ]


def test_the_toy_paper_is_what_the_adding_a_paper_page_shows():
    page = (ROOT / "book" / "adding-a-paper.md").read_text()
    for path in sorted((EXAMPLES / "toy_paper").glob("*.py")):
        assert f"examples/toy_paper/{path.name}" in page, path.name
    assert Path(ROOT / "examples" / "toy_paper" / "toy_chapter.md").exists()


def test_a_paper_that_cannot_be_imported_is_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("REPROLIB_PAPERS", "no_such_paper_package")
    load_papers.cache_clear()
    try:
        assert main(["list"]) == 2
    finally:
        load_papers.cache_clear()
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: paper 'no_such_paper_package' cannot be imported") and "\n" not in err
