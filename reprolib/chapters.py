"""The chapters of the book, by catalogue id, from every paper package (``reprolib.papers.load_papers``)."""

from __future__ import annotations

from .chapter import CHAPTERS as _REGISTRY
from .chapter import Chapter, ParameterError
from .papers import PAPERS, load_papers

__all__ = ["chapters", "get_chapter", "CHAPTERS"]


def chapters() -> dict[str, Chapter]:
    """Every registered chapter, id → chapter, in the book's order (by the part of its paper)."""
    load_papers()
    part = {paper.prefix: paper.part for _, paper in PAPERS.items()}

    def order(item):
        index, (chapter_id, _) = item
        return next((p for prefix, p in part.items() if chapter_id.startswith(prefix)), len(part) + 1), index

    return {cid: chapter for _, (cid, chapter) in sorted(enumerate(_REGISTRY.items()), key=order)}


def get_chapter(chapter_id: str) -> Chapter:
    load_papers()
    if chapter_id not in _REGISTRY:
        raise ParameterError(f"unknown chapter {chapter_id!r}; accepted: {', '.join(chapters())}")
    return _REGISTRY.get(chapter_id)


class _Chapters:
    """``CHAPTERS``: a read-only mapping of every chapter, loaded on first use."""

    def __getitem__(self, chapter_id):
        return get_chapter(chapter_id)

    def __iter__(self):
        return iter(chapters())

    def __len__(self):
        return len(chapters())

    def __contains__(self, chapter_id):
        return chapter_id in chapters()

    def values(self):
        return chapters().values()

    def items(self):
        return chapters().items()

    def keys(self):
        return chapters().keys()


CHAPTERS = _Chapters()
