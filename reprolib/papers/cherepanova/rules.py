"""Two verdict rules chapter 4 needs beyond ``reprolib.verdicts``, with their calibration on simulated runs.

- :func:`rate_lower`: a poisoning attack's success is 0 or 1 per run (the target image is, or is not, classified
  as the adversarial class; thesis §4.4.2), so "defence A lowers success below B" on runs paired by target is
  judged with the exact one-sided sign test on the discordant pairs (McNemar's exact test): a t-test on 0/±1
  differences of a handful of runs has no exact level.
- :func:`rate_above`: "the attack succeeds on most targets", the exact binomial test of a 0/1 rate above ½.
- :func:`defence_fails`: "the defence does not defend" is vacuous when the attack fails without any defence. It
  is ``reproduced`` only when both hold at level α: the attack succeeds without a defence (mean success > ½,
  one-sided t-test over runs) *and* the defence's paired change of success lies within ±tolerance (TOST).
  An intersection of two level-α tests, so its false ``reproduced`` rate is at most α under either null.

The rules are registered in ``reprolib.verdicts.RULES``; their calibration scenarios (least favourable nulls, the
thesis's effects, chapter 4's shapes) are in ``papers.cherepanova.calibration``, with every other rule's.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ... import verdicts as V

__all__ = [
    "rate_lower",
    "rate_lower_codes",
    "rate_above",
    "rate_above_codes",
    "defence_fails",
    "defence_fails_codes",
]

_REP, _PART, _NOT, _INC = range(4)


def rate_lower_codes(a, b, alpha: float = V.ALPHA) -> np.ndarray:
    """Codes of :func:`rate_lower` for 0/1 outcomes ``a``, ``b`` of shape (..., runs), paired along the last axis."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_b = (b & ~a).sum(-1)  # pairs where A is lower: evidence for the claim
    only_a = (a & ~b).sum(-1)
    n = only_a + only_b
    p_for = stats.binom.cdf(only_a, n, 0.5)  # P(X ≤ only_a), X ~ Bin(n, ½): the exact one-sided p (1 when n = 0)
    p_against = stats.binom.cdf(only_b, n, 0.5)
    return np.select([p_for < alpha, p_against < alpha], [_REP, _NOT], _INC)


@V.claim_rule("rate_lower")
def rate_lower(a, b, alpha: float = V.ALPHA) -> V.Verdict:
    """A's 0/1 success rate is lower than B's on runs paired by position (the same targets in the same order):
    the exact sign test on discordant pairs, one-sided at ``alpha``; ``not reproduced`` when B is significantly
    lower instead."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired runs must line up, got {a.shape} and {b.shape}")
    if len(a) == 0:
        return V.not_run("no runs")
    only_a, only_b = int(((a > 0) & (b == 0)).sum()), int(((b > 0) & (a == 0)).sum())
    p = float(stats.binom.cdf(only_a, only_a + only_b, 0.5))
    measured = (
        f"{a.mean() * 100:.0f}% vs {b.mean() * 100:.0f}% (n={len(a)}; discordant {only_b} for, {only_a} against; "
        f"sign test p={p:.3g})"
    )
    return V._verdict(rate_lower_codes(a[None], b[None], alpha), measured)


def rate_above_codes(values, level: float, alpha: float = V.ALPHA) -> np.ndarray:
    """Codes of :func:`rate_above` for 0/1 outcomes of shape (..., runs)."""
    values = np.asarray(values, dtype=bool)
    n, k = values.shape[-1], values.sum(-1)
    p_for = stats.binom.sf(k - 1, n, level)  # P(X ≥ k), X ~ Bin(n, level)
    p_against = stats.binom.cdf(k, n, level)
    return np.select([p_for < alpha, p_against < alpha], [_REP, _NOT], _INC)


@V.claim_rule("rate_above")
def rate_above(values, level: float = 0.5, alpha: float = V.ALPHA) -> V.Verdict:
    """A 0/1 success rate above ``level``: the exact one-sided binomial test over runs; ``not reproduced`` when it
    is significantly below."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return V.not_run("no runs")
    k = int((values > 0).sum())
    p = float(stats.binom.sf(k - 1, len(values), level))
    measured = f"{k} of {len(values)} ({k / len(values) * 100:.0f}%; binomial test against {level:g}, p={p:.3g})"
    return V._verdict(rate_above_codes(values[None], level, alpha), measured)


def defence_fails_codes(baseline, difference, tolerance: float, alpha: float = V.ALPHA) -> np.ndarray:
    """Codes of :func:`defence_fails` for shapes (..., runs)."""
    works = V.sign_codes(np.asarray(baseline, dtype=float) - 0.5, 1, alpha)
    same = V.equivalence_codes(difference, tolerance, alpha)
    return np.select([(works == _REP) & (same == _REP), same == _NOT], [_REP, _NOT], _INC)


@V.claim_rule("defence_fails")
def defence_fails(baseline, defended, tolerance: float, alpha: float = V.ALPHA) -> V.Verdict:
    """ "The defence does not defend": the attack succeeds without it (mean success > ½) and the defence's paired
    change of success is within ±``tolerance`` (TOST); ``not reproduced`` when the change is significantly
    outside the band; otherwise ``inconclusive`` (an attack that fails anyway says nothing about a defence)."""
    baseline, defended = np.asarray(baseline, dtype=float), np.asarray(defended, dtype=float)
    if len(baseline) == 0:
        return V.not_run("no runs")
    difference = defended - baseline
    measured = (
        f"without a defence {V._fmt_interval(baseline, alpha)}; change {V._fmt_interval(difference, alpha)}; "
        f"band ±{tolerance:g}"
    )
    return V._verdict(defence_fails_codes(baseline[None], difference[None], tolerance, alpha), measured)
