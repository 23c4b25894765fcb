"""A second, disjoint set of seeds for every chapter with runs: the ``first_run`` parameter."""

import pytest

from reprolib.chapter import ParameterError
from reprolib.chapters import CHAPTERS, get_chapter


def test_every_chapter_with_runs_takes_first_run_right_after_runs():
    for chapter in CHAPTERS.values():
        names = chapter.parameter_names()
        if "runs" in names:
            assert names[names.index("runs") + 1] == "first_run", chapter.id
        else:
            assert "first_run" not in names, chapter.id


@pytest.mark.parametrize("chapter_id", ["H-RQ1", "H-RQ4b", "K-T1", "K-T4", "C-4-T1"])
def test_first_run_shifts_every_seed_and_shares_no_run(chapter_id, store_dir):
    """In a fresh store: C-4's table runs wait for strengths chosen from stored validation runs."""
    chapter = get_chapter(chapter_id)
    first, second = (
        [s for s in chapter.specs(chapter.configure("smoke", first_run=f)) if s.tags.get("stage") != "pilot"]
        for f in (0, 10_000)
    )  # C-4's trigger pilot has fixed seeds of its own: it picks the trigger, it is not a run of the table
    assert len(first) == len(second)
    assert max(s.seed for s in first) < 10_000
    assert {s.seed for s in second} == {s.seed + 10_000 for s in first}
    assert not {s.key for s in first} & {s.key for s in second}


def test_first_run_defaults_to_zero_is_checked_and_appears_in_the_rerun_command():
    chapter = get_chapter("H-RQ1")
    assert chapter.configure("smoke")["first_run"] == 0
    with pytest.raises(ParameterError, match=r"^first_run must be an integer in 0 … 1000000, got -1$"):
        chapter.configure("smoke", first_run=-1)
    command = chapter.rerun_command(chapter.configure("course", first_run=10_000))
    assert command == "reprolib run H-RQ1 --preset course -p first_run=10000"
