"""Every chapter notebook executes at the smoke preset (papermill) and renders its figure and claims."""

import json

import nbformat
import papermill
import pytest

from reprolib.chapters import CHAPTERS
from reprolib.cli import execute_notebook


@pytest.mark.notebook
@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_chapter_notebook_runs_at_smoke(chapter_id, tmp_path, store_dir):
    chapter = CHAPTERS[chapter_id]
    out = execute_notebook(chapter, {"preset": "smoke"}, tmp_path / chapter.notebook, log_output=False)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure rendered"
    html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "verdict" in html, "no claims table rendered"


@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_notebook_parameters_are_the_chapters(chapter_id):
    chapter = CHAPTERS[chapter_id]
    declared = papermill.inspect_notebook(str(chapter.notebook_path))
    assert list(declared) == chapter.parameter_names()


@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_source_notebooks_carry_no_outputs(chapter_id):
    nb = json.loads(CHAPTERS[chapter_id].notebook_path.read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
