"""Papers plug into the core from their own packages; the core imports none of them.

A paper's package (``reprolib.papers.hall``, or any installed package) registers, when imported, its task builders
(``specs.register_task``), models, methods, evaluators, sources and chapters (``chapter.register_chapter``), and
itself (``register_paper``: its part number, title and catalogue-id prefix). ``load_papers`` imports every paper
named by the entry-point group ``reprolib.papers`` (in ``pyproject.toml``) and by ``$REPROLIB_PAPERS`` (a
comma-separated list of module names, for a paper that is not installed).
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ..registry import Registry

__all__ = ["Paper", "PAPERS", "PaperUnavailable", "register_paper", "load_papers", "ENTRY_POINTS"]

ENTRY_POINTS = "reprolib.papers"


@dataclass(frozen=True)
class Paper:
    """A paper of the book: its part (the order in the book), title, the prefix of its chapters' catalogue ids,
    the folder of its notebooks and, optionally, its landing page (a notebook in that folder)."""

    part: int
    title: str
    prefix: str
    notebooks: Path
    landing: str | None = None

    @property
    def landing_path(self) -> Path | None:
        return self.notebooks / self.landing if self.landing else None


PAPERS: Registry[Paper] = Registry("paper")


class PaperUnavailable(ImportError):
    """A paper named by an entry point or ``$REPROLIB_PAPERS`` cannot be imported; the message says which."""


def register_paper(key: str, paper: Paper) -> Paper:
    return PAPERS.register(key)(paper)


@functools.cache
def load_papers() -> tuple[str, ...]:
    """Import every paper package (entry points, then ``$REPROLIB_PAPERS``); returns their module names."""
    names = [ep.value for ep in sorted(entry_points(group=ENTRY_POINTS), key=lambda ep: ep.name)]
    names += [n.strip() for n in os.environ.get("REPROLIB_PAPERS", "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            raise PaperUnavailable(
                f"paper {name!r} cannot be imported ({error}); if it was removed, reinstall the project "
                "(pip install -e .) so its entry point goes, or fix $REPROLIB_PAPERS"
            ) from None
    return tuple(names)
