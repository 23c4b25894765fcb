"""Part V — Choi, Zhang & Liu, "Gender Fairness in Multi-label Classification using Auxiliary Tasks".

The labels and Table 1 (``labels.py``), embeddings as tasks with the ``choi_bias`` evaluator (``embeddings.py``),
the course stand-in ``choi_standin`` (``standin.py``), COCO 2014 embeddings ``choi_coco`` (``coco_task.py``), the
descriptive model of §3.3 as a stored artifact (``descriptive.py``), the methods ``choi_baseline`` and
``choi_auxiliary`` (``method.py``) and the chapters Z-T1, Z-F12 and Z-M.

Importing this package registers all of them.
"""

from pathlib import Path

from ...chapter import ROOT, register_chapter
from .. import Paper, register_paper
from . import calibration, coco_task, descriptive, embeddings, f12, m, method, standin, t1  # noqa: F401 - they register

PAPER = register_paper(
    "choi",
    Paper(
        part=5,
        title="Part V — Choi, Zhang & Liu, Gender Fairness in Multi-label Classification using Auxiliary Tasks",
        prefix="Z-",
        notebooks=Path(ROOT) / "notebooks",
    ),
)

register_chapter(t1.CHAPTER)
register_chapter(f12.CHAPTER)
register_chapter(m.CHAPTER)
