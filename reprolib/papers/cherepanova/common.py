"""What the chapters of Cherepanova's thesis chapters 3, 5 and 6 share: the rule of chapter 6's two-part claims
and its paired runs, and the layout of numbers, bars and claims tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...metrics import mean_ci

__all__ = [
    "positive_and_below",
    "paired_difference",
    "claims_table",
    "number",
    "strength_label",
    "no_runs",
    "mean_bar",
]


def positive_and_below(positive, below, tolerance: float, names: tuple[str, str], alpha: float = V.ALPHA) -> V.Verdict:
    """Two one-sided :func:`reprolib.verdicts.sign` tests on paired runs, combined by
    :func:`reprolib.verdicts.combine` (reproduced needs both): ``positive`` > 0, and ``below`` − ``tolerance`` < 0;
    ``names`` label the two parts."""
    parts = {
        names[0]: (np.asarray(positive, dtype=float), 1),
        names[1]: (np.asarray(below, dtype=float) - tolerance, -1),
    }
    return V.combine(V.sign, parts, alpha)


def paired_difference(first: pd.DataFrame, second: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` of ``first`` − of ``second`` per run, over the runs both hold a value for (runs paired)."""
    joined = pd.concat([first.set_index("run")[column], second.set_index("run")[column]], axis=1, join="inner").dropna()
    return (joined.iloc[:, 0] - joined.iloc[:, 1]).to_numpy()


def claims_table(rows) -> pd.DataFrame:
    """The claims table of (claim, paper, verdict) rows."""
    return pd.DataFrame(
        [{"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict} for c, p, v in rows],
        columns=["claim", "paper", "measured", "verdict"],
    )


def number(value, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; "—" for None or a non-finite value."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def strength_label(value) -> str:
    """An intervention's strength as its tables and tags show it: "—" for none."""
    return "—" if value is None else f"{value:g}"


def no_runs(chapter, config) -> str:
    """Why a claim has no verdict when nothing is stored: the command that would run it (and, for CelebA, that
    the data must be in ``root``)."""
    return f"no runs stored: `{chapter.rerun_command(config)}`" + (
        " with CelebA in root" if config.get("source") == "celeba" else ""
    )


def mean_bar(ax, x, values, width, colour, label) -> None:
    """A bar at the mean of ``values`` with its 95% interval."""
    mean, low, high = mean_ci(np.asarray(values, dtype=float))
    ax.bar(x, mean, width, color=colour, label=label)
    ax.errorbar(x, mean, yerr=[[mean - low], [high - mean]], color="k", capsize=2)
