"""Part III — Kurmi et al. (2022), "Gradient Based Activations for Accurate Bias-Free Learning": its tasks
(Colored MNIST, CIFAR-10S, CIFAR-I, CelebA), the ``skew`` evaluator, the debiasing methods and the chapters.

Importing this package registers all of them; K-SUM, the part's closing note, gathers every verdict.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import calibration, celeba, cifar_i, f5, f13, methods, resnet18, skew_tasks, summary, t1, t3, t4, t5  # noqa: F401 - they register

PAPER = register_paper(
    "kurmi",
    Paper(
        part=3,
        title="Part III — Kurmi et al. (2022), Gradient Based Activations for Accurate Bias-Free Learning",
        prefix="K-",
        notebooks=Path(ROOT) / "notebooks",
    ),
)

for _chapter in (t1.CHAPTER, t3.CHAPTER, t4.CHAPTER, t5.CHAPTER, f13.CHAPTER, f5.CHAPTER, summary.CHAPTER):
    register_chapter(_chapter)
