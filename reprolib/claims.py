"""Claims tables: a paper's claim, the paper's number, this run's number, and a verdict computed from the data.

Each check states its rule in its docstring; the rules are fixed before any result is seen and are never
tuned to flip a verdict. Verdicts: ``reproduced``, ``partly``, ``not reproduced``, ``not run at this scale``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import mean_ci

__all__ = [
    "Claim",
    "VERDICTS",
    "claims_frame",
    "fmt_ci",
    "check_near_zero",
    "check_positive",
    "check_negative",
    "check_increasing",
    "not_run",
]

REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_RUN = "reproduced", "partly", "not reproduced", "not run at this scale"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_RUN)

# |mean| below this counts as "≈ 0" for BiasAmp even when the interval excludes 0 (a 0.5-point difference in
# prediction rates); fixed before any result was seen.
NEAR_ZERO_TOLERANCE = 0.005


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


def not_run(claim: str, paper: str, why: str) -> Claim:
    return Claim(claim, paper, why, NOT_RUN)


def check_near_zero(claim: str, paper: str, values, tolerance: float = NEAR_ZERO_TOLERANCE) -> Claim:
    """Reproduced when the 95% interval contains 0 or |mean| ≤ tolerance; otherwise not reproduced."""
    if len(values) == 0:
        return not_run(claim, paper, "no runs")
    mean, low, high = mean_ci(values)
    ok = (low <= 0 <= high) or abs(mean) <= tolerance
    return Claim(claim, paper, fmt_ci(values), REPRODUCED if ok else NOT_REPRODUCED)


def _setting(x) -> str:
    return f"{x:g}" if isinstance(x, int | float) else str(x)


def _sign_check(claim: str, paper: str, groups: dict, sign: int) -> Claim:
    if not groups or any(len(v) == 0 for v in groups.values()):
        return not_run(claim, paper, "no runs")
    cis = {x: mean_ci(v) for x, v in groups.items()}
    strict = [(low > 0) if sign > 0 else (high < 0) for _, low, high in cis.values()]
    means = [(m > 0) if sign > 0 else (m < 0) for m, _, _ in cis.values()]
    measured = "; ".join(f"{_setting(x)}: {fmt_ci(v)}" for x, v in groups.items())
    if all(strict):
        verdict = REPRODUCED
    elif all(means) or np.mean(strict) >= 0.5:
        verdict = PARTLY
    else:
        verdict = NOT_REPRODUCED
    return Claim(claim, paper, measured, verdict)


def check_positive(claim: str, paper: str, groups: dict) -> Claim:
    """``groups`` maps a setting (a number or a label) to run values. Reproduced when every setting's 95%
    interval lies above 0; partly when every mean is above 0, or at least half the intervals lie above 0;
    otherwise not reproduced."""
    return _sign_check(claim, paper, groups, +1)


def check_negative(claim: str, paper: str, groups: dict) -> Claim:
    """As ``check_positive``, mirrored: intervals below 0."""
    return _sign_check(claim, paper, groups, -1)


def check_increasing(claim: str, paper: str, x, y, alpha: float = 0.05) -> Claim:
    """Spearman rank correlation of run-level (x, y): reproduced when ρ > 0 with p < alpha; partly when ρ > 0;
    otherwise not reproduced."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or len(np.unique(x)) < 2:
        return not_run(claim, paper, "fewer than 3 runs or a single setting")
    rho, p = stats.spearmanr(x, y)
    verdict = REPRODUCED if rho > 0 and p < alpha else PARTLY if rho > 0 else NOT_REPRODUCED
    return Claim(claim, paper, f"Spearman ρ = {rho:+.2f} (p = {p:.2g}, n = {len(x)})", verdict)
