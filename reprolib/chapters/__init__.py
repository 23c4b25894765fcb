"""The chapter registry: catalogue id → chapter."""

from __future__ import annotations

from ..chapter import Chapter, ParameterError
from . import hall_f1, hall_fn1, hall_rq1, hall_rq5, hall_rq6

CHAPTERS: dict[str, Chapter] = {
    c.id: c
    for c in (hall_rq1.CHAPTER, hall_f1.CHAPTER, hall_rq5.RQ5A, hall_rq5.RQ5B, hall_rq6.CHAPTER, hall_fn1.CHAPTER)
}


def get_chapter(chapter_id: str) -> Chapter:
    if chapter_id not in CHAPTERS:
        raise ParameterError(f"unknown chapter {chapter_id!r}; accepted: {', '.join(CHAPTERS)}")
    return CHAPTERS[chapter_id]


__all__ = ["CHAPTERS", "get_chapter"]
