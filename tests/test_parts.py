"""Part landing pages: every chapter's verdicts from stored results, training nothing."""

import nbformat
import pandas as pd

from reprolib import claims as C
from reprolib.chapters import CHAPTERS, get_chapter
from reprolib.cli import execute_notebook
from reprolib.parts import (
    OVERVIEW,
    PART_VERDICTS,
    RESULTS_MISSING,
    part_chapters,
    part_claims,
    parts,
    verdict_counts,
    verdict_tally,
)
from reprolib.store import ResultsStore
from reprolib.verdicts import VERDICTS


def test_a_part_holds_every_registered_chapter_of_its_prefix():
    ids = [c.id for c in part_chapters("H-")]
    assert ids == sorted(i for i in CHAPTERS if i.startswith("H-"))
    assert {"H-F1", "H-RQ1", "H-RQ5a", "H-RQ5b", "H-RQ6", "H-fn1"} <= set(ids)


def test_without_results_each_chapter_says_which_command_trains_it(store_dir):
    table = part_claims("H-", "smoke")
    missing = table[table["verdict"] == RESULTS_MISSING]
    assert sorted(missing["chapter"]) == sorted(c.id for c in part_chapters("H-") if c.id != "H-F1")
    assert "reprolib run H-RQ6 --preset smoke" in missing.set_index("chapter").loc["H-RQ6", "measured"]
    assert list(table.loc[table["chapter"] == "H-F1", "verdict"]) == ["—"]
    assert not store_dir.exists()  # nothing trained


def test_stored_results_give_the_chapters_own_claims(store_dir):
    chapter = get_chapter("H-fn1")
    config = chapter.configure("smoke")
    results = chapter.run(config, progress=False)
    table = part_claims("H-", "smoke", ResultsStore(store_dir))
    rows = table[table["chapter"] == "H-fn1"]
    expected = chapter.claims(results, config)
    assert list(rows["verdict"]) == list(expected["verdict"]) and set(rows["verdict"]) <= set(C.VERDICTS)
    assert set(rows["runs"]) == {"2/2"}


def test_landing_page_runs_and_names_missing_results(tmp_path, store_dir):
    part = parts()["H-"]
    out = execute_notebook(part, {"preset": "smoke"}, tmp_path / "hall_part1.ipynb", log_output=False)
    outputs = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = " ".join(o.get("text", "") for o in outputs)
    assert "H-RQ5a: results missing: run `reprolib run H-RQ5a --preset smoke`" in text
    html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "verdict" in html and "H-F1" in html


def test_verdict_counts_list_every_verdict_in_order_then_other_entries():
    table = pd.DataFrame({"verdict": ["reproduced", "inconclusive", "—", RESULTS_MISSING, "reproduced"]})
    counts = verdict_counts(table)["claims"]
    assert list(counts.index) == [*PART_VERDICTS, "—"]
    assert counts["reproduced"] == 2 and counts["inconclusive"] == 1 and counts["by construction"] == 0
    assert PART_VERDICTS[: len(VERDICTS)] == VERDICTS


def test_the_front_page_counts_each_papers_verdicts_per_preset(store_dir):
    chapter = get_chapter("H-fn1")
    chapter.run(chapter.configure("smoke"), progress=False)
    tally = verdict_tally(("smoke", "course")).set_index(["paper", "preset"])
    hall = parts()["H-"].title
    smoke = verdict_counts(part_claims("H-", "smoke"))["claims"]
    assert tally.loc[(hall, "smoke"), list(smoke.index)].tolist() == smoke.tolist()
    with_runs = [c for c in part_chapters("H-") if c.specs(c.configure("course"))]
    assert tally.loc[(hall, "course"), RESULTS_MISSING] == len(with_runs)  # nothing stored at course
    assert tally.loc[(hall, "course"), "reproduced"] == 0
    papers = tally.index.get_level_values("paper").unique()
    assert len(papers) == len({c.id.split("-")[0] for c in CHAPTERS.values()})  # every paper with chapters


def test_the_front_page_is_the_first_landing_page_and_holds_every_chapter():
    assert next(iter(parts().values())) == OVERVIEW
    assert [c.id for c in part_chapters(OVERVIEW.prefix)] == list(CHAPTERS)


def test_the_front_page_runs_from_an_empty_store(tmp_path, store_dir):
    out = execute_notebook(OVERVIEW, {"preset": "smoke"}, tmp_path / "overview.ipynb", log_output=False)
    outputs = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert RESULTS_MISSING in html and "Part I" in html
    assert not store_dir.exists()


def test_a_landing_page_computes_nothing_even_where_a_chapter_would(store_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLIB_DATA", str(tmp_path / "no-data"))
    table = part_claims("Z-", "paper").set_index("chapter")
    assert table.loc["Z-T1", "verdict"] == RESULTS_MISSING  # its COCO embeddings are not computed here
    assert "reprolib run Z-T1 --preset paper" in table.loc["Z-T1", "measured"]
    assert not store_dir.exists()


def test_a_closing_page_that_restates_claims_is_not_counted_twice(store_dir):
    chapter = get_chapter("K-T4")
    config = chapter.configure("smoke")
    results = chapter.run(config, progress=False)
    assert not chapter.claims(results, config).empty
    table = part_claims("K-", "smoke", ResultsStore(store_dir))
    assert "K-SUM" not in set(table["chapter"])  # K-SUM's table repeats K-T4's rows (with a chapter column)
    own = chapter.claims(results, config)
    assert list(table.loc[table["chapter"] == "K-T4", "claim"]) == list(own["claim"])
