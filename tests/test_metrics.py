import numpy as np
import pytest
from scipy import stats

from reprolib.metrics import accuracy, bias_amplification, cell_accuracy, expected_calibration_error, mean_ci

GROUPS = [0, 0, 0, 0, 1, 1, 1, 1]
LABELS = [1, 1, 1, 0, 1, 0, 0, 0]


def test_bias_amplification_hand_computed():
    # Predicting purely by group: y_{0,1} = y_{1,0} = 1, and every Δ has magnitude ¼ in the bias's direction.
    preds = [1, 1, 1, 1, 0, 0, 0, 0]
    assert bias_amplification(GROUPS, LABELS, preds) == pytest.approx(0.25)


def test_bias_amplification_dampening_is_negative():
    # Predictions with no group dependence at all, on biased labels: the bias is removed, BiasAmp < 0.
    preds = [1, 1, 0, 0, 1, 1, 0, 0]
    # Δ_{0,1} = ½ − ¾ (y=1), Δ_{0,0} = ½ − ¼ (y=0), Δ_{1,1} = ½ − ¼ (y=0), Δ_{1,0} = ½ − ¾ (y=1)
    assert bias_amplification(GROUPS, LABELS, preds) == pytest.approx((-0.25 - 0.25 - 0.25 - 0.25) / 4)


def test_perfect_predictions_amplify_nothing():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 200))
        groups, labels = rng.integers(0, 3, n), rng.integers(0, 4, n)
        assert bias_amplification(groups, labels, labels) == pytest.approx(0.0)


def _reference(groups, labels, preds):
    """Eqs. (1)–(3) written a second way, with pandas cross-tabulations."""
    import pandas as pd

    df = pd.DataFrame({"a": groups, "t": labels, "p": preds})
    classes = sorted(set(labels) | set(preds))
    joint = pd.crosstab(df.a, df.t, normalize=True).reindex(columns=classes, fill_value=0)
    cond_true = pd.crosstab(df.a, df.t, normalize="index").reindex(columns=classes, fill_value=0)
    cond_pred = pd.crosstab(df.a, df.p, normalize="index").reindex(columns=classes, fill_value=0)
    p_a = df.a.value_counts(normalize=True).sort_index()
    p_t = df.t.value_counts(normalize=True).reindex(classes, fill_value=0)
    y = joint.gt(np.outer(p_a, p_t))
    delta = cond_pred - cond_true
    return float(np.where(y, delta, -delta).sum() / delta.size)


def test_bias_amplification_agrees_with_a_second_formulation_multiclass():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(10, 300))
        groups = rng.integers(0, 3, n)
        labels = (groups + rng.integers(0, 2, n)) % 4  # correlated with the group
        preds = np.where(rng.random(n) < 0.7, labels, rng.integers(0, 4, n))
        assert bias_amplification(groups, labels, preds) == pytest.approx(_reference(groups, labels, preds))


def test_bias_amplification_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        bias_amplification([0, 1], [0, 1, 1], [0, 1])


def test_ece_hand_computed():
    # confidences 0.9, 0.9 (bin 13, accuracy ½), 0.85 (bin 12, correct), 0.65 (bin 9, wrong)
    probs = [0.9, 0.9, 0.15, 0.65]
    labels = [1, 0, 0, 0]
    expected = 2 / 4 * abs(0.5 - 0.9) + 1 / 4 * abs(1 - 0.85) + 1 / 4 * abs(0 - 0.65)
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-6)


def test_ece_uses_predicted_class_confidence_not_p():
    # p = 0.1 for a negative example is a confident, correct prediction: ECE = |1 − 0.9| = 0.1.
    assert expected_calibration_error([0.1], [0]) == pytest.approx(0.1, abs=1e-6)


def test_ece_of_perfectly_calibrated_bins_is_zero():
    probs = [0.75] * 4 + [0.25] * 4
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-6)


def test_ece_rejects_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([1.2], [1])


def test_accuracy_and_cell_accuracy():
    preds = [1, 1, 0, 0, 1, 0, 0, 1]
    assert accuracy(LABELS, preds) == pytest.approx(6 / 8)
    cells = cell_accuracy(GROUPS, LABELS, preds)
    assert cells == {(0, 0): 1.0, (0, 1): pytest.approx(2 / 3), (1, 0): pytest.approx(2 / 3), (1, 1): 1.0}


def test_mean_ci_student_t():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1 / np.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2 - half, 2 + half))
    assert half == pytest.approx(2.484, abs=1e-3)


def test_mean_ci_single_value_has_zero_width():
    assert mean_ci([0.3]) == (0.3, 0.3, 0.3)


def test_bias_conflict_accuracy_by_hand():
    from reprolib.metrics import bias_conflict_accuracy

    labels = [0, 1, 2, 0, 1, 2]
    preds = [0, 1, 0, 0, 2, 1]
    aligned = [1, 1, 1, 0, 0, 0]  # aligned: 2 of 3 right; conflicting: 1 of 3
    result = bias_conflict_accuracy(labels, preds, aligned)
    assert result == pytest.approx({"aligned": 2 / 3, "conflicting": 1 / 3, "mean": 0.5, "gap": 1 / 3})


def test_friedman_nemenyi_on_a_hand_made_table():
    from reprolib.metrics import friedman_nemenyi

    # three methods, four blocks; method 2 always best, method 0 always worst → ranks 3, 2, 1
    scores = [[0.1, 0.5, 0.9], [0.2, 0.6, 0.7], [0.0, 0.3, 0.4], [0.5, 0.6, 0.8]]
    result = friedman_nemenyi(scores)
    assert result["average_ranks"].tolist() == [3.0, 2.0, 1.0]
    # χ²_F = 12N/(k(k+1)) Σ R_j² − 3N(k+1) = 12·4/12 · 14 − 3·4·4 = 8
    assert result["statistic"] == pytest.approx(8.0)
    # Demšar (2006) Table 5: q_0.05 = 2.343 for k = 3; CD = 2.343 √(3·4 / (6·4)) = 1.657
    assert result["critical_difference"] == pytest.approx(2.343 * (12 / 24) ** 0.5, abs=1e-3)
    # the paper's CD of 1.048 for three methods corresponds to N = 10 blocks
    ten = friedman_nemenyi([[0, 1, 2]] * 5 + [[0, 2, 1]] * 5)
    assert ten["critical_difference"] == pytest.approx(1.048, abs=1e-3)
