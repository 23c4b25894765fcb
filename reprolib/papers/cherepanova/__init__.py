"""Part IV — Cherepanova (2023), "Adversarial Robustness and Fairness in Deep Learning" (PhD thesis, University of
Maryland). Chapter 4 of the thesis (Borgnia et al., ICASSP 2021): strong data augmentation as a defence against
backdoor and targeted poisoning attacks.

Importing this package registers the augmentations as batch transforms (``transforms``), MaxUp and DP-SGD as
training methods (``methods``), the patch backdoor task and its ``backdoor`` evaluator (``backdoor``), and the
chapters.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import backdoor, c4_t1, c4_t2, c4_views, methods, poison, transforms  # noqa: F401 - they register

PAPER = register_paper(
    "cherepanova",
    Paper(
        part=4,
        title="Part IV — Cherepanova (2023), Adversarial Robustness and Fairness in Deep Learning",
        prefix="C-",
        notebooks=Path(ROOT) / "notebooks",
    ),
)

register_chapter(c4_t1.CHAPTER)
register_chapter(c4_t2.CHAPTER)
register_chapter(c4_views.CHAPTER)
