"""Beyond the paper: Wang et al. (2019)'s leakage of a stored Part V run (Part II, ``papers/wang/leakage.py``).

Model leakage λ_M: an attacker predicts the gender from the model's 11 object logits (not its gender output);
dataset leakage λ_D(F1): the same attacker from the ground-truth object labels perturbed at random to the run's
test macro-F1 of the objects; bias amplification in Wang et al.'s sense, Δ = λ_M − λ_D(F1). The attacker trains
on the run's validation outputs (three quarters; the last quarter is its dev split) and is scored on the test
outputs, every split gender-balanced (Wang et al. §4.1). A stored artifact, keyed by the run and the attacker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...artifacts import ArtifactSpec, register_artifact
from ...specs import TaskSpec, check_range
from ...store import current_store
from ..wang.leakage import accuracy, balanced_indices, dataset_leakage, train_attacker

__all__ = ["RunLeakage"]


@register_artifact("choi_run_leakage")
@dataclass(frozen=True)
class RunLeakage(ArtifactSpec):
    """λ_M, λ_D(F1) and Δ of the stored run ``run_key`` (module docstring). Arrays: ``model``, ``dataset``,
    ``delta``, ``f1`` (one value each)."""

    run_key: str = ""
    epochs: int = 100  # Wang et al. §4.1
    lr: float = 1e-3
    seed: int = 0

    def validate(self):
        check_range("epochs", self.epochs, 1, 10_000, integer=True)
        check_range("lr", self.lr, 0, 1, open_low=True)
        check_range("seed", self.seed, 0, None, integer=True)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        store = current_store()
        record = store.get(self.run_key)
        task = TaskSpec.from_dict(record["config"]["task"]).build(data_root)
        outputs = store.get_outputs(self.run_key)
        parts = {}
        for i, split in enumerate(("validation", "test")):
            labels = task.split(split).labels.numpy()
            keep = balanced_indices(labels[:, -1], seed=self.seed + i)
            parts[split] = (outputs[split][keep, :-1], labels[keep, :-1], labels[keep, -1])
        logits, truth, groups = parts["validation"]
        cut = round(0.75 * len(groups))
        order = np.random.default_rng(self.seed).permutation(len(groups))
        fit, dev = order[:cut], order[cut:]
        attacker = {"epochs": self.epochs, "lr": self.lr}
        model = train_attacker(logits[fit], groups[fit], logits[dev], groups[dev], seed=self.seed, **attacker)
        test_logits, test_truth, test_groups = parts["test"]
        model_leakage = accuracy(model.model, test_logits, test_groups)
        f1 = record["metrics"]["F1"]
        splits = {
            "train": (truth[fit], groups[fit]),
            "validation": (truth[dev], groups[dev]),
            "test": (test_truth, test_groups),
        }
        try:
            data_leakage = dataset_leakage(splits, f1, self.seed, **attacker).accuracy
        except ValueError:  # a split too small for perturb_labels to reach the run's F1 within 0.01
            data_leakage = float("nan")
        return {
            "model": np.array([model_leakage]),
            "dataset": np.array([data_leakage]),
            "delta": np.array([model_leakage - data_leakage]),
            "f1": np.array([f1]),
        }
