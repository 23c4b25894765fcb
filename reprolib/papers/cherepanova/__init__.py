"""Part IV — Cherepanova (2023), "Adversarial Robustness and Fairness in Deep Learning" (PhD thesis, University of
Maryland). Chapter 4 of the thesis (Borgnia et al., ICASSP 2021): strong data augmentation as a defence against
backdoor and targeted poisoning attacks.

Chapters 5 and 6 (face identification: dataset imbalance, and train-time fairness interventions): identity
populations and their exact compositions with the ``identification`` evaluator (``faces``), the ``margin_softmax``
method with CosFace/ArcFace heads and the chapter-6 interventions (``margins``), the thesis's face models
(``face_models``), and the chapters ``c5`` (C-5-TRAIN, C-5-GALLERY, C-5-MATCHED) and ``c6`` (C-6-FR).

Importing this package registers the augmentations as batch transforms (``transforms``), MaxUp and DP-SGD as
training methods (``methods``), the patch backdoor task and its ``backdoor`` evaluator (``backdoor``), Witches'
Brew poisons as an artifact with their task and evaluator (``poison``), the face identification pieces above, and
the chapters.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import backdoor, c4_t1, c4_t2, c4_views, c5, c6, face_models, faces, margins, methods, poison, transforms  # noqa: F401

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
for chapter in c5.CHAPTERS:
    register_chapter(chapter)
register_chapter(c6.CHAPTER)
