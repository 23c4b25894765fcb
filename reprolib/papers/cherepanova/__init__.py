"""Part IV — Cherepanova (2023), "Adversarial Robustness and Fairness in Deep Learning" (PhD thesis, University of
Maryland). Chapter 3 of the thesis (Cherepanova et al., ICLR 2021): LowKey, adversarial filters against face
recognition — the attack as a stored artifact (``lowkey``) and the chapter ``c3`` (C-3-LOWKEY), on victims trained
with the face identification pieces below (IR and ResNet backbones, ``face_models``). Chapter 4 (Borgnia et al.,
ICASSP 2021): strong data augmentation as a defence against backdoor and targeted poisoning attacks.

Chapters 5 and 6 (face identification: dataset imbalance, and train-time fairness interventions): identity
populations and their exact compositions with the ``identification`` evaluator (``faces``), the ``margin_softmax``
method with CosFace/ArcFace heads and the chapter-6 interventions (``margins``), the thesis's face models
(``face_models``), and the chapters ``c5`` (C-5-TRAIN, C-5-GALLERY, C-5-MATCHED) and ``c6`` (C-6-FR). Chapter 6's
CheXpert experiments: the binary stand-in task and its ``group_auc`` evaluator (``chest_xrays``), the
``fair_binary`` method with the thesis's penalties (``fairness_penalties``), and the chapter ``c6_cx`` (C-6-CX);
the sensitive-information removal network on stored face embeddings (``sirn``, an artifact) and its chapter
``c6_sirn`` (C-6-SIRN).

Importing this package registers the augmentations as batch transforms (``transforms``), MaxUp and DP-SGD as
training methods (``methods``), the patch backdoor task and its ``backdoor`` evaluator (``backdoor``), Witches'
Brew poisons as an artifact with their task and evaluator (``poison``), the face identification pieces above, and
the chapters.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import (  # noqa: F401 - they register
    backdoor,
    c3,
    c4_t1,
    c4_t2,
    c4_views,
    c5,
    c6,
    c6_cx,
    c6_sirn,
    calibration,
    chest_xrays,
    face_models,
    faces,
    fairness_penalties,
    lowkey,
    margins,
    methods,
    poison,
    sirn,
    transforms,
)

PAPER = register_paper(
    "cherepanova",
    Paper(
        part=4,
        title="Part IV — Cherepanova (2023), Adversarial Robustness and Fairness in Deep Learning",
        prefix="C-",
        notebooks=Path(ROOT) / "notebooks",
    ),
)

register_chapter(c3.CHAPTER)
register_chapter(c4_t1.CHAPTER)
register_chapter(c4_t2.CHAPTER)
register_chapter(c4_views.CHAPTER)
for chapter in c5.CHAPTERS:
    register_chapter(chapter)
register_chapter(c6.CHAPTER)
register_chapter(c6_cx.CHAPTER)
register_chapter(c6_sirn.CHAPTER)
