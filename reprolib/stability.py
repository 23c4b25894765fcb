"""Stable verdicts: a chapter's claims judged on two disjoint sets of seeds, side by side.

A verdict is a result only if it does not depend on which seeds were drawn. ``seed_sets`` computes a chapter's
claims table from the stored runs of two configurations that differ only in ``first_run`` (by default runs
0 … n−1 and 10,000 … 10,000+n−1: no seed, and in Part I no class assignment, in common) and says of each claim
whether the two verdicts

- ``agree``: the same verdict;
- ``one inconclusive``: one set resolves the claim and the other cannot (too little power: honest, not a flip);
- ``differ``: both resolve it in the same direction but to a different degree (``reproduced`` vs ``partly``);
- ``flip``: one set supports the claim (``reproduced`` or ``partly``) and the other resolves it against the
  paper (``not reproduced``). A flip means the rule, at this preset's number of runs, is not fit to judge the
  claim.
"""

from __future__ import annotations

import pandas as pd

from .chapter import Chapter
from .store import ResultsStore, current_store
from .verdicts import INCONCLUSIVE, NOT_REPRODUCED, PARTLY, REPRODUCED

__all__ = ["SECOND_FIRST_RUN", "AGREEMENTS", "agreement", "seed_sets"]

SECOND_FIRST_RUN = 10_000  # the first run of the second seed set: clear of any preset's runs and pilot seeds
AGREEMENTS = ("agree", "one inconclusive", "differ", "flip")
SUPPORT = (REPRODUCED, PARTLY)


def agreement(first: str, second: str) -> str:
    """How two verdicts on the same claim from disjoint seed sets relate (one of ``AGREEMENTS``)."""
    if first == second:
        return "agree"
    if INCONCLUSIVE in (first, second):
        return "one inconclusive"
    if {first, second} <= set(SUPPORT):
        return "differ"
    if NOT_REPRODUCED in (first, second) and {first, second} & set(SUPPORT):
        return "flip"
    return "differ"


def seed_sets(
    chapter: Chapter,
    config: dict,
    second_first_run: int = SECOND_FIRST_RUN,
    store: ResultsStore | None = None,
) -> pd.DataFrame:
    """The chapter's claims judged on ``config``'s seed set and on the set from ``second_first_run``, with the
    ``agreement`` of each claim's two verdicts; from stored results only (trains nothing)."""
    store = store or current_store()
    params = {name: config[name] for name in chapter.all_parameters() if name in config}
    # configured anew, not copied: a chapter may nest other chapters' configurations (H-RQ4b: H-RQ2's, H-RQ3's)
    second = chapter.configure(config["preset"], config["device"], **{**params, "first_run": second_first_run})
    if {s.key for s in chapter.specs(config)} & {s.key for s in chapter.specs(second)}:
        raise ValueError(
            f"the second seed set must start after the first ends: first_run={second_first_run} shares runs "
            f"with first_run={config.get('first_run', 0)}"
        )
    tables = []
    for name, cfg in (("first", config), ("second", second)):
        table = chapter.claims(chapter.results(cfg, store), cfg)
        tables.append(table[["claim", "measured", "verdict"]].add_suffix(f" ({name} seeds)"))
    both = pd.concat(tables, axis=1)
    both = both.rename(columns={"claim (first seeds)": "claim"}).drop(columns="claim (second seeds)")
    both["agreement"] = [
        agreement(a, b) for a, b in zip(both["verdict (first seeds)"], both["verdict (second seeds)"], strict=True)
    ]
    return both
