import numpy as np
import pytest
import torch

from reprolib.metrics import macro_f1
from reprolib.multilabel import alpha_balance, perturb_labels


def _labels(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) labels whose frequency depends on a binary group (0.3 vs 0.1), and the groups."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n)
    labels = (rng.random((n, k)) < np.where(groups[:, None] == 0, 0.3, 0.1)).astype(np.int64)
    return labels, groups


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("f1", [0.2, 0.5, 0.8, 0.95])
def test_perturb_labels_hits_the_target_f1(f1, seed):
    labels, _ = _labels(2000, 10, seed)
    assert abs(macro_f1(labels, perturb_labels(labels, f1, seed)) - f1) <= 0.01


def test_perturb_labels_at_f1_one_changes_nothing():
    labels, _ = _labels(300, 5, 0)
    np.testing.assert_array_equal(perturb_labels(labels, 1.0, 0), labels)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, bool])
def test_perturb_labels_keeps_shape_and_dtype(dtype):
    labels = _labels(500, 6, 0)[0].astype(dtype)
    out = perturb_labels(labels, 0.7, 0)
    assert isinstance(out, np.ndarray) and out.shape == labels.shape and out.dtype == labels.dtype
    assert out is not labels and not np.array_equal(out, labels)


@pytest.mark.parametrize("dtype", [torch.int64, torch.float32])
def test_perturb_labels_returns_a_tensor_for_a_tensor(dtype):
    labels = torch.as_tensor(_labels(500, 6, 0)[0], dtype=dtype)
    out = perturb_labels(labels, 0.7, 0)
    assert isinstance(out, torch.Tensor) and out.shape == labels.shape and out.dtype == dtype
    assert abs(macro_f1(labels, out) - 0.7) <= 0.01


def test_perturb_labels_is_seeded():
    labels, _ = _labels(500, 6, 0)
    np.testing.assert_array_equal(perturb_labels(labels, 0.6, 4), perturb_labels(labels, 0.6, 4))
    assert not np.array_equal(perturb_labels(labels, 0.6, 4), perturb_labels(labels, 0.6, 5))


def test_perturb_labels_errs_independently_of_the_group():
    # labels three times as frequent in group 0; the errors must still fall on both groups alike
    labels, groups = _labels(40_000, 5, 7)
    flipped = perturb_labels(labels, 0.6, 7) != labels
    for truth in (0, 1):  # missed positives, then false positives
        rates = [flipped[(groups[:, None] == g) & (labels == truth)].mean() for g in (0, 1)]
        assert rates[0] > 0.01 and rates[0] == pytest.approx(rates[1], abs=0.01)


@pytest.mark.parametrize("f1", [0.0, -0.1, 1.5, float("nan")])
def test_perturb_labels_rejects_f1_outside_unit_interval(f1):
    with pytest.raises(ValueError, match=r"^f1 must lie in \(0, 1\], got ") as error:
        perturb_labels([[1, 0], [0, 1]], f1, 0)
    assert "\n" not in str(error.value)


def test_perturb_labels_says_when_the_target_is_out_of_reach():
    # one label, one positive: F1 can only be 1, 2/3 (one false positive) or 0
    with pytest.raises(ValueError, match="not within 0.01"):
        perturb_labels([[1], [0]], 0.5, 0)


# Wang et al. eq. (2) by hand. Images 0–4 are group 0 (m), 5–10 group 1 (w); two objects.
TABLE = np.array(
    [[1, 0], [1, 0], [1, 0], [1, 1], [0, 1], [1, 0], [0, 1], [0, 1], [0, 1], [0, 1], [1, 1]],
)
TABLE_GROUPS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])


def _ratios(labels, groups, kept):
    counts = np.stack([labels[kept][groups[kept] == g].sum(0) for g in (0, 1)])
    return counts[0] / counts[1]


def test_alpha_balance_by_hand_alpha_two():
    # object 0: 4 m vs 2 w, ratio 2, holds. Object 1: 2 m vs 5 w, 2.5 > 2: one w image with object 1 goes,
    # the fewest-objects one: one of 6–9 (one object each), never 10 (two objects). Then 2 m vs 4 w.
    result = alpha_balance(TABLE, TABLE_GROUPS, 2, seed=0)
    removed = set(range(11)) - set(result.indices.tolist())
    assert len(removed) == 1 and removed <= {6, 7, 8, 9}
    assert result.achieved_alpha == 2.0
    assert _ratios(TABLE, TABLE_GROUPS, result.indices).tolist() == [2.0, 0.5]


def test_alpha_balance_by_hand_alpha_one():
    # object 0: 4 m vs 2 w → two of 0–2 go (one object) before 3 (two); object 1: 2 m vs 5 w → three of 6–9 go
    result = alpha_balance(TABLE, TABLE_GROUPS, 1, seed=0)
    kept = set(result.indices.tolist())
    assert {3, 4, 5, 10} <= kept and len(kept & {0, 1, 2}) == 1 and len(kept & {6, 7, 8, 9}) == 1
    assert len(kept) == 6 and result.achieved_alpha == 1.0
    assert _ratios(TABLE, TABLE_GROUPS, result.indices).tolist() == [1.0, 1.0]


def test_alpha_balance_removes_the_images_with_fewest_objects_first():
    # object 0: 3 m vs 1 w at α = 1. Fewest first removes 0 and 2 and stops: object 1 stays 1 m vs 1 w.
    # Removing image 1 (two objects) instead would unbalance object 1 and cascade into removing everything.
    labels = [[1, 0], [1, 1], [1, 0], [1, 1]]
    result = alpha_balance(labels, [0, 0, 0, 1], 1, seed=0)
    assert result.indices.tolist() == [1, 3] and result.achieved_alpha == 1.0


def test_alpha_balance_breaks_ties_by_the_seed():
    removed = {
        frozenset(set(range(11)) - set(alpha_balance(TABLE, TABLE_GROUPS, 2, seed=s).indices.tolist()))
        for s in range(20)
    }
    assert len(removed) > 1
    np.testing.assert_array_equal(
        alpha_balance(TABLE, TABLE_GROUPS, 2, seed=3).indices, alpha_balance(TABLE, TABLE_GROUPS, 2, seed=3).indices
    )


@pytest.mark.parametrize("alpha", [1, 1.5, 3])
def test_alpha_balance_satisfies_eq_2_on_a_skewed_table(alpha):
    labels, groups = _labels(3000, 8, 1)
    result = alpha_balance(labels, groups, alpha, seed=0)
    assert np.all(np.diff(result.indices) > 0)
    ratios = _ratios(labels, groups, result.indices)
    assert np.all((1 / alpha <= ratios) & (ratios <= alpha))
    assert result.achieved_alpha == pytest.approx(np.maximum(ratios, 1 / ratios).max())
    assert 1 <= result.achieved_alpha <= alpha


@pytest.mark.parametrize("alpha", [0.5, 0, float("nan")])
def test_alpha_balance_rejects_alpha_below_one(alpha):
    with pytest.raises(ValueError, match=r"^alpha must lie in \[1, ∞\)") as error:
        alpha_balance(TABLE, TABLE_GROUPS, alpha, seed=0)
    assert "\n" not in str(error.value)


def test_alpha_balance_needs_two_groups():
    with pytest.raises(ValueError, match="exactly two values"):
        alpha_balance([[1], [1], [1]], [0, 1, 2], 2, seed=0)


def test_tasks_re_exports_the_multilabel_tools():
    from reprolib import tasks

    assert tasks.alpha_balance is alpha_balance and tasks.perturb_labels is perturb_labels
