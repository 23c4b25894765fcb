"""Calibration of C-6-CX's claim rules on simulated runs, before any real run is judged with them.

The rules are ``reprolib.verdicts``' one-sided sign tests, combined over the parts of a claim by
``verdicts.combine``; what is new is their composition: C-6-CX's "looks fair on train, not fairer on test" per
penalty (``c6_cx.fair_on_train_not_on_test``) combined over two penalties, and the claims over three holdout
penalties and three flip shares. Each ``verdict_calibration.Scenario`` has the chapter's shape (5 runs at
``course``, 10 at ``paper``) and a run-to-run standard deviation ``shape["sd"]`` of a paired difference of AUC
gaps: 0.03 at ``course`` (2,000 test images, about 1,000 per sex: an AUC's standard error is ~0.015, a gap's
~0.02, a paired difference's ~0.03) and 0.015 at ``paper`` — stated assumptions, not measured on this book's runs.
Modes as in the core: ``edge`` (the claim false in the hardest way), ``flat`` (no effect anywhere), ``effect``
(the thesis's effect, from Tables 6.1, 6.8 and 6.10). Every draw is seeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...verdict_calibration import MODES, Scenario
from .c6_cx import GAP_TOLERANCE

__all__ = ["CX_SCENARIOS", "fair_on_train_codes", "simulate", "calibration_frame"]


def fair_on_train_codes(looks, narrow, alpha: float = V.ALPHA) -> np.ndarray:
    """Codes of ``V.combine(c6_cx.fair_on_train_not_on_test, …)`` over penalties for values (..., penalties, runs):
    the chapter's nesting, a combination over penalties of a combination over the two parts."""

    def per_penalty(level):
        return V.combine_codes(
            lambda inner: np.stack(
                [V.sign_codes(looks, 1, inner), V.sign_codes(narrow - GAP_TOLERANCE, -1, inner)], -1
            ),
            level,
        )

    return V.combine_codes(per_penalty, alpha)


def _fair_on_train(looks_effect: float, penalties: int):
    """Per penalty, (test gap − train gap > 0) and (test-gap narrowing − tolerance < 0), combined over the two
    parts and over ``penalties``. Effect: looks fairer by ``looks_effect``, no narrowing; edge: one penalty
    narrows the test gap by exactly the tolerance; flat: nothing looks fairer and every penalty narrows by the
    tolerance."""

    def draw(rng, draws, shape, sd, mode):
        runs, s = shape["runs"], shape["sd"]
        looks = (0.0 if mode == "flat" else looks_effect) + s * rng.normal(0, 1, (draws, penalties, runs))
        narrowing = np.full(penalties, 0.0 if mode == "effect" else GAP_TOLERANCE)
        if mode == "edge":
            narrowing[1:] = 0.0
        narrow = narrowing[:, None] + s * rng.normal(0, 1, (draws, penalties, runs))

        return fair_on_train_codes(looks, narrow)

    return draw


def _every_setting(effects):
    """A sign claim (> 0) at every setting. Effect: every setting at its effect; edge: the first at exactly 0;
    flat: every one at 0."""
    effects = np.asarray(effects, dtype=float)

    def draw(rng, draws, shape, sd, mode):
        means = {"effect": effects, "edge": np.where(np.arange(len(effects)) == 0, 0.0, effects), "flat": 0 * effects}
        d = means[mode][:, None] + shape["sd"] * rng.normal(0, 1, (draws, len(effects), shape["runs"]))
        return V.combine_codes(lambda level: V.sign_codes(d, 1, level))

    return draw


SHAPES = {"course": {"runs": 5, "sd": 0.03}, "paper": {"runs": 10, "sd": 0.015}}

CX_SCENARIOS = [
    Scenario(
        "C-6-CX",
        "penalties on train look fairer on train than on test, and do not narrow the test gap (2 penalties)",
        "fair_on_train_not_on_test",
        "auc_gap",
        SHAPES,
        f"one penalty narrows the test gap by exactly the tolerance ({GAP_TOLERANCE:g})",
        "Table 6.1: test gap − train gap 0.055, no narrowing",
        _fair_on_train(0.055, 2),
    ),
    Scenario(
        "C-6-CX",
        "penalties on a holdout widen the test gap (3 penalties)",
        "positive",
        "auc_gap",
        SHAPES,
        "one penalty leaves the gap unchanged",
        "Table 6.8: +0.015, +0.044, +0.007",
        _every_setting((0.015, 0.044, 0.007)),
    ),
    Scenario(
        "C-6-CX",
        "flipping male labels lowers the test AUC at every share (3 shares)",
        "positive",
        "auc",
        SHAPES,
        "one share leaves the AUC unchanged",
        "Table 6.10: −0.049, −0.026, −0.001",
        _every_setting((0.049, 0.026, 0.001)),
    ),
]


def simulate(scenario: Scenario, scale: str, mode: str, draws: int = 1000, seed: int = 0) -> np.ndarray:
    """Verdict codes (``verdicts.CODES``) of ``draws`` simulated chapters of ``scenario`` at ``scale``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return scenario.draw(np.random.default_rng(seed), draws, scenario.shapes[scale], None, mode)


def calibration_frame(draws: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per scenario and scale: runs, FP (the rate of ``reproduced`` at the edge), chance support (``reproduced``
    or ``partly`` with no effect) and power (``reproduced`` under the thesis's effect)."""
    rows = []
    rep, part = V.CODES.index(V.REPRODUCED), V.CODES.index(V.PARTLY)
    for i, scenario in enumerate(CX_SCENARIOS):
        row = {"chapter": scenario.chapter, "claim": scenario.claim, "rule": scenario.rule}
        for j, scale in enumerate(("course", "paper")):
            codes = {m: simulate(scenario, scale, m, draws, seed + 100 * i + 10 * j + k) for k, m in enumerate(MODES)}
            row[f"{scale} runs"] = scenario.shapes[scale]["runs"]
            row[f"{scale} FP"] = f"{np.mean(codes['edge'] == rep):.1%}"
            row[f"{scale} chance support"] = f"{np.mean(np.isin(codes['flat'], (rep, part))):.1%}"
            row[f"{scale} power"] = f"{np.mean(codes['effect'] == rep):.1%}"
        rows.append(row)
    return pd.DataFrame(rows)
