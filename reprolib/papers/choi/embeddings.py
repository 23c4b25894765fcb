"""Image embeddings as a task of the one trainer, and the ``choi_bias`` evaluator (§3.1, §4.2–4.3).

The paper trains its classifiers on ResNet-34 embeddings of the images (§4.1), not on pixels. The book's trainer
takes uint8 image tensors (N, C, H, W), divides them by 255 and standardises every channel with the training
split's mean and standard deviation. An embedding of D numbers therefore travels as a D-channel 1 × 1 "image":
each dimension is scaled to 0–255 between its minimum and maximum over the training split (values of the other
splits outside that range are clipped) and rounded, so the model sees every dimension standardised, at 8-bit
resolution (1/255 of the dimension's training range; the classifier's accuracy does not notice). ``standardised``
gives exactly what the model sees, for the descriptive model of §3.3, which lives in the same space.

Labels are the (N, K + 1) 0/1 matrix of the K objects and, last, ``man`` (1 man, 0 woman); the group of an image
is its gender. Splits (§4.1: "a 85/15 training and testing set"): a seeded permutation puts ``test_share`` of
the images in test; ``validation_share`` of the rest is held out of training to choose λ (the paper gives no
validation split; hyperparameters are never chosen on test in this book).
"""

from __future__ import annotations

import numpy as np
import torch

from ... import metrics as M
from ...evaluation import register_evaluator
from ...specs import check, check_range
from ...tasks import Split, Task, channel_stats
from .labels import amplification, check_objects, man_bias

__all__ = ["embedding_task", "check_objects_field", "check_split_fields", "standardised", "quantise", "bias_metrics"]


def quantise(embeddings: np.ndarray, low: np.ndarray, high: np.ndarray) -> torch.Tensor:
    """(N, D) floats → (N, D, 1, 1) uint8: each dimension mapped linearly from [low, high] to [0, 255], clipped."""
    span = np.where(high > low, high - low, 1.0)
    scaled = np.clip((embeddings - low) / span * 255.0, 0, 255).round()
    return torch.from_numpy(scaled.astype(np.uint8))[:, :, None, None]


def check_objects_field(objects) -> None:
    """The ``objects`` field of an embedding task's spec (``labels.check_objects``), failing with a ``SpecError``."""
    try:
        check_objects(objects)
    except ValueError as error:
        check(False, f"objects: {error}")


def check_split_fields(spec) -> None:
    """The split fields of an embedding task's spec (``embedding_task``): ``test_share``, ``validation_share``
    and ``seed``."""
    check_range("test_share", spec.test_share, 0, 1, open_low=True, open_high=True)
    check_range("validation_share", spec.validation_share, 0, 1, open_low=True, open_high=True)
    check_range("seed", spec.seed, 0, None, integer=True)


def embedding_task(
    name: str,
    embeddings: np.ndarray,
    objects: np.ndarray,
    man: np.ndarray,
    object_names: tuple[str, ...],
    seed: int,
    test_share: float,
    validation_share: float,
    info: dict | None = None,
) -> Task:
    """The task of (N, D) ``embeddings`` with (N, K) 0/1 ``objects`` and (N,) 0/1 ``man`` (module docstring);
    ``info`` gains ``objects``, ``num_labels`` (K + 1), ``train_bias`` (bias(o, man) of the training split,
    (K,)) and ``split_index`` (the row of every split's images in the inputs)."""
    n = len(embeddings)
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(test_share * n)
    n_validation = round(validation_share * (n - n_test))
    index = {
        "test": np.sort(order[:n_test]),
        "validation": np.sort(order[n_test : n_test + n_validation]),
        "train": np.sort(order[n_test + n_validation :]),
    }
    train_rows = embeddings[index["train"]]
    low, high = train_rows.min(0), train_rows.max(0)
    labels = np.concatenate([objects, man[:, None]], 1).astype(np.int64)

    def split(rows):
        groups = torch.from_numpy(man[rows].astype(np.int64))
        return Split(quantise(embeddings[rows], low, high), torch.from_numpy(labels[rows]), groups, groups)

    splits = {part: split(rows) for part, rows in index.items()}
    mean, std = channel_stats(splits["train"].images)
    std = tuple(s if s > 0 else 1.0 for s in std)
    info = {
        **(info or {}),
        "objects": tuple(object_names),
        "num_labels": len(object_names) + 1,
        "train_bias": man_bias(objects[index["train"]], man[index["train"]]),
        "split_index": index,
    }
    return Task(name, splits["train"], splits["test"], mean, std, info, "choi_bias", splits["validation"])


def standardised(task: Task, split: str = "train") -> torch.Tensor:
    """(N, D) float32: the embeddings of ``split`` exactly as the classifier sees them (uint8 / 255, then
    standardised per dimension with the training split's statistics, as ``reprolib.training`` does)."""
    images = task.split(split).images.float().div(255).flatten(1)
    return (images - torch.tensor(task.mean)) / torch.tensor(task.std)


def _json(values) -> list:
    return [None if np.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]


def bias_metrics(task: Task, split: str, logits: torch.Tensor) -> dict:
    """The metrics of (N, K + 1) logits on ``split``: a label is predicted when its sigmoid exceeds ½ (logit > 0).

    - ``accuracy``: "the percentage of correctly predicted labels over the sum of all possible labels" (§4.2),
      over all K + 1 labels; ``gender_accuracy``: of the ``man`` label alone; ``F1``: macro-F1 of the K objects
      (``metrics.macro_f1``), the x-axis of Wang et al.'s leakage comparison;
    - ``predicted_bias``: bias(o, man) of the predictions (objects predicted, gender predicted), per object, None
      where no image is predicted to contain o; ``train_bias``: the training split's, b*;
    - ``bias_amplification``: Zhao et al.'s mean bias amplification of the predictions against the training
      split's bias (``labels.amplification``; §4.3's "average bias amplification");
    - ``man_shift``: the mean over objects of predicted − training bias(o, man): > 0 when the predictions lean
      towards men (§4.3, "significant gender bias towards male classification").
    """
    truth = task.split(split).labels.numpy().astype(bool)
    predicted = logits.float().numpy() > 0
    objects, man = predicted[:, :-1], predicted[:, -1]
    b_tilde = man_bias(objects, man)
    b_star = np.asarray(task.info["train_bias"], dtype=float)
    return {
        "accuracy": float((predicted == truth).mean()),
        "gender_accuracy": float((man == truth[:, -1]).mean()),
        "F1": M.macro_f1(truth[:, :-1], objects),
        "predicted_bias": _json(b_tilde),
        "train_bias": _json(b_star),
        "bias_amplification": amplification(b_star, b_tilde),
        "man_shift": float(np.nanmean(b_tilde - b_star)) if not np.isnan(b_tilde).all() else float("nan"),
    }


register_evaluator("choi_bias")(bias_metrics)
