"""The labels of Choi, Zhang & Liu: eleven COCO objects and the gender label, with Table 1's gender bias.

§4.1: of COCO's 80 categories, 11 objects were chosen, "approximately half [...] heavily biased towards males
while the rest are relatively unbiased"; the 12th label is gender (man or woman, from the captions). The
classifier has 12 sigmoid outputs in the order of ``LABELS``: the objects, then ``man`` (1 = man, 0 = woman).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ... import metrics as M

__all__ = [
    "OBJECTS",
    "TABLE1",
    "TABLE1_OVERALL",
    "TEDDY_BEAR_SHARE",
    "PAPER_AMPLIFICATION",
    "check_objects",
    "man_bias",
    "two_group_bias",
    "amplification",
]

# Table 1: bias(o, man) = c(o, man) / (c(o, man) + c(o, woman)) in the paper's training data, and its "Overall"
TABLE1 = {
    "truck": 0.8000,
    "motorcycle": 0.8588,
    "tie": 0.8874,
    "backpack": 0.7630,
    "sports ball": 0.7282,
    "handbag": 0.4864,
    "fork": 0.4908,
    "knife": 0.5312,
    "spoon": 0.5277,
    "cell phone": 0.5859,
    "teddy bear": 0.4243,
}
OBJECTS = tuple(TABLE1)
TABLE1_OVERALL = 0.6870
TEDDY_BEAR_SHARE = 0.027  # §4.3: "teddy bear [...] only occurred in about 2.7% of all instances"
PAPER_AMPLIFICATION = {"baseline": 0.1624, "auxiliary": 0.075, "reduction": 0.5382}  # §4.3


def check_objects(objects: Sequence[str]) -> tuple[str, ...]:
    """``objects`` as a tuple, or ValueError (one line) naming the first unknown name and the accepted ones."""
    objects = tuple(objects)
    unknown = [o for o in objects if o not in TABLE1]
    if unknown or not objects or len(set(objects)) != len(objects):
        what = f"unknown object {unknown[0]!r}" if unknown else f"objects must be distinct and non-empty: {objects}"
        raise ValueError(f"{what}; accepted: {', '.join(OBJECTS)}")
    return objects


def man_bias(objects, man) -> np.ndarray:
    """bias(o, man) per object (§3.1): among the images containing o, the share with ``man`` = 1; NaN for an
    object in no image. ``objects`` is (N, K) 0/1, ``man`` (N,) 0/1. Equals column 1 of
    ``metrics.bias_score(objects, man)`` whenever both genders occur (that function's columns are the genders
    present, so it has one column when a model predicts a single gender)."""
    return two_group_bias(objects, man)[:, 1]


def two_group_bias(objects, man) -> np.ndarray:
    """(K, 2) bias scores b(o, woman), b(o, man) of Zhao et al. (2017), §3.1, with both columns always present."""
    objects = np.asarray(objects).astype(bool)
    man = np.asarray(man).astype(bool)
    if objects.ndim != 2 or len(man) != len(objects):
        raise ValueError(f"objects must be (N, K) and man (N,), got {objects.shape} and {man.shape}")
    counts = np.stack([(objects & ~man[:, None]).sum(0), (objects & man[:, None]).sum(0)], 1).astype(float)
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)


def amplification(train_man_bias, predicted_man_bias) -> float:
    """Zhao et al.'s mean bias amplification (``metrics.mean_bias_amplification``) from the per-object
    bias(o, man) of the training labels and of the predictions, genders G = {woman, man}."""
    b_star = np.asarray(train_man_bias, dtype=float)
    b_tilde = np.asarray(predicted_man_bias, dtype=float)
    return M.mean_bias_amplification(np.stack([1 - b_star, b_star], 1), np.stack([1 - b_tilde, b_tilde], 1))
