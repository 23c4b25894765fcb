"""Calibration scenarios of Part I's claims whose rules are this package's own code (H-fn1's accuracy bands and
dataset order); registered into ``reprolib.verdict_calibration`` on import, so the core never imports Part I.
The conventions (modes, noise, shapes) are the core module's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...verdict_calibration import Scenario, register_scenarios
from .fn1 import _ordering_claim, band_verdict

__all__ = ["FN1_SCENARIOS"]


def _fn1_band(dataset, effect, edge):
    """H-fn1's accuracy band (``papers.hall.fn1.band_verdict`` on the distribution-free 90% interval of the
    median run accuracy, accuracies clipped to [0, 1]): the true accuracy at ``effect`` (the paper's number), at
    ``edge`` (a boundary of the band), or at ½ (chance: "flat")."""

    def draw(rng, draws, shape, sd, mode):
        mean = {"effect": effect, "edge": edge, "flat": 0.5}[mode]
        d = np.clip(mean + rng.normal(0, sd, (draws, shape["runs"])), 0, 1)
        _, low, high = V._median_bounds(d)
        return np.array([V.CODES.index(band_verdict(dataset, lo, hi)) for lo, hi in zip(low, high, strict=True)])

    return draw


def _fn1_order(gap):
    """H-fn1's order of the two datasets (``papers.hall.fn1._ordering_claim``, a one-sided Welch test): the
    first dataset ``gap`` above the second under the effect, equal otherwise."""

    def draw(rng, draws, shape, sd, mode):
        runs = shape["runs"]
        first = (gap if mode == "effect" else 0.0) + rng.normal(0, sd, (draws, runs))
        second = rng.normal(0, sd, (draws, runs))
        names = ["fashion_mnist"] * runs + ["cifar100"] * runs
        codes = []
        for a, b in zip(first, second, strict=True):
            frame = pd.DataFrame({"dataset": names, "metrics.accuracy": np.concatenate([a, b])})
            codes.append(V.CODES.index(_ordering_claim(frame).verdict))
        return np.array(codes)

    return draw


FN1_SCENARIOS = [
    Scenario(
        "H-fn1",
        "uniform backgrounds: inversion recognised near-perfectly (median's interval ≥ 99%)",
        "band (fn1)",
        "accuracy",
        {"course": {"runs": 5}, "paper": {"runs": 20}},
        "true accuracy 99% (edge)",
        "true accuracy 100% (footnote 1)",
        _fn1_band("fashion_mnist", 1.0, 0.99),
    ),
    Scenario(
        "H-fn1",
        "natural images: recognised well but not always (median's interval in [90%, 99%))",
        "band (fn1)",
        "accuracy",
        {"course": None, "paper": {"runs": 20}},
        "true accuracy 99% (edge)",
        "true accuracy 96% (footnote 1)",
        _fn1_band("cifar100", 0.96, 0.99),
    ),
    Scenario(
        "H-fn1",
        "Fashion-MNIST recognised better than CIFAR-100 (Welch)",
        "Welch (fn1)",
        "accuracy",
        {"course": None, "paper": {"runs": 20}},
        "equal accuracies",
        "+4 points (100% vs 96%)",
        _fn1_order(0.04),
    ),
]
register_scenarios(*FN1_SCENARIOS)
