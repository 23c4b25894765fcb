"""The chapter registry: catalogue id → chapter."""

from __future__ import annotations

from ..chapter import Chapter, ParameterError
from . import (
    hall_f1,
    hall_fn1,
    hall_rq1,
    hall_rq2,
    hall_rq3,
    hall_rq4,
    hall_rq5,
    hall_rq6,
    kurmi_f5,
    kurmi_f13,
    kurmi_summary,
    kurmi_t1,
    kurmi_t3,
    kurmi_t4,
    kurmi_t5,
)

CHAPTERS: dict[str, Chapter] = {
    c.id: c
    for c in (
        hall_f1.CHAPTER,
        hall_rq1.CHAPTER,
        hall_rq2.CHAPTER,
        hall_rq3.CHAPTER,
        hall_rq4.CHAPTER_A,
        hall_rq4.CHAPTER_B,
        hall_rq5.RQ5A,
        hall_rq5.RQ5B,
        hall_rq6.CHAPTER,
        hall_fn1.CHAPTER,
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
