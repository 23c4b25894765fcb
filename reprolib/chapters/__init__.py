"""The chapter registry: catalogue id → chapter."""

from __future__ import annotations

from ..chapter import Chapter, ParameterError
from . import hall_rq1, kurmi_f5, kurmi_f13, kurmi_summary, kurmi_t1, kurmi_t3, kurmi_t4, kurmi_t5

CHAPTERS: dict[str, Chapter] = {
    c.id: c
    for c in (
        hall_rq1.CHAPTER,
        kurmi_t1.CHAPTER,
        kurmi_t3.CHAPTER,
        kurmi_t4.CHAPTER,
        kurmi_t5.CHAPTER,
        kurmi_f13.CHAPTER,
        kurmi_f5.CHAPTER,
        kurmi_summary.CHAPTER,
    )
}


def get_chapter(chapter_id: str) -> Chapter:
    if chapter_id not in CHAPTERS:
        raise ParameterError(f"unknown chapter {chapter_id!r}; accepted: {', '.join(CHAPTERS)}")
    return CHAPTERS[chapter_id]


__all__ = ["CHAPTERS", "get_chapter"]
