"""Figure helpers in the papers' layout: a mean line with a shaded 95% confidence band over runs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .metrics import mean_ci

__all__ = ["mean_band", "summarise", "new_figure"]


def summarise(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per value of ``x``: mean of ``y`` and its 95% Student-t interval over runs, sorted by ``x``."""
    rows = []
    for value, part in frame.groupby(x):
        mean, low, high = mean_ci(part[y].to_numpy())
        rows.append({x: value, "mean": mean, "low": low, "high": high, "runs": len(part)})
    return pd.DataFrame(rows).sort_values(x)


def mean_band(ax, frame: pd.DataFrame, x: str, y: str, label: str | None = None, color=None, marker="o"):
    """Draw the mean of ``y`` against ``x`` with its 95% band on ``ax``; returns the summary table."""
    summary = summarise(frame, x, y)
    (line,) = ax.plot(summary[x], summary["mean"], marker=marker, label=label, color=color)
    ax.fill_between(summary[x], summary["low"], summary["high"], alpha=0.25, color=line.get_color(), linewidth=0)
    return summary


def new_figure(ncols: int, nrows: int = 1, width: float = 4.2, height: float = 3.2):
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes
