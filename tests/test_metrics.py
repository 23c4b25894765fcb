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


# ---- multi-label and identification metrics (Wang et al. 2019; Zhao et al. 2017; Cherepanova 2023) ----


def test_macro_f1_hand_computed():
    from reprolib.metrics import macro_f1

    y_true = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]]
    y_pred = [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
    # label 0: TP 1, FP 1, FN 1 → 2/4; label 1: perfect → 1; label 2: no positive anywhere → 1
    assert macro_f1(y_true, y_pred) == pytest.approx((0.5 + 1 + 1) / 3)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        ([[0], [0]], [[0], [0]], 1.0),  # no positive in either array: perfect agreement
        ([[0], [0]], [[1], [0]], 0.0),  # a false positive on a label that never occurs
        ([[1], [0]], [[0], [0]], 0.0),  # the only positive missed
        ([[1], [1]], [[1], [0]], 2 / 3),  # TP 1, FN 1
    ],
    ids=["empty-both", "empty-truth", "empty-pred", "one-miss"],
)
def test_macro_f1_edge_cases(y_true, y_pred, expected):
    from reprolib.metrics import macro_f1

    assert macro_f1(y_true, y_pred) == pytest.approx(expected)


def test_macro_f1_agrees_with_scikit_learn_zero_division_one():
    from sklearn.metrics import f1_score

    from reprolib.metrics import macro_f1

    rng = np.random.default_rng(2)
    for _ in range(20):
        shape = (int(rng.integers(1, 60)), int(rng.integers(2, 8)))  # one column would read as binary, not multi-label
        y_true, y_pred = rng.random(shape) < 0.2, rng.random(shape) < 0.2
        expected = f1_score(y_true, y_pred, average="macro", zero_division=1.0)
        assert macro_f1(y_true, y_pred) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [([[1, 0]], [[1], [0]], "equal shapes"), ([[2, 0]], [[1, 0]], "only 0 and 1"), ([1, 0], [1, 0], "two-dim")],
)
def test_macro_f1_rejects_bad_input(y_true, y_pred, message):
    from reprolib.metrics import macro_f1

    with pytest.raises(ValueError, match=message):
        macro_f1(y_true, y_pred)


def test_bias_score_hand_computed():
    import torch

    from reprolib.metrics import bias_score

    # object 0 in three images of group 0 and one of group 1; object 1 in one and two; object 2 nowhere
    labels = [[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]]
    groups = [0, 0, 0, 1, 1, 1]
    expected = [[0.75, 0.25], [1 / 3, 2 / 3], [np.nan, np.nan]]
    np.testing.assert_allclose(bias_score(labels, groups), expected)
    np.testing.assert_allclose(bias_score(torch.tensor(labels), torch.tensor(groups)), expected)


def test_bias_score_columns_follow_sorted_group_values():
    from reprolib.metrics import bias_score

    np.testing.assert_allclose(bias_score([[1], [1], [1]], [7, 3, 7]), [[1 / 3, 2 / 3]])


def test_mean_bias_amplification_hand_computed():
    from reprolib.metrics import mean_bias_amplification

    train = [[0.8, 0.2], [0.5, 0.5], [0.3, 0.7], [0.9, 0.1]]
    predicted = [[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [np.nan, np.nan]]
    # o0 towards g0: +0.1; o1 at exactly 1/G: left out; o2 towards g1: +0.1; o3 never predicted: left out; K = 4
    assert mean_bias_amplification(train, predicted) == pytest.approx((0.1 + 0.1) / 4)


@pytest.mark.parametrize(
    ("train", "predicted", "expected"),
    [
        ([[0.5, 0.5]], [[0.9, 0.1]], 0.0),  # b* = 1/G exactly: not biased (strict >)
        ([[0.8, 0.2], [0.6, 0.4]], [[np.nan, np.nan], [0.7, 0.3]], 0.1 / 2),  # o0 never predicted: K stays 2
        ([[np.nan, np.nan], [0.6, 0.4]], [[0.5, 0.5], [0.7, 0.3]], 0.1 / 2),  # o0 absent from training
        ([[0.8, 0.2]], [[0.6, 0.4]], -0.2),  # the prediction dampens the bias: negative
    ],
    ids=["at-one-over-G", "never-predicted", "never-in-training", "dampened"],
)
def test_mean_bias_amplification_edge_cases(train, predicted, expected):
    from reprolib.metrics import mean_bias_amplification

    assert mean_bias_amplification(train, predicted) == pytest.approx(expected)


def test_mean_bias_amplification_three_groups_at_exactly_one_third():
    from reprolib.metrics import bias_score, mean_bias_amplification

    # counts (2, 2, 2) give b* = 2/6, which is the same double as 1/3: excluded, however skewed the predictions
    groups = [0, 0, 1, 1, 2, 2]
    train = bias_score([[1]] * 6, groups)
    predicted = bias_score([[1], [1], [1], [0], [0], [0]], groups)  # (2, 1, 0) / 3
    assert mean_bias_amplification(train, predicted) == 0.0


def test_bias_score_and_mean_bias_amplification_match_the_bias_amplification_package():
    """Cross-check against the PyPI package ``bias-amplification`` (its Zhao et al. 2017 metric, BA_MALS), built
    from its own pieces: ``computeAgivenT`` is P(g | o), i.e. ``bias_score`` transposed, and ``check_bias`` is the
    mask b*(o, g) > 1/G. Its ``computeBiasAmp`` is not compared: it subtracts joint probabilities P(g, o) where
    Zhao et al.'s eq. subtracts the bias scores P(g | o), and it reads training and predictions off one set,
    while Zhao et al. compare the training set's labels with predictions on the evaluation set."""
    torch = pytest.importorskip("torch")
    package = pytest.importorskip("bias_amplification", reason="the test extra's bias-amplification is not installed")
    from reprolib.metrics import bias_score, mean_bias_amplification

    rng = np.random.default_rng(0)
    train_groups, test_groups = rng.integers(0, 2, 200), rng.integers(0, 2, 150)
    train_labels = (rng.random((200, 5)) < np.array([0.3, 0.5, 0.2, 0.4, 0.6]) * (1 + train_groups[:, None]) / 2) * 1
    predictions = (rng.random((150, 5)) < np.array([0.4, 0.3, 0.5, 0.2, 0.6]) * (1 + test_groups[:, None]) / 2) * 1
    metric = package.BA_MALS()

    def tensors(labels, groups):
        return torch.tensor(np.eye(2)[groups], dtype=torch.float32), torch.tensor(labels, dtype=torch.float32)

    b_star = metric.computeAgivenT(*tensors(train_labels, train_groups)).numpy().T
    b_tilde = metric.computeAgivenT(*tensors(predictions, test_groups)).numpy().T
    np.testing.assert_allclose(bias_score(train_labels, train_groups), b_star, rtol=1e-6)
    np.testing.assert_allclose(bias_score(predictions, test_groups), b_tilde, rtol=1e-6)
    mask = metric.check_bias(*tensors(train_labels, train_groups)).numpy().T
    np.testing.assert_array_equal(mask, bias_score(train_labels, train_groups) > 1 / 2)
    expected = float((mask * (b_tilde - b_star)).sum() / train_labels.shape[1])
    assert mean_bias_amplification(b_star, b_tilde) == pytest.approx(expected, rel=1e-5)


def test_mean_bias_amplification_rejects_mismatched_shapes():
    from reprolib.metrics import mean_bias_amplification

    with pytest.raises(ValueError, match="equal shape"):
        mean_bias_amplification([[0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("n_groups", [2, 3])
def test_mean_bias_amplification_agrees_with_bias_amplification_package(n_groups):
    """Cross-check against the PyPI package ``bias-amplification`` (the ``test`` extra), class BA_MALS (Zhao et
    al. 2017): its P(A|T) is b and its ``check_bias`` is the mask b* > 1/G. Its ``computeBiasAmp`` (0.2.1)
    subtracts joint probabilities P(A, T) instead of b, which is not the paper's formula, so the sum is formed
    here from its pieces. It clamps 0/0 to 0 where ``bias_score`` gives NaN, so every object is predicted here."""
    torch = pytest.importorskip("torch")
    ba_metrics = pytest.importorskip("bias_amplification.metrics")
    from reprolib.metrics import bias_score, mean_bias_amplification

    rng = np.random.default_rng(3)
    zhao = ba_metrics.BA_MALS()
    for _ in range(10):
        n, k = int(rng.integers(200, 400)), int(rng.integers(2, 9))
        groups = rng.integers(0, n_groups, n)
        labels = rng.random((n, k)) < 0.15 + 0.2 * (groups[:, None] == rng.integers(0, n_groups, k))
        preds = np.where(rng.random((n, k)) < 0.8, labels, rng.random((n, k)) < 0.3)
        assert labels.any(0).all() and preds.any(0).all()
        a = torch.nn.functional.one_hot(torch.as_tensor(groups), n_groups).float()
        t, t_pred = torch.as_tensor(labels).float(), torch.as_tensor(preds).float()
        b_star, b_tilde = zhao.computeAgivenT(a, t), zhao.computeAgivenT(a, t_pred)  # (G, K)
        np.testing.assert_allclose(bias_score(labels, groups), b_star.numpy().T, atol=1e-6)
        expected = float((zhao.check_bias(a, t) * (b_tilde - b_star)).sum()) / k
        ours = mean_bias_amplification(bias_score(labels, groups), bias_score(preds, groups))
        assert ours == pytest.approx(expected, abs=1e-6)


# Five 2-D embeddings at 0°, 18.4°, 90°, 71.6° and 45°; image 3 is the only one of identity 2.
EMBEDDINGS = [[1.0, 0.0], [3.0, 1.0], [0.0, 1.0], [1.0, 3.0], [1.0, 1.0]]
IDENTITIES = [0, 0, 1, 2, 1]


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        # neighbours by angle: 0 → 1 (hit); 1 → 0 (hit); 2 → 3, 4 (hit at rank 2);
        # 4 → 1 and 3 tied at 26.6°, then 0 and 2 tied at 45°, lower index first: 1, 3, 0, 2 (hit at rank 4)
        (1, 2 / 4),
        (2, 3 / 4),
        (3, 3 / 4),  # breaking 4's ties the other way (3, 1, 2, 0) would give 4/4 here
        (4, 4 / 4),
        (50, 4 / 4),  # k beyond N − 1: every other image
    ],
)
def test_rank_k_accuracy_hand_computed(k, expected):
    from reprolib.metrics import rank_k_accuracy

    assert rank_k_accuracy(EMBEDDINGS, IDENTITIES, k=k) == pytest.approx(expected)


def test_rank_k_accuracy_uses_cosine_not_distance():
    from reprolib.metrics import rank_k_accuracy

    scaled = np.asarray(EMBEDDINGS) * np.array([[10.0], [0.1], [3.0], [7.0], [0.5]])
    assert rank_k_accuracy(scaled, IDENTITIES, k=1) == pytest.approx(2 / 4)


def test_rank_k_accuracy_probes_keep_the_whole_gallery():
    from reprolib.metrics import rank_k_accuracy

    probes = [False, False, True, True, True]  # images 2 and 4 scored (3 has no partner), all others searched
    assert rank_k_accuracy(EMBEDDINGS, IDENTITIES, k=1, probes=probes) == 0.0
    assert rank_k_accuracy(EMBEDDINGS, IDENTITIES, k=2, probes=probes) == pytest.approx(1 / 2)


def test_rank_k_accuracy_without_any_pair_is_nan():
    from reprolib.metrics import rank_k_accuracy

    assert np.isnan(rank_k_accuracy(EMBEDDINGS, [0, 1, 2, 3, 4]))


@pytest.mark.parametrize("k", [0, -1])
def test_rank_k_accuracy_rejects_k_below_one(k):
    from reprolib.metrics import rank_k_accuracy

    with pytest.raises(ValueError, match=f"k must be at least 1, got {k}$"):
        rank_k_accuracy(EMBEDDINGS, IDENTITIES, k=k)


def test_rank_k_accuracy_rejects_zero_embedding():
    from reprolib.metrics import rank_k_accuracy

    with pytest.raises(ValueError, match="non-zero"):
        rank_k_accuracy([[0.0, 0.0], [1.0, 0.0]], [0, 0])
