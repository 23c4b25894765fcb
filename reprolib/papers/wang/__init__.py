"""Part II — Wang et al. (2019), "Balanced Datasets Are Not Enough": the multi-label stand-in for COCO with its
``multilabel`` evaluator and ``multilabel_bce`` method (``standin.py``), the α-balanced splits (``splits.py``),
the leakage attacker (``leakage.py``) and its stored runs (``attackers.py``), and the chapters.

Importing this package registers all of them.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import attackers, calibration, f4, f67, leakage, methods, real, resnet50, splits, standin, t1, t2, t3, t45  # noqa: F401 - they register

PAPER = register_paper(
    "wang",
    Paper(
        part=2,
        title="Part II — Wang et al. (2019), Balanced Datasets Are Not Enough",
        prefix="W-",
        notebooks=Path(ROOT) / "notebooks",
    ),
)

register_chapter(f4.CHAPTER)
register_chapter(t1.CHAPTER)
register_chapter(t2.CHAPTER)
register_chapter(t3.CHAPTER)
register_chapter(t45.CHAPTER)
register_chapter(f67.CHAPTER)
