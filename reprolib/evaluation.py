"""Evaluators: a run's outputs on one split → the metrics its record carries.

A task names its evaluator (``Task.evaluator``); papers register theirs (``@register_evaluator("skew")``) next to
their task builders, so a new evaluation protocol (leakage, rank-1 identification, …) never edits the sweep. An
evaluator is ``fn(task, split, outputs) -> dict`` of JSON-serialisable metrics; ``outputs`` is the objective's
``predict`` for one run on that split (a tensor or a dict of tensors).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import metrics as M
from .registry import Registry
from .tasks import Task

__all__ = ["EVALUATORS", "register_evaluator", "evaluate_outputs"]

EVALUATORS: Registry[Callable[[Task, str, object], dict]] = Registry("evaluator")
register_evaluator = EVALUATORS.register


def evaluate_outputs(task: Task, split: str, outputs) -> dict:
    """The metrics of one run's outputs on ``split`` of ``task``, by the task's evaluator."""
    return EVALUATORS.get(task.evaluator)(task, split, outputs)


@register_evaluator("classification")
def classification_metrics(task: Task, split: str, outputs: torch.Tensor) -> dict:
    """Accuracy of class probabilities (N, C), or of P(t = 1) (N,) thresholded at ½."""
    labels = task.split(split).labels
    preds = outputs.argmax(-1) if outputs.dim() == 2 else (outputs > 0.5).long()
    return {"accuracy": M.accuracy(labels, preds)}
