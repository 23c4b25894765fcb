"""A toy paper: the smallest complete plug-in of the book (see the book's page "Adding a paper").

It registers one task (``toy_stripes``), one method (``smoothed_ce``), one chapter (``T-1``, notebook
``toy_chapter.md`` beside this file), the calibration scenario of its claim's rule, and the paper itself. Load it
with ``REPROLIB_PAPERS=toy_paper`` (this folder's parent on ``PYTHONPATH``), or, for an installed package, with an
entry point in the group ``reprolib.papers``.
"""

from pathlib import Path

from reprolib.chapter import register_chapter
from reprolib.papers import Paper, register_paper

from . import calibration  # noqa: F401 - registers the scenario
from .chapter import CHAPTER
from .method import SmoothedCE  # noqa: F401 - registers the method
from .task import StripesTask  # noqa: F401 - registers the task

PAPER = register_paper("toy", Paper(part=99, title="A toy paper", prefix="T-", notebooks=Path(__file__).parent))
register_chapter(CHAPTER)
