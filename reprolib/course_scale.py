"""Rules that set a chapter's `course` scale from short calibration runs, fixed before any verdict is seen.

A paper's package states its rules (which runs, which knob, which target) and applies these functions to the
calibration runs' validation accuracies; what they choose is committed as a JSON file the `course` presets read,
and each chapter's page shows the table the choice was made from (``calibration_frame``). Ties go to the smaller
knob value and the shorter length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PLATEAU_MARGIN", "closest_to_target", "shortest_on_plateau", "calibration_frame"]

PLATEAU_MARGIN = 0.01  # one point of accuracy


def closest_to_target(accuracies: dict, target: float):
    """The knob value whose mean accuracy is closest to ``target`` (ties: the smaller value). ``accuracies`` maps
    a knob value to its runs' validation accuracies."""
    means = {value: float(np.mean(runs)) for value, runs in accuracies.items()}
    return min(sorted(means), key=lambda value: abs(means[value] - target))


def shortest_on_plateau(accuracies: dict, margin: float = PLATEAU_MARGIN):
    """The shortest length whose mean accuracy is within ``margin`` of the best mean over all lengths.
    ``accuracies`` maps a length in epochs to its runs' final validation accuracies."""
    means = {length: float(np.mean(runs)) for length, runs in accuracies.items()}
    best = max(means.values())
    return min(length for length, mean in means.items() if mean >= best - margin)


def calibration_frame(table: dict, chosen, label: str) -> pd.DataFrame:
    """A calibration table for a chapter's page: per knob value (``label``), the runs' mean, lowest and highest
    validation accuracy, and ✓ on the value the rule chose. ``table`` maps a knob value (a number or its JSON
    string) to its runs' accuracies."""
    rows = [
        {
            label: float(value),
            "mean validation accuracy": float(np.mean(runs)),
            "lowest run": float(np.min(runs)),
            "highest run": float(np.max(runs)),
            "chosen": "✓" if float(value) == float(chosen) else "",
        }
        for value, runs in sorted(table.items(), key=lambda item: float(item[0]))
    ]
    return pd.DataFrame(rows).set_index(label)
