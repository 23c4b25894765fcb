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
    "macro_f1",
    "bias_score",
    "mean_bias_amplification",
    "rank_k_accuracy",
]


def _as_int_array(values, name: str) -> np.ndarray:
    array = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _as_binary_matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a two-dimensional (N, K) array, got shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return array.astype(bool)


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


def macro_f1(y_true, y_pred) -> float:
    """Macro-averaged F1 of (N, K) 0/1 multi-label arrays: the mean over the K labels of
    F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k), the performance measure of Wang et al. (2019), §3 and Table 1.

    A label with no positive in either array (TP = FP = FN = 0) contributes 1: the predictions agree with the
    labels on it exactly, so identical arrays always score 1 and ``perturb_labels`` can target any F1 in (0, 1].
    (scikit-learn's ``f1_score(average="macro", zero_division=1.0)`` computes the same number for K ≥ 2; its
    default, which the paper's code used, counts such a label as 0, with a warning.)
    """
    truth = _as_binary_matrix(y_true, "y_true")
    pred = _as_binary_matrix(y_pred, "y_pred")
    if truth.shape != pred.shape:
        raise ValueError(f"y_true and y_pred must have equal shapes, got {truth.shape} and {pred.shape}")
    tp = (truth & pred).sum(0)
    errors = (truth ^ pred).sum(0)  # FP + FN
    denominator = 2 * tp + errors
    per_label = np.divide(2 * tp, denominator, out=np.ones(len(tp)), where=denominator > 0)
    return float(per_label.mean())


def bias_score(labels, groups) -> np.ndarray:
    """Bias score b(o, g) = c(o, g) / Σ_g′ c(o, g′) of Zhao et al. (2017), as restated by Choi et al. §3.1.

    ``labels`` is (N, K) 0/1 (object o present in image i), ``groups`` the (N,) group of every image;
    c(o, g) counts the images of group g that contain o. Returns a (K, G) float array whose columns are the
    sorted distinct values of ``groups``. An object that occurs in no image gets NaN in every column: 0/0 says
    nothing about its association with a group, and any number (1/G, say) would pass for a measurement of an
    unbiased object; ``mean_bias_amplification`` leaves NaN rows out of its sum.
    """
    objects = _as_binary_matrix(labels, "labels")
    g = _as_int_array(groups, "groups")
    if len(g) != len(objects):
        raise ValueError(f"labels and groups must have equal lengths, got {len(objects)} and {len(g)}")
    one_hot = g[:, None] == np.unique(g)[None, :]  # (N, G)
    counts = objects.T.astype(float) @ one_hot  # (K, G): c(o, g)
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)


def mean_bias_amplification(train_bias, predicted_bias) -> float:
    """Mean bias amplification of Zhao et al. (2017), as restated by Choi et al. §3.1:

        (1/K) Σ_g Σ_{o : b*(o, g) > 1/G} (b̃(o, g) − b*(o, g))

    ``train_bias`` is b*, the ``bias_score`` of the training set's labels, and ``predicted_bias`` is b̃, the
    ``bias_score`` of the predictions on the evaluation set, both (K objects, G groups). Only the pairs biased
    towards g in training (strictly above 1/G) count, so a positive value means the predictions lean further
    towards the groups the training set already favoured.

    An object that no evaluation image is predicted to contain has b̃ = NaN (``bias_score``'s 0/0): its term is
    left out of the sum, while K stays the number of objects given. The predictions carry no group
    information about that object, so it contributes no amplification, and a fixed denominator keeps the
    value comparable between models evaluated on the same objects (dropping the object from K would reward a
    model for never predicting a rare object). An object absent from the training set (b* = NaN) fails the
    test b* > 1/G and contributes nothing either.
    """
    b_star = np.asarray(train_bias, dtype=float)
    b_tilde = np.asarray(predicted_bias, dtype=float)
    if b_star.ndim != 2 or b_star.shape != b_tilde.shape:
        raise ValueError(
            f"train_bias and predicted_bias must be (K, G) of equal shape, got {b_star.shape}, {b_tilde.shape}"
        )
    n_objects, n_groups = b_star.shape
    with np.errstate(invalid="ignore"):
        biased = b_star > 1 / n_groups  # NaN compares False
    counted = biased & ~np.isnan(b_tilde)
    return float((b_tilde - b_star)[counted].sum() / n_objects)


def rank_k_accuracy(embeddings, identities, k: int = 1, probes=None, gallery=None) -> float:
    """Rank-k identification accuracy by cosine similarity, every image a probe against the rest of the set
    (Cherepanova 2023, §5.3: "for each test image we treat the rest of the test set as gallery images").

    ``embeddings`` is (N, D), ``identities`` (N,). An image succeeds when one of its k most cosine-similar
    *other* images shows the same identity. Images whose identity has no other image cannot succeed and are
    left out of the fraction. ``probes``, an optional (N,) boolean mask, scores only those images as probes (the
    thesis's per-group accuracies) while the gallery stays every other image. ``gallery``, an optional (N,)
    boolean mask, restricts what a probe is matched against to those images (Cherepanova 2023, §3.4: probes
    held out, matched against the gallery only); a probe then needs a gallery image of its identity other than
    itself to be scored. Ties are broken deterministically: among equally similar images the one with the lower
    index ranks first. Returns NaN when no probe has another image of its identity.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    x = np.asarray(embeddings.cpu() if isinstance(embeddings, torch.Tensor) else embeddings, dtype=float)
    ids = _as_int_array(identities, "identities")
    if x.ndim != 2 or len(x) != len(ids):
        raise ValueError(f"embeddings must be (N, D) with N = len(identities) = {len(ids)}, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1)
    if np.any(norms == 0):
        raise ValueError("embeddings must be non-zero: cosine similarity is undefined for a zero vector")
    unit = x / norms[:, None]
    searched = np.ones(len(ids), dtype=bool) if gallery is None else _as_int_array(gallery, "gallery").astype(bool)
    _, inverse = np.unique(ids, return_inverse=True)
    in_gallery = np.bincount(inverse, weights=searched)  # gallery images of each identity
    scored = in_gallery[inverse] - searched > 0  # another gallery image of the probe's identity
    if probes is not None:
        scored &= _as_int_array(probes, "probes").astype(bool)
    rows = np.flatnonzero(scored)
    if len(rows) == 0:
        return float("nan")
    top = min(k, len(x) - 1)  # the probe itself sorts last and must stay outside the top k
    block = max(1, 2**24 // len(x))  # bounds the similarity block at 16M entries
    hits = 0
    for start in range(0, len(rows), block):
        probe = rows[start : start + block]
        similarity = unit[probe] @ unit.T
        similarity[:, ~searched] = -np.inf
        similarity[np.arange(len(probe)), probe] = -np.inf
        kth = -np.partition(-similarity, top - 1, axis=1)[:, top - 1 : top]  # the k-th largest similarity
        above, tied = similarity > kth, similarity == kth
        free_slots = top - above.sum(1, keepdims=True)  # filled by the tied images of lowest index
        in_top = above | (tied & (np.cumsum(tied, axis=1) <= free_slots))
        candidate = searched[None, :] & (np.arange(len(x))[None, :] != probe[:, None])
        hits += int((in_top & candidate & (ids[None, :] == ids[probe, None])).any(1).sum())
    return hits / len(rows)
