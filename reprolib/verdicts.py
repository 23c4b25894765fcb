"""The verdict policy of the claims tables: how runs become `reproduced`, `partly`, `not reproduced`, ….

Every rule here is a plain function of run values that returns a :class:`Verdict` (the verdict and a short
``measured`` string: the estimate and its interval). The book page ``book/verdicts.md`` states the same rules in
prose; ``reprolib.verdict_calibration`` measures each rule's false-``reproduced`` rate and power on simulated
runs. The policy, in one place:

- **The unit is the run.** Runs that share a seed or a class assignment across settings (the same ``run`` index
  at several ε, depths, fractions, η) form a *cluster*; the curve rules compare settings *within* clusters
  (paired differences, per-cluster slopes), so shared assignments are never counted as independent runs.
- **One level.** Every test is one-sided at ``ALPHA = 0.05``; every interval printed is the two-sided
  ``1 − 2·ALPHA`` = 90% Student-t interval, whose ends are exactly those one-sided bounds.
- **Several settings.** A claim made for several settings (every ε line, every skew) is judged per setting and
  combined by :func:`combine`: ``reproduced`` when every setting reproduces at ``ALPHA`` (an
  intersection-union test: its level is ``ALPHA`` whatever the dependence between settings); ``not
  reproduced`` when some setting is resolved *against* the claim at the Bonferroni level ``ALPHA / k``;
  otherwise ``partly`` when some setting supports it at ``ALPHA / k``; otherwise ``inconclusive``. So
  ``partly`` is evidence (family-wise error ≤ ``ALPHA``), never the sign of a mean.
- ``by construction`` marks a claim true for any model (a sanity check, not counted as a reproduction);
  ``not run at this scale`` marks a claim the preset has no runs for.

Vectorised cores (``*_codes``) take a leading batch axis of simulated draws and return verdict codes (indices
into ``CODES``); the public rules call them with a batch of one, so the calibration measures this exact code.

Every public rule is registered by name in :data:`RULES` (:func:`claim_rule`; a paper registers its own rules the
same way). While a chapter's claims are judged (:func:`rules_recorded`, entered by ``Chapter.claims``), each
outermost rule call records its name, so a chapter's claims can be checked against the rules it declares, and each
declared rule against its calibration scenario (``reprolib.verdict_calibration``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .registry import Registry

__all__ = [
    "RULES",
    "claim_rule",
    "rule_name",
    "rules_recorded",
    "ALPHA",
    "BIAS_AMP_TOLERANCE",
    "REPRODUCED",
    "PARTLY",
    "NOT_REPRODUCED",
    "INCONCLUSIVE",
    "BY_CONSTRUCTION",
    "NOT_RUN",
    "VERDICTS",
    "CODES",
    "Verdict",
    "combine",
    "combine_codes",
    "sign_codes",
    "equivalence_codes",
    "best_codes",
    "trend_codes",
    "monotone_codes",
    "optimum_set",
    "interior_codes",
    "order_codes",
    "equivalent_to_zero",
    "sign",
    "positive",
    "negative",
    "paired_better",
    "best_of",
    "trend",
    "monotone",
    "interior_optimum",
    "optima_order",
    "by_construction",
    "not_run",
    "mean_interval",
    "median_interval",
    "difference_equivalence_codes",
    "equivalent_difference",
    "band_codes",
    "within_bands",
]

ALPHA = 0.05
# "BiasAmp ≈ 0" means |BiasAmp| < 0.005. BiasAmp (Wang & Russakovsky, eqs. 1-3) is a mean of changes in the
# conditional prediction rates P(T̂ = t | A = a) − P(T = t | A = a), so 0.005 is half a percentage point of
# prediction rate: 25 of the 5,000 test images of a group on CIFAR-100, and a quarter of the amplification of
# 0.02 assumed for the paper's intermediate ε in the calibration. The value of the book's earlier rule
# (claims.NEAR_ZERO_TOLERANCE), kept; fixed before any run was judged with this rule.
BIAS_AMP_TOLERANCE = 0.005

REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "partly", "not reproduced", "inconclusive"
BY_CONSTRUCTION, NOT_RUN = "by construction", "not run at this scale"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE, BY_CONSTRUCTION, NOT_RUN)
CODES = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE)  # the verdicts a test can return, by code
_REP, _PART, _NOT, _INC = range(4)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    measured: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


# --- the registry of claim rules, and which of them judged a chapter's claims ---------------------------------

RULES: Registry[Callable[..., Verdict]] = Registry("claim rule")


@dataclass
class _Record:
    names: set[str] = field(default_factory=set)
    depth: int = 0  # > 0 inside a rule: the rules it calls are its parts, not rules of the claim


_RECORD: ContextVar[_Record | None] = ContextVar("claim_rules_record", default=None)


@contextmanager
def _judging(name: str | None) -> Iterator[None]:
    """Record ``name`` when called outside any other rule while :func:`rules_recorded` is active."""
    record = _RECORD.get()
    if record is None or name is None:
        yield
        return
    if record.depth == 0:
        record.names.add(name)
    record.depth += 1
    try:
        yield
    finally:
        record.depth -= 1


@contextmanager
def rules_recorded() -> Iterator[set[str]]:
    """The names of the rules called (outermost calls only) inside the ``with`` block."""
    record = _Record()
    token = _RECORD.set(record)
    try:
        yield record.names
    finally:
        _RECORD.reset(token)


def claim_rule(name: str) -> Callable[[Callable], Callable]:
    """Decorator: register a claim rule under ``name`` in :data:`RULES`; its calls are recorded while a
    chapter's claims are judged. Every registered rule a chapter uses needs a calibration scenario."""

    def register(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def rule(*args, **kwargs):
            with _judging(name):
                return fn(*args, **kwargs)

        rule.rule_name = name
        return RULES.register(name)(rule)

    return register


def rule_name(rule: Callable) -> str | None:
    """The registered name of ``rule`` (None for a function that is no registered rule)."""
    return getattr(rule, "rule_name", None)


def by_construction(measured: str, why: str) -> Verdict:
    """A claim that holds for any model (e.g. BiasAmp ≡ 0 on an exactly balanced test set): shown as a sanity
    check, never counted as a reproduction."""
    return Verdict(BY_CONSTRUCTION, f"{measured} — {why}")


def not_run(why: str) -> Verdict:
    return Verdict(NOT_RUN, why)


# --- statistics on a batch axis -----------------------------------------------------------------------------


def _one_sided_p(d) -> tuple[np.ndarray, np.ndarray]:
    """One-sample Student-t p-values along the last axis: (mean > 0, mean < 0). Fewer than 2 values give no
    evidence (p = 1); values with no spread give p = 0 on the side of their mean (p = ½ both ways at 0)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    if n < 2:
        ones = np.ones(d.shape[:-1])
        return ones, ones
    mean, sd = d.mean(-1), d.std(-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(sd > 0, mean / (sd / np.sqrt(n)), np.where(mean == 0, 0.0, np.sign(mean) * np.inf))
    return stats.t.sf(t, n - 1), stats.t.cdf(t, n - 1)


def _interval(d, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and the ends of the two-sided 1 − 2·alpha Student-t interval along the last axis (infinite with
    fewer than 2 values)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    mean = d.mean(-1)
    if n < 2:
        return mean, np.full_like(mean, -np.inf), np.full_like(mean, np.inf)
    half = d.std(-1, ddof=1) / np.sqrt(n) * stats.t.ppf(1 - alpha, n - 1)
    return mean, mean - half, mean + half


def mean_interval(values, alpha: float = ALPHA) -> tuple[float, float, float]:
    """Mean of ``values`` (NaN left out) and the ends of its two-sided 1 − 2·alpha (90%) Student-t interval,
    the interval every rule prints (infinite with fewer than 2 values)."""
    mean, low, high = _interval(_values(values), alpha)
    return float(mean), float(low), float(high)


def _median_bounds(d, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and the ends of the distribution-free two-sided 1 − 2·alpha interval of the median along the last
    axis: the order statistics x₍ₖ₎ and x₍ₙ₋ₖ₊₁₎ with k the largest j such that P(Binomial(n, ½) ≤ j − 1) ≤
    alpha (the interval ``scipy.stats.quantile_test`` gives; written out here so that it runs on thousands of
    simulated draws at once). Infinite when no k exists (fewer than 5 values at alpha = 0.05)."""
    d = np.sort(np.asarray(d, dtype=float), axis=-1)
    n = d.shape[-1]
    k = int(sum(stats.binom.cdf(j - 1, n, 0.5) <= alpha for j in range(1, n + 1)))
    median = np.median(d, axis=-1)
    if k == 0:
        return median, np.full_like(median, -np.inf), np.full_like(median, np.inf)
    return median, d[..., k - 1], d[..., n - k]


def median_interval(values, alpha: float = ALPHA) -> tuple[float, float, float]:
    """Median of ``values`` (NaN left out) and the ends of its distribution-free two-sided 1 − 2·alpha (90%)
    interval (``_median_bounds``): exact for any distribution, so it holds its level for a metric piled up at a
    ceiling, where a Student-t interval shrinks with the spread of the clipped values."""
    median, low, high = _median_bounds(_values(values), alpha)
    return float(median), float(low), float(high)


def _signed(p_up, p_down, direction: int):
    """(p for the claim, p against it) for a claim of sign ``direction`` (+1: > 0, −1: < 0)."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    return (p_up, p_down) if direction == 1 else (p_down, p_up)


def combine_codes(per_setting: Callable[[float], np.ndarray], alpha: float = ALPHA) -> np.ndarray:
    """:func:`combine` on codes: ``per_setting(level)`` returns codes of shape (..., k), one per setting."""
    at_alpha = per_setting(alpha)
    k = at_alpha.shape[-1]
    corrected = per_setting(alpha / k) if k > 1 else at_alpha
    every = (at_alpha == _REP).all(-1)
    against = (corrected == _NOT).any(-1)
    support = np.isin(corrected, (_REP, _PART)).any(-1)
    return np.select([every, against, support], [_REP, _NOT, _PART], _INC)


def sign_codes(d, direction: int, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`sign` for values ``d`` of shape (..., runs)."""
    p_for, p_against = _signed(*_one_sided_p(d), direction)
    return np.select([p_for < alpha, p_against < alpha], [_REP, _NOT], _INC)


def equivalence_codes(d, tolerance: float, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`equivalent_to_zero` for values ``d`` of shape (..., runs)."""
    _, low, high = _interval(d, alpha)
    inside = (low > -tolerance) & (high < tolerance)
    outside = (low > tolerance) | (high < -tolerance)
    return np.select([inside, outside], [_REP, _NOT], _INC)


def best_codes(d, direction: int, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`best_of` for paired differences method − competitor of shape (..., competitors, runs)."""
    p_for, p_against = _signed(*_one_sided_p(d), direction)
    competitors = d.shape[-2]
    beats_all = (p_for < alpha).all(-1)
    beaten = (p_against < alpha / competitors).any(-1)
    return np.select([beats_all, beaten], [_REP, _NOT], _INC)


def _cluster_slopes(Y) -> np.ndarray:
    """Least-squares slope of each cluster's values on the setting's rank: (..., clusters, settings) → (...,
    clusters)."""
    m = Y.shape[-1]
    rank = np.arange(m) - (m - 1) / 2
    return (Y * rank).sum(-1) / (rank**2).sum()


def trend_codes(Y, direction: int, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`trend` for a matrix ``Y`` of shape (..., clusters, settings in order)."""
    return sign_codes(_cluster_slopes(Y), direction, alpha)


def monotone_codes(Y, direction: int, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`monotone` for a matrix ``Y`` of shape (..., clusters, settings in order)."""
    m = Y.shape[-1]
    p_for, p_against = _signed(*_one_sided_p(_cluster_slopes(Y)), direction)
    steps = np.swapaxes(np.diff(Y, axis=-1), -1, -2)  # (..., steps, clusters)
    _, step_against = _signed(*_one_sided_p(steps), direction)
    moves = p_for < alpha
    reversal = (step_against < alpha / (m - 1)).any(-1)
    return np.select([moves & ~reversal, moves, (p_against < alpha) | reversal], [_REP, _PART, _NOT], _INC)


def optimum_set(Y, optimum: str, alpha: float = ALPHA) -> np.ndarray:
    """Which settings may hold the optimum (the lowest mean for ``"min"``, the highest for ``"max"``), as a
    boolean mask of shape (..., settings): setting k is left out when some other setting l is significantly
    better, by a paired one-sided t-test over clusters at level alpha / (m − 1). The true optimum is left out
    only by a false rejection, so the set covers it with probability ≥ 1 − alpha (Bonferroni)."""
    if optimum not in ("min", "max"):
        raise ValueError(f"optimum must be 'min' or 'max', got {optimum!r}")
    m = Y.shape[-1]
    diff = Y[..., :, :, None] - Y[..., :, None, :]  # (..., clusters, l, k): y_l − y_k
    p_up, p_down = _one_sided_p(np.moveaxis(diff, -3, -1))  # (..., l, k)
    better = p_down if optimum == "min" else p_up
    return ~(better < alpha / (m - 1)).any(-2)


def interior_codes(Y, optimum: str, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`interior_optimum` for a matrix ``Y`` of shape (..., clusters, settings in order)."""
    in_set, in_wider = optimum_set(Y, optimum, alpha), optimum_set(Y, optimum, alpha / 2)
    both_out = ~in_set[..., 0] & ~in_set[..., -1]
    only_ends = ~in_set[..., 1:-1].any(-1)
    one_out = ~in_wider[..., 0] | ~in_wider[..., -1]
    return np.select([both_out, only_ends, one_out], [_REP, _NOT, _PART], _INC)


def order_codes(first, second, optima: tuple[str, str], alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`optima_order`; ``first`` and ``second`` are (x, Y) with Y of shape (..., clusters,
    settings) and x the settings' values."""
    (xa, Ya), (xb, Yb) = first, second
    sa, sb = optimum_set(Ya, optima[0], alpha / 2), optimum_set(Yb, optima[1], alpha / 2)
    xa, xb = np.asarray(xa, dtype=float), np.asarray(xb, dtype=float)
    a_high, a_low = np.where(sa, xa, -np.inf).max(-1), np.where(sa, xa, np.inf).min(-1)
    b_high, b_low = np.where(sb, xb, -np.inf).max(-1), np.where(sb, xb, np.inf).min(-1)
    return np.select([a_high < b_low, b_high <= a_low], [_REP, _NOT], _INC)


# --- formatting ----------------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:+.4f}" if abs(v) < 10 else f"{v:+.2f}"


def _fmt_interval(d, alpha: float, unit: str = "") -> str:
    d = np.asarray(d, dtype=float)
    mean, low, high = (float(v) for v in _interval(d, alpha))
    level = round(100 * (1 - 2 * alpha), 2)
    return f"{_fmt(mean)} [{level:g}% CI {_fmt(low)}, {_fmt(high)}] (n={len(d)}{unit})"


def _label(x) -> str:
    return f"{x:g}" if isinstance(x, int | float | np.floating | np.integer) else str(x)


def _values(values) -> np.ndarray:
    d = np.asarray(values, dtype=float).ravel()
    return d[~np.isnan(d)]


def _verdict(codes, measured: str) -> Verdict:
    return Verdict(CODES[int(np.asarray(codes).ravel()[0])], measured)


def _matrix(x, y, cluster) -> tuple[np.ndarray, np.ndarray]:
    """Settings (sorted) and the (clusters, settings) matrix of one curve; clusters missing a setting are left
    out (the tests are paired within clusters). A cluster measured twice at one setting is an error."""
    x, y, cluster = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(cluster)
    if not len(x) == len(y) == len(cluster):
        raise ValueError("x, y and cluster must have the same length")
    settings, col = np.unique(x, return_inverse=True)
    clusters, row = np.unique(cluster, return_inverse=True)
    if len(set(zip(row.tolist(), col.tolist(), strict=True))) < len(x):
        raise ValueError("a cluster has two values at one setting: judge each line (e.g. each ε) on its own")
    Y = np.full((len(clusters), len(settings)), np.nan)
    Y[row, col] = y
    return settings, Y[~np.isnan(Y).any(1)]


# --- the rules -----------------------------------------------------------------------------------------------


def combine(rule: Callable[..., Verdict], settings: Mapping, alpha: float = ALPHA, **kwargs) -> Verdict:
    """A claim made for several settings (e.g. every ε line), judged per setting with ``rule`` and combined.

    ``settings`` maps a label to the positional arguments of ``rule`` for that setting (a tuple). With k
    settings:

    - reproduced: every setting is reproduced at level alpha (intersection-union: level alpha overall);
    - not reproduced: some setting is not reproduced at the Bonferroni level alpha / k;
    - partly: otherwise, some setting is reproduced or partly at level alpha / k (family-wise error ≤ alpha);
    - inconclusive: otherwise.
    """
    if not settings:
        return not_run("no settings with runs")
    with _judging(rule_name(rule)):  # the claim's rule is the one combined (a helper's own rules otherwise)
        return _combine(rule, settings, alpha, **kwargs)


def _combine(rule: Callable[..., Verdict], settings: Mapping, alpha: float, **kwargs) -> Verdict:
    at_alpha = {s: rule(*args, alpha=alpha, **kwargs) for s, args in settings.items()}
    missing = [s for s, v in at_alpha.items() if v.verdict == NOT_RUN]
    if missing:
        return not_run("; ".join(f"{_label(s)}: {at_alpha[s].measured}" for s in missing))

    def codes(level):
        verdicts = at_alpha if level == alpha else {s: rule(*a, alpha=level, **kwargs) for s, a in settings.items()}
        return np.array([[CODES.index(v.verdict) for v in verdicts.values()]])

    measured = "; ".join(f"{_label(s)}: {v.measured}" for s, v in at_alpha.items())
    return _verdict(combine_codes(codes, alpha), measured)


@claim_rule("equivalent_to_zero")
def equivalent_to_zero(values, tolerance: float = BIAS_AMP_TOLERANCE, alpha: float = ALPHA) -> Verdict:
    """Equivalence to zero ("≈ 0"), tested (two one-sided tests, TOST) with the band ±``tolerance``.

    - reproduced: the 1 − 2·alpha (90%) interval of the mean lies inside (−tolerance, +tolerance);
    - not reproduced: the interval lies entirely outside the band (the mean is beyond the tolerance, one-sided
      at level alpha);
    - inconclusive: otherwise — the runs cannot tell (e.g. an interval wider than the band). An interval that
      merely contains 0 is *not* evidence of "≈ 0".
    """
    d = _values(values)
    if len(d) == 0:
        return not_run("no runs")
    measured = f"{_fmt_interval(d, alpha)}; band ±{tolerance:g}"
    return _verdict(equivalence_codes(d[None], tolerance, alpha), measured)


@claim_rule("sign")
def sign(values, direction: int = 1, alpha: float = ALPHA) -> Verdict:
    """A sign claim in one setting (> 0 for ``direction=+1``, < 0 for −1), one-sided one-sample t-test over
    runs (for paired differences, pass the per-run differences).

    - reproduced: the mean is significantly of the claimed sign (p < alpha);
    - not reproduced: it is significantly of the opposite sign;
    - inconclusive: otherwise.
    """
    d = _values(values)
    if len(d) == 0:
        return not_run("no runs")
    return _verdict(sign_codes(d[None], direction, alpha), _fmt_interval(d, alpha))


@claim_rule("positive")
def positive(groups: Mapping, alpha: float = ALPHA) -> Verdict:
    """> 0 in every setting: ``groups`` maps a setting to its run values; :func:`sign` per setting, combined
    by :func:`combine` (reproduced when every setting is significantly > 0; partly when some setting is at the
    Bonferroni level and none is significantly < 0 at that level)."""
    return combine(sign, {s: (v, 1) for s, v in groups.items()}, alpha)


@claim_rule("negative")
def negative(groups: Mapping, alpha: float = ALPHA) -> Verdict:
    """As :func:`positive`, mirrored: < 0 in every setting."""
    return combine(sign, {s: (v, -1) for s, v in groups.items()}, alpha)


def _paired(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired runs must line up (same seeds in the same order), got {a.shape} and {b.shape}")
    return a - b


@claim_rule("paired_better")
def paired_better(a: Mapping, b: Mapping, higher: bool = True, alpha: float = ALPHA) -> Verdict:
    """Method A beats method B in every setting: ``a`` and ``b`` map a setting to run values paired by
    position (the same seeds in the same order); :func:`positive` on A − B (on B − A with ``higher=False``,
    e.g. for a gap that should be smaller)."""
    if set(a) != set(b):
        raise ValueError("a and b must have the same settings")
    return positive({s: _paired(a[s], b[s]) * (1 if higher else -1) for s in a}, alpha)


@claim_rule("best_of")
def best_of(method: str, values: Mapping[str, Sequence], higher: bool = True, alpha: float = ALPHA) -> Verdict:
    """``method`` beats every other method in one setting. ``values`` maps each method to its run values,
    paired by position (the same seeds in the same order); the paired differences method − other are tested
    one-sided.

    - reproduced: ``method`` is significantly better than *each* other method at level alpha (an
      intersection-union test: no correction is needed, the claim needs all of them);
    - not reproduced: some other method is significantly better at the Bonferroni level alpha / (methods − 1);
    - inconclusive: otherwise.

    For several settings (skews, targets) use :func:`combine`. Lower is better with ``higher=False``.
    """
    others = [m for m in values if m != method]
    if method not in values or not others:
        return not_run(f"needs {method} and another method")
    sign_ = 1 if higher else -1
    d = np.stack([_paired(values[method], values[m]) for m in others]) * sign_
    p_for, _ = _one_sided_p(d)
    closest = int(np.argmax(p_for))  # the competitor it beats least clearly
    measured = f"{method} − {others[closest]} (closest): {_fmt_interval(d[closest] * sign_, alpha)}"
    return _verdict(best_codes(d[None], 1, alpha), measured)


@claim_rule("trend")
def trend(x, y, cluster, direction: int = 1, alpha: float = ALPHA) -> Verdict:
    """y rises (``direction=+1``) or falls (−1) with x, within clusters.

    Each cluster (runs sharing a seed or class assignment across settings) gives one least-squares slope of
    its values on the rank of the setting; the slopes are tested one-sided with a one-sample t-test over
    clusters. reproduced: significant in the claimed direction; not reproduced: significant in the other;
    inconclusive: otherwise.
    """
    settings, Y = _matrix(x, y, cluster)
    if len(settings) < 2 or len(Y) < 2:
        return not_run("fewer than 2 settings or 2 complete runs")
    measured = f"slope per step {_fmt_interval(_cluster_slopes(Y), alpha, ' clusters')}"
    return _verdict(trend_codes(Y[None], direction, alpha), measured)


@claim_rule("monotone")
def monotone(x, y, cluster, direction: int = 1, alpha: float = ALPHA) -> Verdict:
    """y rises (or falls, ``direction=−1``) *monotonically* with x: more than a positive rank correlation.

    The trend is tested as in :func:`trend`. A *reversal* is a step between adjacent settings that goes
    significantly against the claim: paired one-sided t-test over clusters at the Bonferroni level
    alpha / (number of steps) (equivalently, Holm's first step).

    - reproduced: the trend is significant in the claimed direction and no step is a reversal;
    - partly: the trend is significant but some step is a reversal (it rises overall, not monotonically);
    - not reproduced: the trend is significant in the other direction, or a step is a reversal while the
      trend is not significant;
    - inconclusive: otherwise.
    """
    settings, Y = _matrix(x, y, cluster)
    if len(settings) < 2 or len(Y) < 2:
        return not_run("fewer than 2 settings or 2 complete runs")
    steps = np.diff(Y, axis=1) * direction
    _, against = _one_sided_p(steps.T)
    worst = int(np.argmin(against))
    step = f"{_label(settings[worst])}→{_label(settings[worst + 1])}"
    measured = (
        f"slope per step {_fmt_interval(_cluster_slopes(Y), alpha, ' clusters')}; "
        f"weakest step {step}: {_fmt_interval(steps[:, worst] * direction, alpha)}"
    )
    return _verdict(monotone_codes(Y[None], direction, alpha), measured)


def _set_text(settings, in_set) -> str:
    return "{" + ", ".join(_label(s) for s, keep in zip(settings, in_set, strict=True) if keep) + "}"


@claim_rule("interior_optimum")
def interior_optimum(x, y, cluster, optimum: str = "min", alpha: float = ALPHA) -> Verdict:
    """The curve of mean y over x has its optimum strictly inside the range: a v-shape (``optimum="min"``,
    falls then rises) or a peak (``"max"``). Judge one line (one ε) at a time; several with :func:`combine`.

    The 1 − alpha *confidence set of the optimum's location* (:func:`optimum_set`) keeps every setting that no
    other setting beats significantly (paired one-sided t-tests over clusters, Bonferroni over the m − 1
    rivals). It covers the true optimum with probability ≥ 1 − alpha, so:

    - reproduced: the set excludes both ends (both arms of the v are shown; each exclusion is needed, so the
      level is alpha);
    - not reproduced: the set holds only ends (the optimum is at an end of the range);
    - partly: otherwise, the 1 − alpha/2 set excludes one end (one arm shown; alpha/2 because either end
      could be the one);
    - inconclusive: otherwise.
    """
    settings, Y = _matrix(x, y, cluster)
    if len(settings) < 3 or len(Y) < 2:
        return not_run("fewer than 3 settings or 2 complete runs")
    means = Y.mean(0)
    best = int(np.argmin(means) if optimum == "min" else np.argmax(means))
    in_set = optimum_set(Y, optimum, alpha)
    measured = (
        f"{optimum} of means at {_label(settings[best])} ({_fmt(means[best])}); "
        f"{100 * (1 - alpha):g}% set of its location {_set_text(settings, in_set)} (n={len(Y)})"
    )
    return _verdict(interior_codes(Y[None], optimum, alpha), measured)


@claim_rule("optima_order")
def optima_order(
    first: tuple, second: tuple, optima: tuple[str, str] = ("max", "min"), alpha: float = ALPHA
) -> Verdict:
    """The optimum of the first curve lies at a lower x than the optimum of the second (e.g. Hall RQ2: the
    weight decay of best accuracy, ``"max"``, is below the weight decay of least BiasAmp, ``"min"``).

    ``first`` and ``second`` are (x, y, cluster); the curves may share runs or not. Each optimum gets a
    1 − alpha/2 confidence set (:func:`optimum_set`), so both cover their optimum with probability ≥ 1 − alpha.

    - reproduced: every x in the first set is below every x in the second;
    - not reproduced: every x in the second set is at or below every x in the first (the order is reversed,
      or the optima coincide);
    - inconclusive: otherwise.
    """
    parts, text = [], []
    for (x, y, cluster), kind in zip((first, second), optima, strict=True):
        settings, Y = _matrix(x, y, cluster)
        if len(settings) < 2 or len(Y) < 2:
            return not_run("fewer than 2 settings or 2 complete runs on a curve")
        means = Y.mean(0)
        best = int(np.argmin(means) if kind == "min" else np.argmax(means))
        in_set = optimum_set(Y, kind, alpha / 2)
        parts.append((settings, Y[None]))
        text.append(f"{kind} at {_label(settings[best])}, {100 * (1 - alpha / 2):g}% set {_set_text(settings, in_set)}")
    return _verdict(order_codes(parts[0], parts[1], optima, alpha), "; ".join(text))


# --- added for Part I (Hall et al.): two independent samples, and a mean inside bands ------------------------
# Separate from the rules above; calibrated in ``verdict_calibration`` (scenarios H-RQ1 link, H-RQ4b relation).


def _welch(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of means a − b along the last axis, its Welch standard error and degrees of freedom."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.shape[-1], b.shape[-1]
    va, vb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
    se = np.sqrt(va + vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return a.mean(-1) - b.mean(-1), se, np.where(np.isfinite(df), df, na + nb - 2)


def difference_equivalence_codes(a, b, tolerance: float, alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`equivalent_difference` for samples ``a`` (..., n_a) and ``b`` (..., n_b)."""
    diff, se, df = _welch(a, b)
    half = se * stats.t.ppf(1 - alpha, df)
    low, high = diff - half, diff + half
    inside = (low > -tolerance) & (high < tolerance)
    outside = (low > tolerance) | (high < -tolerance)
    return np.select([inside, outside], [_REP, _NOT], _INC)


@claim_rule("equivalent_difference")
def equivalent_difference(a, b, tolerance: float, alpha: float = ALPHA) -> Verdict:
    """Two independent samples have equal means up to ±``tolerance``: the equivalence test of
    :func:`equivalent_to_zero` on the difference of means a − b, with Welch's standard error and degrees of
    freedom (the 1 − 2·alpha interval of the difference inside the band: reproduced; wholly outside it: not
    reproduced; otherwise inconclusive)."""
    a, b = _values(a), _values(b)
    if len(a) < 2 or len(b) < 2:
        return not_run("fewer than 2 runs in a sample")
    diff, se, df = (float(v) for v in _welch(a, b))
    half = se * float(stats.t.ppf(1 - alpha, df))
    level = round(100 * (1 - 2 * alpha), 2)
    measured = (
        f"difference {_fmt(diff)} [{level:g}% CI {_fmt(diff - half)}, {_fmt(diff + half)}] "
        f"(n={len(a)}, {len(b)}); band ±{tolerance:g}"
    )
    return _verdict(difference_equivalence_codes(a[None], b[None], tolerance, alpha), measured)


def band_codes(d, bands: Sequence[tuple[float, float]], alpha: float = ALPHA) -> np.ndarray:
    """Codes of :func:`within_bands` for values ``d`` of shape (..., runs)."""
    _, low, high = _interval(d, alpha / len(bands))
    inside = np.zeros(low.shape, dtype=bool)
    apart = np.ones(low.shape, dtype=bool)
    for lower, upper in bands:
        inside |= (low > lower) & (high < upper)
        apart &= (high < lower) | (low > upper)
    return np.select([inside, apart], [_REP, _NOT], _INC)


@claim_rule("within_bands")
def within_bands(values, bands: Sequence[tuple[float, float]], alpha: float = ALPHA) -> Verdict:
    """The mean lies inside one of the open intervals ``bands`` (e.g. a correlation that is weak but not zero:
    (−0.5, 0) or (0, 0.5)). With k bands the interval of the mean is the two-sided 1 − 2·alpha/k Student-t
    interval (Bonferroni over the bands, so that a mean on the boundary shared by two bands is called inside
    either with probability ≤ alpha).

    - reproduced: the interval lies inside one band;
    - not reproduced: the interval is disjoint from every band;
    - inconclusive: otherwise.
    """
    d = _values(values)
    if len(d) == 0:
        return not_run("no runs")
    text = " or ".join(f"({lower:g}, {upper:g})" for lower, upper in bands)
    return _verdict(band_codes(d[None], bands, alpha), f"{_fmt_interval(d, alpha / len(bands))}; bands {text}")
