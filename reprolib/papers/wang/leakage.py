"""Leakage of Wang et al. (2019), §3: an attacker predicts the protected attribute g from a label vector.

Dataset leakage λ_D = the attacker's accuracy on held-out data from ground-truth labels; λ_D(a) the same from
labels perturbed at random to F1 = a (``reprolib.multilabel.perturb_labels``), the leakage of an ideal model
whose mistakes are chance (§3, "Dataset Leakage"). The attacker (§4.1, "Models" and "Training Details"): a
4-layer MLP with BatchNorm and LeakyReLU in between, Adam, batch 128, 100 epochs, the snapshot best on the dev
split; attackers are trained and evaluated on gender-balanced data (§4.1, "Computing Leakage").

Table 2 varies the attacker: ``depth`` 1 (one linear layer), 2 or 4, ``hidden`` 100 or 300, and the share of the
training rows it sees (``balanced_indices(..., fraction=…)``). The stored attackers of the chapters are artifacts
(``attackers.py``); this module holds the model and its training.

The attacker is a second, small training on vectors, after (or, for λ_D, instead of) the image model; it trains
here, with torch directly, rather than through ``reprolib.training``: that trainer is built for image tasks
(uint8 image tensors, normalisation, augmentation, multi-run image models), and an attacker per (F1, seed) on a
few hundred K-dimensional vectors trains in about a second on a CPU.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ...multilabel import perturb_labels

__all__ = [
    "Attacker",
    "AttackerResult",
    "Leakage",
    "accuracy",
    "train_attacker",
    "balanced_indices",
    "dataset_leakage",
    "ATTACKER",
]

ATTACKER = {"hidden": 300, "depth": 4, "epochs": 100, "batch_size": 128, "lr": 5e-5}  # §4.1; hidden: ours


class Attacker(nn.Module):
    """``depth`` linear layers (in → hidden → … → 2 logits) with BatchNorm and LeakyReLU between them (§4.1:
    "a 4-layer multi-layer perceptron (MLP) with BatchNorm and LeakyReLU in between"); ``depth=1`` is one linear
    layer (Table 2's "1 layer"). §4.1 gives no width; 300 is the authors' code's default (Table 2 tries 100
    and 300)."""

    def __init__(self, in_features: int, hidden: int = 300, depth: int = 4):
        super().__init__()
        widths = [in_features, *[hidden] * (depth - 1), 2]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < depth - 1:
                layers += [nn.BatchNorm1d(b), nn.LeakyReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class AttackerResult(NamedTuple):
    model: Attacker  # the best snapshot on the dev split, in eval mode
    dev_accuracy: float  # its accuracy on the dev split
    epoch: int  # the epoch (1-based) of that snapshot


def _check(name: str, value, low, integer=False, open_low=False):
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else isinstance(value, int | float)
    if not ok or (value <= low if open_low else value < low):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {what} {'>' if open_low else '≥'} {low}, got {value!r}")


def accuracy(model: nn.Module, features, groups) -> float:
    """Share of rows whose g the attacker predicts: (1/|D|) Σ 1[f(Y_i) == g_i] (§3)."""
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        g = torch.as_tensor(np.asarray(groups), dtype=torch.long)
        return float((model(x).argmax(1) == g).float().mean())


def train_attacker(
    features,
    groups,
    dev_features,
    dev_groups,
    seed: int,
    epochs: int = ATTACKER["epochs"],
    lr: float = ATTACKER["lr"],
    batch_size: int = ATTACKER["batch_size"],
    hidden: int = ATTACKER["hidden"],
    depth: int = ATTACKER["depth"],
) -> AttackerResult:
    """Train an ``Attacker`` to predict the 0/1 ``groups`` from the rows of ``features`` (N, D): Adam at ``lr``,
    cross-entropy, shuffled minibatches of ``batch_size`` (the last smaller one kept unless it has a single row,
    which BatchNorm cannot normalise), ``epochs`` epochs; after each, the accuracy on (``dev_features``,
    ``dev_groups``); returns the snapshot with the best dev accuracy (the earliest among equals). Seeded by
    ``seed`` (initialisation and batch order). A parameter out of range raises a one-line ValueError."""
    _check("epochs", epochs, 1, integer=True)
    _check("batch_size", batch_size, 2, integer=True)
    _check("hidden", hidden, 1, integer=True)
    _check("depth", depth, 1, integer=True)
    _check("lr", lr, 0, open_low=True)
    _check("seed", seed, 0, integer=True)
    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    g = torch.as_tensor(np.asarray(groups), dtype=torch.long)
    if x.dim() != 2 or len(x) != len(g) or len(x) < 2:
        raise ValueError(f"features must be (N, D) with N ≥ 2 rows, one per group, got {tuple(x.shape)} and {len(g)}")
    if not set(g.tolist()) <= {0, 1}:
        raise ValueError("groups must hold 0/1 values")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small MLP: one thread is faster than several contending ones (30× on 2 cores)
    try:
        return _fit(x, g, dev_features, dev_groups, seed, epochs, lr, batch_size, hidden, depth)
    finally:
        torch.set_num_threads(threads)


def _fit(x, g, dev_features, dev_groups, seed, epochs, lr, batch_size, hidden, depth) -> AttackerResult:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = Attacker(x.shape[1], hidden, depth)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    best = (-1.0, None, 0)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:
                continue
            optimizer.zero_grad()
            loss_fn(model(x[idx]), g[idx]).backward()
            optimizer.step()
        model.eval()
        dev = accuracy(model, dev_features, dev_groups)
        if dev > best[0]:
            best = (dev, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
    model.load_state_dict(best[1])
    model.eval()
    return AttackerResult(model, best[0], best[2])


def balanced_indices(groups, seed: int, fraction: float = 1.0) -> np.ndarray:
    """Sorted indices of a gender-balanced subset (§4.1: "Attackers are trained and evaluated with an equal
    amount images of men and women"): n = the size of the smaller group, then round(``fraction`` · n) random
    rows (``seed``) of each group — every row of the smaller group at ``fraction=1`` (Table 2 trains on 75%,
    50%, 25% of the data)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    g = np.asarray(groups)
    members = [np.flatnonzero(g == v) for v in (0, 1)]
    n = round(fraction * min(len(m) for m in members))
    if n == 0:
        raise ValueError("groups must hold both values 0 and 1 to balance them")
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(m, n, replace=False) for m in members]))


class Leakage(NamedTuple):
    accuracy: float  # λ_D(f1): the attacker's accuracy on the test split
    flipped: float  # share of the training split's label entries the perturbation flipped


def dataset_leakage(splits: dict, f1: float, seed: int, **attacker) -> Leakage:
    """λ_D(f1) (§3): the test accuracy of an attacker trained on the ``train`` split's labels and selected on the
    ``validation`` split, every split's labels perturbed to macro-F1 = ``f1`` (``perturb_labels``; f1 = 1 leaves
    them as they are: λ_D = λ_D(1)), and the share of training entries flipped. ``splits`` maps train,
    validation and test to (labels (N, K) 0/1, groups (N,)), each gender-balanced already
    (``balanced_indices``). ``seed`` seeds the perturbations (a different stream per split) and the attacker;
    ``attacker`` passes on to ``train_attacker``. ``f1`` outside (0, 1] raises a one-line ValueError.

    Once more than half the entries flip (low f1 on dense labels), the perturbed labels are anti-correlated
    with the truth and carry its information again: λ_D(f1) then rises as f1 falls."""
    if not isinstance(f1, int | float) or isinstance(f1, bool) or not 0 < f1 <= 1:
        raise ValueError(f"f1 must be a number in (0, 1], got {f1!r}")
    noisy = {
        name: (np.asarray(labels) if f1 == 1 else perturb_labels(np.asarray(labels), f1, seed * 3 + i), groups)
        for i, (name, (labels, groups)) in enumerate(sorted(splits.items()))
    }
    result = train_attacker(*noisy["train"], *noisy["validation"], seed=seed, **attacker)
    flipped = float((noisy["train"][0] != np.asarray(splits["train"][0])).mean())
    return Leakage(accuracy(result.model, *noisy["test"]), flipped)
