"""Multi-label data tools of Wang et al. (2019), "Balanced Datasets Are Not Enough": labels perturbed at random to
a chosen macro-F1 (§3, dataset leakage λ_D(a)) and the α-balanced subsets of eq. (2) (§4, "Alternative Data
Splits"). Model-free and seeded, for the dataset builders and chapters.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .metrics import _as_binary_matrix, _as_int_array, macro_f1

__all__ = ["BalancedSubset", "alpha_balance", "perturb_labels", "REMOVALS"]

F1_TOLERANCE = 0.01
REMOVALS = ("fewest_objects", "random")  # which image alpha_balance removes first


def perturb_labels(labels, f1: float, seed: int):
    """A copy of the (N, K) 0/1 ``labels`` with random errors, whose ``macro_f1`` against ``labels`` is within
    0.01 of ``f1`` (Wang et al. §3: the perturbation r(Y, a) behind the dataset leakage λ_D(a) of a model
    "whose mistakes cannot be attributed to systematic bias", Fig. 4).

    As in the authors' code, every entry, positive or negative, of every image is flipped with one common
    probability, whatever the image's group. Here the entries are put in one random order (``seed``) and the
    first m are flipped (a common rate m/(NK), drawn without replacement); each extra flip lowers a label's TP
    or raises its FP or FN, so the macro-F1 falls monotonically with m, and bisection on m finds the largest m
    whose F1 is still ≥ ``f1``; m or m + 1, whichever lands nearer, is returned. A numpy array comes back as
    numpy, a tensor as a tensor, with the input's shape and dtype. ``f1`` outside (0, 1], or a target the steps
    of a small array cannot reach within 0.01, raises ValueError.
    """
    if not 0 < f1 <= 1:
        raise ValueError(f"f1 must lie in (0, 1], got {f1}")
    is_tensor = isinstance(labels, torch.Tensor)
    original = np.asarray(labels.cpu() if is_tensor else labels)
    truth = _as_binary_matrix(original, "labels")
    order = np.random.default_rng(seed).permutation(truth.size)

    def flipped(m: int) -> np.ndarray:
        out = truth.copy().reshape(-1)
        out[order[:m]] ^= True
        return out.reshape(truth.shape)

    low, high = 0, truth.size  # invariant: F1(low) ≥ f1; F1(high) < f1 unless high == size
    while high - low > 1:
        middle = (low + high) // 2
        if macro_f1(truth, flipped(middle)) >= f1:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda m: abs(macro_f1(truth, flipped(m)) - f1))
    reached = macro_f1(truth, flipped(best))
    if abs(reached - f1) > F1_TOLERANCE:
        raise ValueError(f"perturb_labels reaches macro-F1 {reached:.4f} at best, not within 0.01 of f1={f1}")
    result = flipped(best).astype(original.dtype)
    return torch.as_tensor(result).to(device=labels.device, dtype=labels.dtype) if is_tensor else result


class BalancedSubset(NamedTuple):
    indices: np.ndarray  # sorted int64 indices of the images kept
    achieved_alpha: float  # max over labels present of max(#(m, y)/#(w, y), #(w, y)/#(m, y)); ≤ the α asked for


def alpha_balance(labels, groups, alpha: float, seed: int, removal: str = "fewest_objects") -> BalancedSubset:
    """The images kept so that every label y satisfies Wang et al.'s eq. (2), 1/α ≤ #(m, y)/#(w, y) ≤ α, by the
    paper's heuristic for COCO (§4, "Alternative Data Splits"): make the objects satisfy the constraint one at a
    time, removing images with fewer objects first, and iterate over all objects until nothing changes.

    ``labels`` is (N, K) 0/1, ``groups`` (N,) with exactly two values (m and w: eq. 2 is symmetric in them).
    The exact greedy order: sweep the labels y = 0, …, K−1; while y violates eq. (2), remove one kept image that
    contains y and belongs to the group with more images of y, choosing the image with the fewest objects
    (labels set) and, among equally few, the one first in a random permutation of the images (``seed``);
    ``removal="random"`` drops the fewest-objects order and takes the images in the random permutation alone
    (the alternative the book compares the heuristic with). Sweep
    again until a whole sweep removes nothing; every removal shrinks the set, so this ends, and at the end every
    label holds. A label left with no image in either group satisfies eq. (2) vacuously (0 ≤ α·0).

    The loop runs to convergence, so ``achieved_alpha`` (the largest ratio left) is at most α; for α = 1 it is
    exactly 1. The paper reports 1.08 for its α = 1 split and calls α = 1 "in-feasible" (footnote 3): its text
    gives no stopping rule that would stop short of the constraint, so that value is not reproducible from the
    text. α < 1 or an unknown ``removal`` raises ValueError.
    """
    if not alpha >= 1:
        raise ValueError(f"alpha must lie in [1, ∞) (eq. 2 bounds the ratio by 1/α and α), got {alpha}")
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {', '.join(REMOVALS)}, got {removal!r}")
    objects = _as_binary_matrix(labels, "labels")
    g = _as_int_array(groups, "groups")
    if len(g) != len(objects):
        raise ValueError(f"labels and groups must have equal lengths, got {len(objects)} and {len(g)}")
    values, group = np.unique(g, return_inverse=True)
    if len(values) != 2:
        raise ValueError(f"groups must hold exactly two values (m and w of eq. 2), got {len(values)}")
    n_objects = objects.sum(1)
    tie_break = np.random.default_rng(seed).permutation(len(objects))
    # fewest objects first, then the seeded permutation; or the permutation alone
    removal_order = np.lexsort((tie_break, n_objects)) if removal == "fewest_objects" else tie_break
    # queues[y][h]: the images of group h containing y, in removal order; heads[y][h]: the next one to look at
    queues = [
        [removal_order[objects[removal_order, y] & (group[removal_order] == h)] for h in (0, 1)]
        for y in range(objects.shape[1])
    ]
    heads = np.zeros((objects.shape[1], 2), dtype=int)
    counts = np.stack([objects[group == h].sum(0) for h in (0, 1)])  # (2, K): #(m, y), #(w, y)
    kept = np.ones(len(objects), dtype=bool)

    def violated(y: int) -> bool:
        return counts[0, y] > alpha * counts[1, y] or counts[1, y] > alpha * counts[0, y]

    changed = True
    while changed:
        changed = False
        for y in range(objects.shape[1]):
            while violated(y):
                h = int(counts[1, y] > counts[0, y])
                queue = queues[y][h]
                while not kept[queue[heads[y, h]]]:
                    heads[y, h] += 1
                image = queue[heads[y, h]]
                kept[image] = False
                counts[h] -= objects[image]
                changed = True
    present = counts.min(0) > 0
    ratios = np.maximum(counts[0, present] / counts[1, present], counts[1, present] / counts[0, present])
    return BalancedSubset(np.flatnonzero(kept), float(ratios.max()) if present.any() else 1.0)
