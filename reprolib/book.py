"""The book's pages: chapter notebooks executed with papermill into ``book/chapters/``.

A chapter's source is a MyST Markdown notebook (jupytext's ``md:myst``) in ``notebooks/``; its page is the
executed notebook ``book/chapters/<stem>.ipynb``. ``execute_notebook`` runs a notebook as it is (a chapter
trains what the store lacks). ``render`` executes it in results-only mode (``$REPROLIB_RESULTS_ONLY``: the
chapter reads the store and trains nothing); when no run of the configuration is stored, the page is the
notebook with its parameters but unexecuted, under a warning that says which command trains it, and without
the Markdown paragraphs that cite computed results (``{glue:...}``), as there are none to cite. ``build`` runs
Jupyter Book on the book. Every page carries a hidden first cell that installs the book's package when the
page is opened in Colab (its launch button); Binder builds the repository's ``environment.yml`` instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

from .chapter import ROOT, Chapter
from .parts import Part
from .store import ResultsStore, results_only

__all__ = [
    "book_root",
    "chapters_dir",
    "page_path",
    "source_notebook",
    "execute_notebook",
    "render",
    "results_only",
    "build",
    "add_header",
    "add_colab_setup",
    "drop_glued_paragraphs",
]


def book_root() -> Path:
    """``$REPROLIB_BOOK``, or the project's root: the folder with ``_config.yml``, ``_toc.yml`` and ``book/``."""
    return Path(os.environ.get("REPROLIB_BOOK", ROOT))


def chapters_dir() -> Path:
    return book_root() / "book" / "chapters"


def page_path(chapter: Chapter | Part) -> Path:
    """Where the book's page of a chapter (or part) is: its executed notebook, ``book/chapters/<stem>.ipynb``."""
    return chapters_dir() / f"{Path(chapter.notebook).stem}.ipynb"


def source_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook of a MyST Markdown source, as jupytext reads it (no outputs)."""
    return jupytext.read(path)


def execute_notebook(
    chapter: Chapter, parameters: dict, output: Path, log_output: bool = True, prepare_only: bool = False
) -> Path:
    """Execute the chapter's notebook (read from its Markdown source) with papermill, parameters injected, into
    ``output``, an ``.ipynb`` file."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        source_notebook(chapter.notebook_path),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(ROOT),
        log_output=log_output,
        progress_bar=False,
        prepare_only=prepare_only,
    )
    return output


def render(chapter: Chapter, parameters: dict, output: Path, log_output: bool = False) -> str:
    """Write the chapter's page for ``parameters`` (preset, device and chapter parameters) from stored results.

    Returns '' when every run is stored, else the 'results missing' line, which the page also shows."""
    names = {k: v for k, v in parameters.items() if k not in ("preset", "device")}
    config = chapter.configure(parameters.get("preset", "course"), parameters.get("device", "cpu"), **names)
    message = chapter.missing_message(config)
    stored = chapter.has_results(config, ResultsStore())
    with results_only():
        execute_notebook(chapter, parameters, output, log_output=log_output, prepare_only=not stored)
    if not stored:
        drop_glued_paragraphs(output)
        detail = message.removeprefix("results missing: ")
        note = f"**Results missing**: {detail}. This page shows the chapter's code, not run."
        add_header(output, f":::{{warning}}\n{note}\n:::")
    add_colab_setup(output)
    return message


def drop_glued_paragraphs(notebook: Path) -> None:
    """Remove the Markdown paragraphs that cite glued results (``{glue:...}``): an unexecuted page has none."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = "\n\n".join(p for p in cell.source.split("\n\n") if "{glue:" not in p)
    nbformat.write(nb, notebook)


def add_colab_setup(notebook: Path) -> None:
    """Prepend a cell, hidden in the book (tag ``remove-cell``), that installs the package from the repository of
    ``_config.yml`` when the notebook runs in Colab, and does nothing elsewhere."""
    config = yaml.safe_load((book_root() / "_config.yml").read_text()) or {}
    repository = config.get("repository", {})
    if not repository.get("url"):
        return
    source = (
        "# In Colab (the page's launch button): install this book's package first; elsewhere, nothing to do.\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "reprolib @ git+{repository["url"]}@{repository.get("branch", "main")}"'
    )
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell"]}))
    nbformat.write(nb, notebook)


def add_header(
    notebook: Path, markdown: str, label_suffix: str = "", title_suffix: str = "", metadata: dict | None = None
) -> None:
    """Insert a markdown cell below the notebook's title cell; optionally make its label and title distinct and
    add notebook metadata."""
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.update(metadata or {})
    title = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown")
    source = nb.cells[title].source
    if label_suffix:
        source = re.sub(r"^\(([^)]+)\)=", rf"(\1{label_suffix})=", source, count=1, flags=re.M)
    if title_suffix:
        source = re.sub(r"^(# .*)$", lambda m: m.group(1) + title_suffix, source, count=1, flags=re.M)
    nb.cells[title].source = source
    nb.cells.insert(title + 1, nbformat.v4.new_markdown_cell(markdown))
    nbformat.write(nb, notebook)


def build(root: Path | None = None) -> int:
    """``jupyter-book build <root> -W --keep-going``: renders the pages as they are; returns its exit status."""
    executable = Path(sys.executable).parent / "jupyter-book"
    command = str(executable) if executable.exists() else shutil.which("jupyter-book") or "jupyter-book"
    return subprocess.run([command, "build", str(root or book_root()), "-W", "--keep-going"]).returncode
