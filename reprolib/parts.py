"""Parts of the book: a landing page per paper that gathers every chapter's verdicts, from stored results only.

A part is the set of chapters whose catalogue ids share a prefix (``H-`` for Hall et al. 2022), so a chapter
added to ``CHAPTERS`` appears on its part's page without further registration. Nothing here trains.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .chapter import ROOT, Chapter
from .chapters import CHAPTERS
from .store import ResultsStore

__all__ = ["Part", "PARTS", "part_chapters", "part_claims", "RESULTS_MISSING"]

RESULTS_MISSING = "results missing"


@dataclass(frozen=True)
class Part:
    prefix: str  # catalogue ids of the part's chapters start with it
    title: str
    notebook: str  # the landing page's MyST Markdown source, a file name in notebooks/

    @property
    def notebook_path(self):
        return ROOT / "notebooks" / self.notebook


PARTS = {"H-": Part("H-", "Part I — Hall et al. (2022), A Systematic Study of Bias Amplification", "hall_part1.md")}


def part_chapters(prefix: str) -> list[Chapter]:
    """The registered chapters of a part, in the order of their ids (figures, then RQs, then footnotes)."""
    return [CHAPTERS[i] for i in sorted(CHAPTERS) if i.startswith(prefix)]


def part_claims(prefix: str, preset: str, store: ResultsStore | None = None) -> pd.DataFrame:
    """Every claim of every chapter of a part at ``preset``, computed from the stored results.

    Columns: chapter, claim, paper, measured, verdict, runs (finished / specified). A chapter with runs to
    train and none stored gets one row whose verdict is ``results missing`` and whose ``measured`` says which
    command trains them; a chapter with nothing to train (a figure of the data) gets its claims table as is.
    """
    store = store or ResultsStore()
    tables = []
    for chapter in part_chapters(prefix):
        config = chapter.configure(preset)
        specs = chapter.specs(config)
        results = chapter.results(config, store, specs)
        if specs and results.empty:
            missing = f"run `reprolib run {chapter.id} --preset {preset}`"
            table = pd.DataFrame(
                [{"claim": chapter.title, "paper": "", "measured": missing, "verdict": RESULTS_MISSING}]
            )
        else:
            table = chapter.claims(results, config)
        table.insert(0, "chapter", chapter.id)
        table["runs"] = f"{len(results)}/{len(specs)}"
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
