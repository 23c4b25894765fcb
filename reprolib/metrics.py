"""Metrics of the book, as plain functions of arrays (fairlearn style): nothing prints, nothing trains.

Every function accepts numpy arrays, torch tensors or lists and returns floats or numpy arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torchmetrics.functional.classification import multiclass_calibration_error

__all__ = [
    "bias_amplification",
    "expected_calibration_error",
    "accuracy",
    "cell_accuracy",
    "mean_ci",
    "bias_conflict_accuracy",
    "friedman_nemenyi",
]


def _as_int_array(values, name: str) -> np.ndarray:
    array = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def bias_amplification(groups, labels, preds) -> float:
    """Directional bias amplification BiasAmp_{A→T} of Wang & Russakovsky (2021); Hall et al. eqs. (1)–(3).

    ``groups`` (A), ``labels`` (T) and ``preds`` (T̂) are per-example categorical values of any number of
    groups and classes. Every probability is measured on the examples given (the paper uses the test set):

    - y_at = [P(T_t=1, A_a=1) > P(T_t=1) P(A_a=1)]                                    (3)
    - Δ_at = P(T̂_t=1 | A_a=1) − P(T_t=1 | A_a=1)                                     (2)
    - BiasAmp = 1/(|A||T|) Σ_{a,t} y_at Δ_at − (1 − y_at) Δ_at                          (1)

    The sets A and T are the values present in ``groups`` and in ``labels`` ∪ ``preds``.
    """
    a = _as_int_array(groups, "groups")
    t = _as_int_array(labels, "labels")
    t_hat = _as_int_array(preds, "preds")
    if not (len(a) == len(t) == len(t_hat)):
        raise ValueError(f"groups, labels and preds must have equal lengths, got {len(a)}, {len(t)}, {len(t_hat)}")
    if len(a) == 0:
        raise ValueError("bias_amplification needs at least one example")
    group_values = np.unique(a)
    class_values = np.unique(np.concatenate([t, t_hat]))
    total = 0.0
    for g in group_values:
        in_group = a == g
        p_group = in_group.mean()
        for c in class_values:
            p_class = (t == c).mean()
            p_joint = ((t == c) & in_group).mean()
            y_at = p_joint > p_class * p_group
            delta_at = (t_hat[in_group] == c).mean() - (t[in_group] == c).mean()
            total += delta_at if y_at else -delta_at
    return float(total / (len(group_values) * len(class_values)))


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ECE of binary probabilities with the confidence of the *predicted* class, max(p, 1−p) (Hall et al. eq. 4).

    ``probs`` are P(y=1). The predictions' confidences are split into ``n_bins`` equal-width bins and the
    |accuracy − confidence| gaps averaged with weights equal to the bins' shares of examples (Naeini et al. 2015).
    torchmetrics' ``binary_calibration_error`` bins p itself, a different number; its multiclass form on the
    two columns [1−p, p] is the paper's definition, so that is what is called here.
    """
    p = torch.as_tensor(np.asarray(probs, dtype=np.float64) if not isinstance(probs, torch.Tensor) else probs)
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).long()
    if p.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"probs and labels must be 1-D of equal length, got {tuple(p.shape)} and {tuple(y.shape)}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}")
    if torch.any((p < 0) | (p > 1)):
        raise ValueError("probs must lie in [0, 1]")
    two_columns = torch.stack([1 - p, p], dim=1).double()
    return float(multiclass_calibration_error(two_columns, y, num_classes=2, n_bins=n_bins, norm="l1"))


def accuracy(labels, preds) -> float:
    """Share of examples whose prediction equals the label."""
    t = _as_int_array(labels, "labels")
    t_hat = _as_int_array(preds, "preds")
    return float((t == t_hat).mean())


def cell_accuracy(groups, labels, preds) -> dict[tuple[int, int], float]:
    """Accuracy in every (class, group) cell present in the data, keyed by (class, group) (Hall et al. Fig. 8)."""
    a = _as_int_array(groups, "groups")
    t = _as_int_array(labels, "labels")
    t_hat = _as_int_array(preds, "preds")
    cells = {}
    for c in np.unique(t):
        for g in np.unique(a):
            mask = (t == c) & (a == g)
            if mask.any():
                cells[(int(c), int(g))] = float((t_hat[mask] == c).mean())
    return cells


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of its Student-t confidence interval (the bands of every figure of the book).

    One value gives an interval of zero width (there is no spread to estimate); NaNs are dropped.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if len(x) == 1 or np.all(x == x[0]):
        return mean, mean, mean
    half = float(stats.sem(x) * stats.t.ppf((1 + confidence) / 2, len(x) - 1))
    return mean, mean - half, mean + half


def bias_conflict_accuracy(labels, preds, aligned) -> dict[str, float]:
    """Accuracy on bias-aligned and on bias-conflicting examples, their mean and the bias gap aligned −
    conflicting (Kurmi et al. 2022, Tables 1–3); NaN for a part with no examples."""
    t = _as_int_array(labels, "labels")
    t_hat = _as_int_array(preds, "preds")
    mask = _as_int_array(aligned, "aligned").astype(bool)
    if not (len(t) == len(t_hat) == len(mask)):
        raise ValueError(f"labels, preds and aligned must have equal lengths, got {len(t)}, {len(t_hat)}, {len(mask)}")
    correct = t == t_hat
    on_aligned = float(correct[mask].mean()) if mask.any() else float("nan")
    on_conflicting = float(correct[~mask].mean()) if (~mask).any() else float("nan")
    return {
        "aligned": on_aligned,
        "conflicting": on_conflicting,
        "mean": (on_aligned + on_conflicting) / 2,
        "gap": on_aligned - on_conflicting,
    }


def friedman_nemenyi(scores, alpha: float = 0.05) -> dict:
    """Friedman test and Nemenyi critical difference over a table of scores (Demšar 2006, §3.2.2).

    ``scores`` is (N blocks, k methods), higher is better (a block is one run, or one dataset). Methods are
    ranked within each block (rank 1 = best, ties share the average rank). Returns the average ranks, Friedman's
    χ² and p-value (scipy), and the critical difference CD = q_α √(k(k+1) / (6N)), q_α the studentized range
    quantile at 1 − α for k means and infinite degrees of freedom, divided by √2: two methods differ
    significantly when their average ranks differ by more than CD.
    """
    table = np.asarray(scores, dtype=float)
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 3:
        raise ValueError(f"scores must be (N ≥ 2 blocks, k ≥ 3 methods), got shape {table.shape}")
    n, k = table.shape
    ranks = np.apply_along_axis(stats.rankdata, 1, -table)
    statistic, p_value = stats.friedmanchisquare(*table.T)
    q_alpha = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return {
        "average_ranks": ranks.mean(0),
        "statistic": float(statistic),
        "p_value": float(p_value),
        "critical_difference": float(q_alpha * np.sqrt(k * (k + 1) / (6 * n))),
    }
