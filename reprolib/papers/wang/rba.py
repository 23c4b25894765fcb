"""Joint decoding of labels and gender, and RBA (Zhao et al. 2017, "Men Also Like Shopping"), for W-T3.

A model that predicts gender jointly with the labels (``MultiLabelBCE(gender=True)``) scores an assignment
(y ∈ {0, 1}^K, g ∈ {0, 1}) of image i as Σ_k y_k s_ik + g·t_i (unary scores: the stand-in's CRF has no pairwise
terms, so its MAP assignment is every score's sign).

**RBA** (Reducing Bias Amplification, Zhao et al. 2017, §4): corpus-level constraints on the predictions of a
whole test corpus — for every label k, the share of men among the images predicted with k stays within
``margin`` of its training value b_k:

    b_k − γ ≤ Σ_i y_ik g_i / Σ_i y_ik ≤ b_k + γ  ⟺  Σ_i y_ik (g_i − b_k − γ) ≤ 0  and  Σ_i y_ik (b_k − γ − g_i) ≤ 0,

solved by Lagrangian relaxation: with multipliers μ⁺_k, μ⁻_k ≥ 0, each image's assignment maximises
Σ_k y_k [s_ik − μ⁺_k (g − b_k − γ) − μ⁻_k (b_k − γ − g)] + g·t_i (for each g, every y_k by its sign; then the
better g), and the multipliers follow projected subgradient steps μ ← max(0, μ + η · constraint) until every
constraint holds or ``steps`` run out (Zhao et al.'s Algorithm 1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Decoded", "joint_decode", "rba_decode", "training_ratios", "ratio_violation"]


class Decoded(NamedTuple):
    labels: np.ndarray  # (N, K) bool
    gender: np.ndarray  # (N,) int64
    steps: int  # subgradient steps taken (0 without constraints)


def training_ratios(labels, groups) -> np.ndarray:
    """b_k: the share of g = 1 among the images with label k (½ for a label no image has)."""
    labels, groups = np.asarray(labels, dtype=bool), np.asarray(groups)
    count = labels.sum(0)
    men = (labels & (groups[:, None] == 1)).sum(0)
    return np.where(count > 0, men / np.maximum(count, 1), 0.5)


def _assign(scores, gender_scores, mu_up, mu_down, ratios, margin) -> tuple[np.ndarray, np.ndarray]:
    best = None
    for g in (0, 1):
        adjusted = scores - mu_up * (g - ratios - margin) - mu_down * (ratios - margin - g)
        value = np.clip(adjusted, 0, None).sum(1) + g * gender_scores
        if best is None:
            best = (value, adjusted > 0, np.zeros(len(scores), dtype=np.int64))
        else:
            better = value > best[0]
            best = (
                np.where(better, value, best[0]),
                np.where(better[:, None], adjusted > 0, best[1]),
                np.where(better, 1, best[2]),
            )
    return best[1], best[2]


def joint_decode(scores, gender_scores) -> Decoded:
    """The unconstrained MAP assignment: y_k = 1[s_k > 0], g = 1[t > 0]."""
    scores, gender_scores = np.asarray(scores, dtype=float), np.asarray(gender_scores, dtype=float)
    return Decoded(scores > 0, (gender_scores > 0).astype(np.int64), 0)


def ratio_violation(labels, gender, ratios, margin: float) -> np.ndarray:
    """The two constraints per label (2, K): Σ_i y_ik (g_i − b_k − γ) and Σ_i y_ik (b_k − γ − g_i); ≤ 0 holds."""
    y = np.asarray(labels, dtype=float)
    g = np.asarray(gender, dtype=float)[:, None]
    return np.stack([(y * (g - ratios - margin)).sum(0), (y * (ratios - margin - g)).sum(0)])


def rba_decode(scores, gender_scores, ratios, margin: float = 0.05, steps: int = 100, step_size=None) -> Decoded:
    """RBA (module docstring): projected subgradient on the multipliers, step ``step_size`` (default 1 / N, the
    constraints being sums over N images), at most ``steps`` steps; returns the last assignment."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin}")
    scores, gender_scores = np.asarray(scores, dtype=float), np.asarray(gender_scores, dtype=float)
    ratios = np.asarray(ratios, dtype=float)
    eta = step_size if step_size is not None else 1.0 / len(scores)
    mu = np.zeros((2, scores.shape[1]))
    for step in range(steps):
        labels, gender = _assign(scores, gender_scores, mu[0], mu[1], ratios, margin)
        violation = ratio_violation(labels, gender, ratios, margin)
        if (violation <= 0).all():
            return Decoded(labels, gender, step)
        mu = np.maximum(0.0, mu + eta * violation)
    return Decoded(*_assign(scores, gender_scores, mu[0], mu[1], ratios, margin), steps)
