"""Every chapter's MyST Markdown source executes at the smoke preset (papermill) and renders its figure and
claims; what papermill executes is the source, cell for cell; the sources are plain, stable jupytext files."""

import re
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import papermill
import pytest

from reprolib.book import source_notebook
from reprolib.chapters import CHAPTERS
from reprolib.cli import execute_notebook
from reprolib.parts import parts
from reprolib.store import results_only

SOURCES = {
    **{c.id: c.notebook_path for c in CHAPTERS.values()},
    **{p.prefix: p.notebook_path for p in parts().values()},
}


def cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.notebook
@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_chapter_notebook_runs_at_smoke_and_is_its_source(chapter_id, tmp_path, store_dir):
    """As `reprolib run` does it: train, then execute the page in results-only mode (it computes nothing)."""
    chapter = CHAPTERS[chapter_id]
    chapter.run(chapter.configure("smoke"), progress=False)
    with results_only():
        out = execute_notebook(chapter, {"preset": "smoke"}, tmp_path / "page.ipynb", log_output=False)
    nb = nbformat.read(out, as_version=4)
    assert cells(nb) == cells(source_notebook(chapter.notebook_path))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure rendered"
    html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "verdict" in html, "no claims table rendered"


@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_notebook_parameters_are_the_chapters(chapter_id):
    chapter = CHAPTERS[chapter_id]
    declared = papermill.inspect_notebook(source_notebook(chapter.notebook_path))
    assert list(declared) == chapter.parameter_names()


def test_every_source_is_a_myst_notebook_of_the_book():
    assert sorted(SOURCES.values()) == sorted(Path(CHAPTERS["H-RQ1"].notebook_path).parent.glob("*.md"))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_source_has_one_parameters_cell_and_no_outputs(name):
    nb = source_notebook(SOURCES[name])
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_source_survives_the_jupytext_round_trip_unchanged(name):
    """Opening the file in Jupyter and saving it writes the text a text editor sees."""
    text = SOURCES[name].read_text()
    assert text.startswith("---\njupytext:") and "```{code-cell} ipython3" in text
    assert jupytext.writes(jupytext.reads(text, fmt="md:myst"), fmt="md:myst") == text


@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_every_result_the_narrative_cites_is_computed_by_the_chapter(chapter_id):
    """Each `{glue:text}` key of a source is a key of its chapter's summary, even with no results (the book would
    warn on a missing key); a source that cites results glues them."""
    chapter = CHAPTERS[chapter_id]
    text = chapter.notebook_path.read_text()
    cited = set(re.findall(r"\{glue:text\}`([^`:]+)", text))
    summary = chapter.summary(pd.DataFrame(), chapter.configure("smoke"))
    assert cited <= set(summary) and all(isinstance(v, str) for v in summary.values())
    assert ("chapter.glue(results, config)" in text) == bool(cited)
