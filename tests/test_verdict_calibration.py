"""Every claim rule of every chapter, calibrated on simulated runs (``reprolib.verdict_calibration``): one registry
of scenarios, filled by each paper's package; every rule a chapter's claims use has a scenario in the chapter's
own shape; no scenario says `reproduced` on noise more than 5% of the time; the book's committed table has a row
for every scenario."""

import numpy as np
import pandas as pd
import pytest

from reprolib import verdict_calibration as K
from reprolib import verdicts as V
from reprolib.chapters import chapters

DRAWS = 1000
# A rule whose size is exactly 5% at the edge (a single one-sided t-test) reads 5% ± 0.7% with 1,000 draws;
# 0.02 is about three Monte-Carlo standard errors.
SLACK = 0.02
SCENARIOS = K.all_scenarios()


def _rate(scenario, scale, mode, verdicts):
    codes = K.simulate(scenario, scale, mode, DRAWS, seed=11)
    return float(np.isin(codes, [V.CODES.index(v) for v in verdicts]).mean())


def _cases(scale):
    return [
        pytest.param(s, id=f"{s.chapter}-{s.rule}-{s.claim[:30]}") for s in SCENARIOS if s.shapes[scale] is not None
    ]


# --- no false `reproduced`, no chance `partly`, power where the paper's design has it -------------------------


@pytest.mark.parametrize("scenario", _cases("course"))
def test_no_false_reproduced_at_course(scenario):
    assert _rate(scenario, "course", "edge", [V.REPRODUCED]) <= V.ALPHA + SLACK
    assert _rate(scenario, "course", "flat", [V.REPRODUCED, V.PARTLY]) <= V.ALPHA + SLACK


@pytest.mark.parametrize("scenario", _cases("paper"))
def test_no_false_reproduced_and_power_at_paper(scenario):
    assert _rate(scenario, "paper", "edge", [V.REPRODUCED]) <= V.ALPHA + SLACK
    assert _rate(scenario, "paper", "flat", [V.REPRODUCED, V.PARTLY]) <= V.ALPHA + SLACK
    if scenario.resolvable_at_paper:
        assert _rate(scenario, "paper", "effect", [V.REPRODUCED]) >= 0.8


def test_simulation_is_seeded_by_the_scenario_not_its_position():
    scenario = SCENARIOS[2]  # H-RQ1's monotone rise: about 85% power at course, so the codes vary
    a, b = K.simulate(scenario, "course", "effect", 300, seed=3), K.simulate(scenario, "course", "effect", 300, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, K.simulate(scenario, "course", "effect", 300, seed=4))
    alone = K.calibration_table(draws=50, scenarios=[scenario])
    among = K.calibration_table(draws=50, scenarios=SCENARIOS[:4])
    assert alone.iloc[0].to_dict() == among.iloc[2].to_dict()
    with pytest.raises(ValueError, match="mode must be one of"):
        K.simulate(scenario, "paper", "sideways")


def test_updating_some_chapters_rows_recomputes_them_and_keeps_the_others(tmp_path):
    chosen = [s for s in SCENARIOS if s.chapter in ("H-RQ1", "K-F13")]
    full = K.calibration_table(draws=40, scenarios=chosen)
    committed = full.copy()
    committed.loc[committed["chapter"] == "K-F13", "course power"] = -1.0  # stale K-F13 rows
    committed.loc[committed["chapter"] == "H-RQ1", "paper power"] = -2.0  # kept as they are
    path = tmp_path / "calibration.csv"
    committed.to_csv(path, index=False)
    registered = K.SCENARIOS[:]
    K.SCENARIOS[:] = chosen
    try:
        updated = K.updated_table(["K-F"], draws=40, csv_path=path)
        with pytest.raises(ValueError, match=r"draws must be the committed table's \(\[40\]\), got 50"):
            K.updated_table(["K-F"], draws=50, csv_path=path)
        with pytest.raises(ValueError, match="chapters: no scenario's chapter starts with"):
            K.updated_table(["Q-"], draws=40, csv_path=path)
    finally:
        K.SCENARIOS[:] = registered
    assert list(updated["claim"]) == list(full["claim"])
    fresh = updated["chapter"] == "K-F13"
    assert np.allclose(updated.loc[fresh, "course power"], full.loc[fresh.to_numpy(), "course power"])
    assert (updated.loc[~fresh, "paper power"] == -2.0).all()


# --- every rule a chapter uses has a scenario; every scenario is a rule its chapter uses -----------------------


def test_every_declared_claim_rule_is_registered():
    unknown = [f"{cid}: {rule}" for cid, c in chapters().items() for rule in c.claim_rules if rule not in V.RULES]
    assert not unknown, f"claim rules not in verdicts.RULES: {'; '.join(unknown)}"


def test_every_claim_rule_of_every_chapter_has_a_scenario():
    covered = {(s.chapter, s.rule) for s in SCENARIOS}
    missing = [
        f"{cid}: {rule}" for cid, c in chapters().items() for rule in c.claim_rules if (cid, rule) not in covered
    ]
    assert not missing, f"claim rules with no calibration scenario: {'; '.join(missing)}"


def test_every_scenario_is_a_rule_its_chapter_declares():
    registered = chapters()
    stale = [
        f"{s.chapter}: {s.rule} ({s.claim})"
        for s in SCENARIOS
        if s.chapter not in registered or s.rule not in registered[s.chapter].claim_rules
    ]
    assert not stale, f"scenarios of no chapter's declared rule: {'; '.join(stale)}"


# --- the committed table: generated, with a row for every scenario -------------------------------------------


def _key(chapter, claim, rule, course, paper):
    return chapter, claim, rule, None if pd.isna(course) else int(course), None if pd.isna(paper) else int(paper)


def test_the_committed_table_has_a_row_for_every_scenario():
    table = K.read_table()
    committed = {
        _key(*row) for row in table[["chapter", "claim", "rule", "course runs", "paper runs"]].itertuples(False)
    }
    expected = {
        _key(s.chapter, s.claim, s.rule, *((s.shapes[x] or {}).get("runs", np.nan) for x in K.SCALES))
        for s in SCENARIOS
    }
    regenerate = "regenerate it: PYTHONPATH=. python benchmarks/verdict_calibration.py"
    assert not expected - committed, f"scenarios with no row in {K.TABLE_CSV}; {regenerate}: {expected - committed}"
    assert not committed - expected, f"rows of no registered scenario in {K.TABLE_CSV}; {regenerate}"
    assert (table["draws"] >= 1000).all()
    assert K.TABLE_MD.read_text() == K.markdown_table(table), f"{K.TABLE_MD} is not the CSV's table; {regenerate}"


def test_the_committed_table_shows_no_false_reproduced_beyond_monte_carlo_error():
    table = K.read_table()
    allowance = V.ALPHA + 3 * np.sqrt(V.ALPHA * (1 - V.ALPHA) / table["draws"])
    for scale in K.SCALES:
        worse = table[table[f"{scale} FP"] > allowance]
        assert worse.empty, f"FP above 5% at {scale}: {worse[['chapter', 'claim', f'{scale} FP']].to_dict('records')}"


def test_a_papers_page_reads_its_rows_of_the_committed_table():
    rows = K.committed_table("K-")
    assert len(rows) == sum(s.chapter.startswith("K-") for s in SCENARIOS) > 0
    assert set(rows["chapter"]) <= {c for c in chapters() if c.startswith("K-")}
    assert rows.loc[0, "course FP"].endswith("%") and rows.loc[0, "rule"].startswith("`")
