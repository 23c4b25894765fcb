"""Part I — Hall et al. (2022), "A Systematic Study of Bias Amplification": its tasks, evaluator and chapters.

Importing this package registers the inversion and overlay tasks and the ``binary_bias`` evaluator (``tasks.py``),
the paper with its landing page, and its chapters in the book's order.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import calibration, f1, fn1, rq1, rq2, rq3, rq4, rq5, rq6  # noqa: F401 - calibration registers

PAPER = register_paper(
    "hall",
    Paper(
        part=1,
        title="Part I — Hall et al. (2022), A Systematic Study of Bias Amplification",
        prefix="H-",
        notebooks=Path(ROOT) / "notebooks",
        landing="hall_part1.md",
    ),
)

for _chapter in (
    f1.CHAPTER,
    rq1.CHAPTER,
    rq2.CHAPTER,
    rq3.CHAPTER,
    rq4.CHAPTER_A,
    rq4.CHAPTER_B,
    rq5.RQ5A,
    rq5.RQ5B,
    rq6.CHAPTER,
    fn1.CHAPTER,
):
    register_chapter(_chapter)
