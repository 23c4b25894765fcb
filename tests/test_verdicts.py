"""The verdict rules (reprolib.verdicts): small cases checked by hand (their calibration on simulated runs:
tests/test_verdict_calibration.py).

Hand values use Student's t with 2 degrees of freedom, whose tail has a closed form:
P(T > t) = ½·(1 − t / √(t² + 2)). For values [1, 2, 3]: mean 2, sd 1, t = 2√3, P = ½(1 − √(12/14)) = 0.0371;
for [2, 3, 4]: t = 3√3, P = ½(1 − √(27/29)) = 0.0175. The 90% interval uses t₀.₉₅,₂ = 2.9200.
"""

import numpy as np
import pytest
from scipy import stats

from reprolib import verdicts as V
from reprolib.chapter import Chapter

P_123 = 0.5 * (1 - np.sqrt(12 / 14))  # one-sided p of [1, 2, 3]: 0.0371


def test_sign_by_hand():
    v = V.sign([1, 2, 3])
    assert v.verdict == V.REPRODUCED  # p = 0.0371 < 0.05
    half = 2.919986 / np.sqrt(3)  # 1.6859
    assert v.measured == f"+2.0000 [90% CI +{2 - half:.4f}, +{2 + half:.4f}] (n=3)"
    assert V.sign([1, 2, 3], alpha=0.03).verdict == V.INCONCLUSIVE  # 0.03 < p
    assert V.sign([1, 2, 3], direction=-1).verdict == V.NOT_REPRODUCED
    assert V.sign([-1, 0, 1]).verdict == V.INCONCLUSIVE
    assert V.sign([0.5]).verdict == V.INCONCLUSIVE  # one run is no evidence either way
    assert V.sign([]).verdict == V.NOT_RUN
    p_up, _ = V._one_sided_p(np.array([1.0, 2, 3]))
    assert p_up == pytest.approx(P_123, abs=1e-9)


def test_equivalence_is_tost_not_absence_of_evidence():
    # mean 0.002, sd 0.001: 90% interval 0.002 ± 2.92·0.001/√3 = [0.00031, 0.00369]
    assert V.equivalent_to_zero([0.001, 0.003, 0.002]).verdict == V.REPRODUCED  # inside ±0.005
    assert V.equivalent_to_zero([0.001, 0.003, 0.002], tolerance=0.003).verdict == V.INCONCLUSIVE  # 0.0037 > 0.003
    assert V.equivalent_to_zero([0.011, 0.013, 0.012]).verdict == V.NOT_REPRODUCED  # [0.0103, 0.0137] > 0.005
    # The audit's case: n = 3, mean 0.05, interval containing 0. The old rule said "reproduced".
    assert V.equivalent_to_zero([0.05, -0.10, 0.20]).verdict == V.INCONCLUSIVE
    assert "band ±0.005" in V.equivalent_to_zero([0.0, 0.001]).measured


def test_combine_needs_evidence_for_partly():
    strong, weak, null, opposite = [2, 3, 4], [1, 2, 3], [-1, 0, 1], [-4, -3, -2]  # p: 0.0175, 0.0371, ½, —
    assert V.positive({"a": strong, "b": weak}).verdict == V.REPRODUCED  # both < 0.05
    assert V.positive({"a": strong, "b": null}).verdict == V.PARTLY  # a passes at 0.05 / 2
    assert V.positive({"a": weak, "b": null}).verdict == V.INCONCLUSIVE  # a alone would reproduce, not at 0.025
    assert V.positive({"a": strong, "b": opposite}).verdict == V.NOT_REPRODUCED  # b < 0 with p = 0.0175
    # Both means positive, neither significant: the old rule said "partly".
    assert V.positive({"a": [-1, 1, 3], "b": [-1, 1, 3]}).verdict == V.INCONCLUSIVE
    assert V.negative({"a": [-4, -3, -2]}).verdict == V.REPRODUCED
    assert V.positive({"a": strong, "b": []}).verdict == V.NOT_RUN
    assert V.positive({}).verdict == V.NOT_RUN
    assert V.positive({0.1: strong, 0.3: weak}).measured.startswith("0.1: +3.0000")


def test_paired_better_uses_the_pairs():
    a, b = {"95%": [3, 5, 7]}, {"95%": [2, 3, 4]}  # differences [1, 2, 3]
    assert V.paired_better(a, b).verdict == V.REPRODUCED
    assert V.paired_better(a, b, higher=False).verdict == V.NOT_REPRODUCED
    # Unpaired, the two samples overlap ([3, 5, 7] vs [2, 3, 4]); paired, every seed improves by the same 2.
    assert V.paired_better({"s": [3, 5, 7]}, {"s": [1, 3, 5]}).verdict == V.REPRODUCED
    with pytest.raises(ValueError, match="line up"):
        V.paired_better({"s": [1, 2, 3]}, {"s": [1, 2]})


def test_best_of_needs_every_competitor():
    values = {"gba": [3, 4, 5], "lff": [2, 2, 2], "vanilla": [0, 1, 2]}  # gba − lff = [1, 2, 3]: p = 0.0371
    v = V.best_of("gba", values)
    assert v.verdict == V.REPRODUCED and v.measured.startswith("gba − lff (closest): +2.0000")
    assert V.best_of("gba", {**values, "lff": [3, 5, 7]}).verdict == V.INCONCLUSIVE  # gba − lff = [0, −1, −2]
    assert V.best_of("gba", {**values, "lff": [5, 6, 7]}).verdict == V.NOT_REPRODUCED  # lff better by 2 every seed
    assert V.best_of("gba", {"gba": [1, 2]}).verdict == V.NOT_RUN
    lowest = {"gba": [0, 1, 3], "lff": [2, 2, 2]}  # gba − lff = [−2, −1, 1]: lower, not significantly
    assert V.best_of("gba", lowest, higher=False).verdict == V.INCONCLUSIVE
    assert V.best_of("gba", {**lowest, "gba": [0, 0.5, 0.5]}, higher=False).verdict == V.REPRODUCED  # e.g. a gap


def _long(rows, x=None):
    """(x, y, cluster) arrays from a (clusters, settings) list of rows."""
    rows = np.asarray(rows, dtype=float)
    x = np.arange(rows.shape[1]) if x is None else np.asarray(x)
    return np.tile(x, len(rows)), rows.ravel(), np.repeat(np.arange(len(rows)), rows.shape[1])


def test_trend_is_computed_within_clusters():
    # Per-cluster slopes 1, 2, 3 (the offsets 0, 0, 1 cancel): the t-test of [1, 2, 3], p = 0.0371.
    x, y, c = _long([[0, 1, 2], [0, 2, 4], [1, 4, 7]])
    v = V.trend(x, y, c)
    assert v.verdict == V.REPRODUCED and v.measured.startswith("slope per step +2.0000 [90% CI +0.3141, +3.6859]")
    assert V.trend(x, y, c, direction=-1).verdict == V.NOT_REPRODUCED
    # Large cluster offsets hide the trend from a pooled analysis, not from a clustered one.
    x, y, c = _long([[0, 1, 2], [100, 102, 104], [-100, -97, -94]])
    assert V.trend(x, y, c).verdict == V.REPRODUCED
    with pytest.raises(ValueError, match="two values at one setting"):
        V.trend([0, 0, 1], [1, 2, 3], [0, 0, 0])
    assert V.trend([0, 1], [1, 2], [0, 1]).verdict == V.NOT_RUN  # no cluster spans two settings


def test_monotone_needs_more_than_a_trend():
    x, y, c = _long([[0, 10, 15, 20], [0, 11, 16, 21], [0, 12, 17.5, 22]])
    assert V.monotone(x, y, c).verdict == V.REPRODUCED
    # Same rise overall, but the step 1 → 2 falls by [1, 1.5, 1.5]: t = −8, p = ½(1 − 8/√66) = 0.0076 < 0.05/3.
    x, y, c = _long([[0, 10, 9, 20], [0, 11, 9.5, 21], [0, 12, 10.5, 22]])
    v = V.monotone(x, y, c)
    assert v.verdict == V.PARTLY and "weakest step 1→2: -1.3333" in v.measured
    x, y, c = _long([[0, 10, 9, 10], [0, 11, 9.5, 11], [0, 12, 10.5, 12]])  # rises: "falls" is refuted
    assert V.monotone(x, y, c, direction=-1).verdict == V.NOT_REPRODUCED
    x, y, c = _long([[5, 6, 4], [5, 4, 6], [5, 5, 5.5]])  # nothing resolved
    assert V.monotone(x, y, c).verdict == V.INCONCLUSIVE


def test_interior_optimum_by_hand():
    # first − middle = [4, 4, 5]: t = 13, p = ½(1 − 13/√171) = 0.0029; last − middle = [5, 6, 5] likewise.
    x, y, c = _long([[4, 0, 5], [5, 1, 7], [6, 1, 6]], x=[8, 14, 20])
    v = V.interior_optimum(x, y, c)
    assert (
        v.verdict == V.REPRODUCED and v.measured == "min of means at 14 (+0.6667); 95% set of its location {14} (n=3)"
    )
    assert V.interior_optimum(x, -y, c, optimum="max").verdict == V.REPRODUCED
    # One arm: last − middle = [0.5, −0.5, 1] is not significant, so the last end stays in the set.
    x, y, c = _long([[4, 0, 0.5], [5, 1, 0.5], [6, 1, 2]])
    assert V.interior_optimum(x, y, c).verdict == V.PARTLY
    x, y, c = _long([[0, 4, 8], [1, 5, 9.5], [0.5, 4, 9]])  # lowest at the first end, clearly
    assert V.interior_optimum(x, y, c).verdict == V.NOT_REPRODUCED
    assert V.interior_optimum(*_long([[0, 1], [1, 2]])).verdict == V.NOT_RUN


def test_optima_order_by_hand():
    accuracy = _long([[0, 10, 0, 0], [1, 11, 0, 1], [0, 12, 1, 0]], x=[1e-5, 1e-4, 1e-3, 1e-2])
    bias = _long([[10, 10, 10, 0], [11, 10, 12, 1], [10, 12, 11, 0]], x=[1e-5, 1e-4, 1e-3, 1e-2])
    v = V.optima_order(accuracy, bias)
    assert (
        v.verdict == V.REPRODUCED and v.measured == "max at 0.0001, 97.5% set {0.0001}; min at 0.01, 97.5% set {0.01}"
    )
    assert V.optima_order(bias, accuracy, optima=("min", "max")).verdict == V.NOT_REPRODUCED
    flat = _long([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
    assert V.optima_order(flat, bias).verdict == V.INCONCLUSIVE


def test_optimum_set_covers_the_optimum():
    """The 95% set of the argmin holds the true argmin in ≥ 95% of draws (a v with a shallow bottom)."""
    rng = np.random.default_rng(1)
    means = np.array([0.03, 0.01, 0.0, 0.005, 0.02])
    Y = means + rng.normal(0, 0.01, (2000, 6, 1)) + rng.normal(0, 0.01, (2000, 6, 5))
    assert V.optimum_set(Y, "min").mean(0)[2] >= 0.95


def test_public_rules_match_the_calibrated_cores():
    """The calibration simulates the vectorised cores; the chapters call the public rules. Same verdicts."""
    rng = np.random.default_rng(5)
    for _ in range(40):
        Y = rng.normal(0, 1, (5, 4)) + rng.normal(0, 1, 4) + np.linspace(0, rng.normal(0, 2), 4)
        x, y, c = _long(Y)
        code = V.CODES.index
        assert code(V.trend(x, y, c).verdict) == V.trend_codes(Y[None], 1)[0]
        assert code(V.monotone(x, y, c).verdict) == V.monotone_codes(Y[None], 1)[0]
        assert code(V.interior_optimum(x, y, c).verdict) == V.interior_codes(Y[None], "min")[0]
        groups = {s: Y[:, s] for s in range(4)}
        expected = V.combine_codes(lambda level: V.sign_codes(Y.T[None], 1, level))[0]  # noqa: B023
        assert code(V.positive(groups).verdict) == expected
        assert code(V.equivalent_to_zero(Y[:, 0] / 10, 0.1).verdict) == V.equivalence_codes(Y[None, :, 0] / 10, 0.1)[0]


def test_equivalent_difference_by_hand():
    # a − b = 0.001; each variance 1e-6, so se = √(2e-6 / 3) = 8.165e-4 and Welch df = 4; t₀.₉₅,₄ = 2.1318:
    # the 90% interval is 0.001 ± 0.00174 = [−0.00074, 0.00274].
    a, b = [0.001, 0.002, 0.003], [0.000, 0.001, 0.002]
    v = V.equivalent_difference(a, b, 0.005)
    assert v.verdict == V.REPRODUCED and v.measured.startswith("difference +0.0010 [90% CI -0.0007, +0.0027]")
    assert V.equivalent_difference(a, b, 0.002).verdict == V.INCONCLUSIVE  # 0.00274 > 0.002
    assert V.equivalent_difference([x + 0.01 for x in a], b, 0.005).verdict == V.NOT_REPRODUCED  # [0.0093, 0.0127]
    assert V.equivalent_difference([0.1], b, 0.005).verdict == V.NOT_RUN
    assert V.difference_equivalence_codes(np.array([a]), np.array([b]), 0.005)[0] == V.CODES.index(V.REPRODUCED)


def test_within_bands_by_hand():
    weak = ((-0.5, 0.0), (0.0, 0.5))  # two bands: the 95% interval (t₀.₉₇₅,₂ = 4.3027)
    v = V.within_bands([0.25, 0.3, 0.35], weak)  # 0.3 ± 4.3027 · 0.05 / √3 = [0.176, 0.424]
    assert v.verdict == V.REPRODUCED and v.measured.startswith("+0.3000 [95% CI +0.1758, +0.4242]")
    assert V.within_bands([0.2, 0.3, 0.4], weak).verdict == V.INCONCLUSIVE  # [0.052, 0.548] crosses ½
    assert V.within_bands([0.8, 0.85, 0.9], weak).verdict == V.NOT_REPRODUCED  # [0.676, 0.924]: strong
    assert V.within_bands([-0.1, 0.0, 0.1], weak).verdict == V.INCONCLUSIVE  # straddles 0: no relation shown
    assert V.within_bands([-0.35, -0.3, -0.25], weak).verdict == V.REPRODUCED
    assert V.within_bands([], weak).verdict == V.NOT_RUN


def test_vocabulary():
    assert V.by_construction("≡ 0", "balanced test set").verdict == V.BY_CONSTRUCTION
    assert V.not_run("no runs").verdict == V.NOT_RUN
    with pytest.raises(ValueError, match="verdict must be one of"):
        V.Verdict("sort of", "")
    with pytest.raises(ValueError, match="direction"):
        V.sign([1, 2], direction=2)


# --- the registry of rules, and the rules a chapter's claims are judged by ---------------------------------


class _Toy(Chapter):
    id = "TOY"
    claim_rules = ("positive",)

    def claims(self, results, config):
        return V.positive({"a": [1, 2, 3]}), V.sign(config["values"])


def test_a_claim_judged_by_an_undeclared_rule_is_an_error():
    """The rules a chapter's claims call are recorded (the outermost call only: ``positive`` calls ``sign``
    inside), and one the chapter does not declare raises, naming it."""
    with pytest.raises(ValueError, match=r"TOY: claims judged by sign, not in its claim_rules \(positive\)"):
        _Toy().claims(None, {"values": [1, 2, 3]})

    class Declared(_Toy):
        claim_rules = ("positive", "sign")

    verdicts = Declared().claims(None, {"values": [1, 2, 3]})
    assert [v.verdict for v in verdicts] == [V.REPRODUCED, V.REPRODUCED]


def test_combine_records_the_rule_it_combines_or_the_rules_of_a_helper():
    def helper(values, alpha=V.ALPHA):  # no registered rule: the rule it calls judges the claim
        return V.sign(np.asarray(values) + 1, 1, alpha)

    with V.rules_recorded() as used:
        V.combine(V.equivalent_to_zero, {"a": ([0.0, 0.001],)}, tolerance=0.1)
        V.paired_better({"s": [3, 5, 7]}, {"s": [1, 3, 5]})
    assert used == {"equivalent_to_zero", "paired_better"}
    with V.rules_recorded() as used:
        V.combine(helper, {"a": ([0.0, 0.5],)})
    assert used == {"sign"}
    V.sign([1, 2])  # outside a recording: nothing to record, no error


@pytest.mark.parametrize("n", [3, 4, 5, 8, 20])
def test_median_interval_is_scipys_distribution_free_interval(n):
    values = np.random.default_rng(n).normal(size=n)
    median, low, high = V.median_interval(values)
    expected = stats.quantile_test(values, q=0, p=0.5).confidence_interval(1 - 2 * V.ALPHA)
    assert median == pytest.approx(np.median(values))
    if n < 5:  # no order statistic bounds the median at 5% per side: an infinite interval
        assert (low, high) == (-np.inf, np.inf) and np.isnan(expected.low)
    else:
        assert (low, high) == (expected.low, expected.high)


def test_median_bounds_hold_their_level_at_a_ceiling():
    # a true median of 0.99 with values clipped at 1: the lower end is at or above 0.99 in at most 5% of draws
    d = np.clip(0.99 + np.random.default_rng(0).normal(0, 0.01, (20_000, 5)), 0, 1)
    _, low, _ = V._median_bounds(d)
    assert (low >= 0.99).mean() == pytest.approx(1 / 32, abs=0.004)  # P(all 5 above the median) = 2⁻⁵
