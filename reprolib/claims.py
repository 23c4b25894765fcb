"""Claims tables: a paper's claim, the paper's number, this run's number, and a verdict computed from the data.

The verdicts and the rules that compute them live in :mod:`reprolib.verdicts` (stated in prose on the book page
"How verdicts are computed", ``book/verdicts.md``); this module only lays a verdict out as a row of a chapter's
claims table. The vocabulary is :data:`reprolib.verdicts.VERDICTS`: ``reproduced``, ``partly``, ``not
reproduced``, ``inconclusive``, ``by construction``, ``not run at this scale``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from .metrics import mean_ci
from .verdicts import BY_CONSTRUCTION, INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN, PARTLY, REPRODUCED, VERDICTS, Verdict

__all__ = [
    "Claim",
    "VERDICTS",
    "REPRODUCED",
    "PARTLY",
    "NOT_REPRODUCED",
    "INCONCLUSIVE",
    "BY_CONSTRUCTION",
    "NOT_RUN",
    "claims_frame",
    "fmt_ci",
    "judged",
    "not_run",
]


@dataclass(frozen=True)
class Claim:
    claim: str
    paper: str
    measured: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    return pd.DataFrame([asdict(c) for c in claims], columns=["claim", "paper", "measured", "verdict"])


def fmt_ci(values) -> str:
    mean, low, high = mean_ci(values)
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] (n={len(values)})"


def judged(claim: str, paper: str, verdict: Verdict) -> Claim:
    """The row of a claim judged by a rule of :mod:`reprolib.verdicts`."""
    return Claim(claim, paper, verdict.measured, verdict.verdict)


def not_run(claim: str, paper: str, why: str) -> Claim:
    return Claim(claim, paper, why, NOT_RUN)
