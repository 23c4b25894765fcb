"""Verdicts on two disjoint seed sets, side by side: agreement, one inconclusive, differ, flip."""

import pytest

from reprolib import claims as C
from reprolib.chapters import get_chapter
from reprolib.cli import main
from reprolib.stability import AGREEMENTS, agreement, seed_sets
from reprolib.store import ResultsStore


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("reproduced", "reproduced", "agree"),
        ("inconclusive", "inconclusive", "agree"),
        ("reproduced", "inconclusive", "one inconclusive"),
        ("inconclusive", "not reproduced", "one inconclusive"),
        ("reproduced", "partly", "differ"),
        ("not run at this scale", "reproduced", "differ"),
        ("reproduced", "not reproduced", "flip"),
        ("not reproduced", "partly", "flip"),
    ],
)
def test_agreement_of_two_verdicts(first, second, expected):
    assert agreement(first, second) == expected
    assert agreement(second, first) == expected


def test_two_seed_sets_are_judged_apart_from_stored_runs(store_dir):
    chapter = get_chapter("H-fn1")
    first, second = chapter.configure("smoke"), chapter.configure("smoke", first_run=10_000)
    for config in (first, second):
        chapter.run(config, progress=False)
    table = seed_sets(chapter, first, 10_000, ResultsStore(store_dir))
    expected = [chapter.claims(chapter.results(c), c)["verdict"].tolist() for c in (first, second)]
    assert table["verdict (first seeds)"].tolist() == expected[0]
    assert table["verdict (second seeds)"].tolist() == expected[1]
    assert set(table["agreement"]) <= set(AGREEMENTS) and len(table) == len(expected[0])
    keys = [{s.key for s in chapter.specs(c)} for c in (first, second)]
    assert not keys[0] & keys[1]


def test_overlapping_seed_sets_are_refused_in_one_line():
    chapter = get_chapter("H-RQ1")
    with pytest.raises(
        ValueError,
        match=r"^the second seed set must start after the first ends: first_run=5 shares runs with first_run=0$",
    ):
        seed_sets(chapter, chapter.configure("course", runs=10), 5)


def test_a_chapter_that_nests_others_draws_their_second_seed_set_too(store_dir):
    chapter = get_chapter("H-RQ4b")  # H-RQ2's capacity runs and H-RQ3's data runs, runs=None at every preset
    first = chapter.configure("smoke")
    table = seed_sets(chapter, first, 10_000, ResultsStore(store_dir))
    assert set(table["verdict (second seeds)"]) <= set(C.VERDICTS) and len(table) > 0
    second = chapter.configure("smoke", first_run=10_000)
    assert second["capacity"]["first_run"] == second["data"]["first_run"] == 10_000
    assert not {s.key for s in chapter.specs(first)} & {s.key for s in chapter.specs(second)}


def test_a_chapter_without_runs_has_no_second_seed_set(capsys):
    assert main(["stability", "H-F1", "--preset", "smoke"]) == 2
    assert "H-F1 has no runs to draw a second seed set from" in capsys.readouterr().err
