"""Parts of the book: a landing page per paper that gathers every chapter's verdicts, from stored results only,
and the book's front page, which counts them per paper and preset.

A part is a registered paper (``reprolib.papers.register_paper``) with a landing notebook; its chapters are those
whose catalogue ids share its prefix (``H-`` for Hall et al. 2022), in the order the paper registered them, so a
chapter registered by the paper appears on its part's page without further work. Nothing here trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .artifacts import ArtifactMissing
from .chapter import PRESETS, ROOT, Chapter
from .chapters import chapters
from .papers import PAPERS, load_papers
from .sources import SourceUnavailable
from .store import ResultsStore, current_store, results_only
from .verdicts import NOT_RUN, VERDICTS

__all__ = [
    "Part",
    "OVERVIEW",
    "parts",
    "part_chapters",
    "part_claims",
    "verdict_counts",
    "verdict_tally",
    "RESULTS_MISSING",
    "PART_VERDICTS",
]

RESULTS_MISSING = "results missing"
# The verdicts a part's table can show, in the order they are counted: those of ``reprolib.verdicts``, then a
# chapter whose runs are not stored yet.
PART_VERDICTS = (*VERDICTS, RESULTS_MISSING)


@dataclass(frozen=True)
class Part:
    prefix: str  # catalogue ids of the part's chapters start with it
    title: str
    notebook: str  # the landing page's MyST Markdown source, a file name in ``notebooks_dir``
    notebooks_dir: Path

    @property
    def notebook_path(self) -> Path:
        return self.notebooks_dir / self.notebook


# The book's front page: its prefix "" holds every chapter, and its table counts the verdicts per paper and preset.
OVERVIEW = Part("", "Bias amplification, reproduced", "overview.md", ROOT / "notebooks")


def parts() -> dict[str, Part]:
    """The landing pages, prefix → part: the front page (prefix ""), then each paper's that has one, in the
    book's order."""
    load_papers()
    papers = sorted((paper for _, paper in PAPERS.items() if paper.landing), key=lambda p: p.part)
    return {"": OVERVIEW, **{p.prefix: Part(p.prefix, p.title, p.landing, p.notebooks) for p in papers}}


def part_chapters(prefix: str) -> list[Chapter]:
    """The registered chapters of a part, in the order its paper registered them."""
    return [chapter for cid, chapter in chapters().items() if cid.startswith(prefix)]


def part_claims(prefix: str, preset: str, store: ResultsStore | None = None) -> pd.DataFrame:
    """Every claim of every chapter of a part at ``preset``, computed from the stored results; a chapter that
    restates other chapters' claims (``Chapter.restates_claims``: K-SUM) is left out, so no claim counts twice.

    Columns: chapter, claim, paper, measured, verdict, runs (finished / specified). A chapter with runs to
    train and none stored, or without results (``Chapter.has_results``: W-F4's attackers) or a stored computation
    they read (results-only), gets one row whose verdict is ``results missing`` and whose ``measured`` says which
    command makes them; a chapter with nothing to train (a figure of the data) gets its claims table as is, or,
    when that data set is not on disk, one ``not run at this scale`` row saying which folder it needs.
    """
    store = store or current_store()
    with results_only():  # a landing page computes nothing: no run, no attacker, no crafted poison
        return _part_claims(prefix, preset, store)


def _one_row(chapter: Chapter, measured: str, verdict: str) -> pd.DataFrame:
    return pd.DataFrame([{"claim": chapter.title, "paper": "", "measured": measured, "verdict": verdict}])


def _part_claims(prefix: str, preset: str, store: ResultsStore) -> pd.DataFrame:
    tables = []
    for chapter in part_chapters(prefix):
        if chapter.restates_claims:
            continue
        config = chapter.configure(preset)
        specs = chapter.specs(config)
        rerun = f"run `reprolib run {chapter.id} --preset {preset}`"
        try:
            results = chapter.results(config, store, specs)
            if (specs and results.empty) or not chapter.has_results(config, store):
                table = _one_row(chapter, rerun, RESULTS_MISSING)
            else:
                table = chapter.claims(results, config)
        except SourceUnavailable as error:  # a chapter that reads its data set to count it, absent here
            results, table = pd.DataFrame(), _one_row(chapter, str(error), NOT_RUN)
        except ArtifactMissing:  # runs stored, but not what is computed from them (e.g. attackers on logits)
            results, table = pd.DataFrame(), _one_row(chapter, rerun, RESULTS_MISSING)
        table.insert(0, "chapter", chapter.id)
        table["runs"] = f"{len(results)}/{len(specs)}"
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """How many claims of ``table`` have each verdict of ``PART_VERDICTS`` (zeros included, in that order), then
    any other entry (a figure's "—"). ``by construction`` rows are sanity checks, not reproductions."""
    counts = table["verdict"].value_counts()
    order = [*PART_VERDICTS, *(v for v in counts.index if v not in PART_VERDICTS)]
    return counts.reindex(order, fill_value=0).rename_axis("verdict").to_frame("claims")


def verdict_tally(presets: tuple[str, ...] = PRESETS, store: ResultsStore | None = None) -> pd.DataFrame:
    """The verdicts of every paper's claims at each of ``presets``, counted: one row per (paper, preset), one
    column per verdict of ``PART_VERDICTS`` (then "—", a figure without a claim), from stored results only."""
    load_papers()
    rows = []
    for _, paper in sorted(PAPERS.items(), key=lambda item: item[1].part):
        if not part_chapters(paper.prefix):
            continue
        for preset in presets:
            counts = verdict_counts(part_claims(paper.prefix, preset, store))["claims"]
            rows.append({"part": paper.part, "paper": paper.title, "preset": preset, **counts.to_dict()})
    table = pd.DataFrame(rows).fillna(0)
    counted = [c for c in table.columns if c not in ("part", "paper", "preset")]
    return table.astype({c: int for c in counted})
