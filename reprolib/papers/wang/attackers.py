"""Stored attackers of Wang et al. (2019), §3: every leakage estimate of Part II is an artifact
(``reprolib.artifacts``), keyed by its whole configuration and computed once.

- ``wang_dataset_leakage`` (``DatasetLeakage``): λ_D(a), an attacker on a task's ground-truth labels perturbed
  to macro-F1 = a (a = 1: λ_D); keyed by the task spec, a, the attacker's settings and seed.
- ``wang_model_leakage`` (``ModelLeakage``): λ_M, an attacker on the pre-activation logits a stored run kept
  (``RunSpec(..., keep_outputs=True, evaluate_on=("train", "validation", "test"))``); keyed by the run's store
  key, which split's logits train it (``source``), the attacker's settings and seed.

Every attacker is trained and evaluated on gender-balanced rows (§4.1), redrawn per attacker seed as in the
authors' code (each of its rounds samples a new balanced set); the snapshot with the best dev accuracy is kept
(§4.1) and its test accuracy is the leakage.

``source`` — which logits train the model-leakage attacker, an open choice of the paper:

- ``"train"``: the model's logits on its own training split, the snapshot chosen on the dev split's logits,
  tested on the test split's: the authors' code (``object_multilabel/attacker.py``: the attacker's train loader
  holds the encoder's "potentials" of the training images). The model has fitted these images, so their logits
  may differ in distribution from the test logits the attacker is judged on.
- ``"heldout"``: logits the model never trained on: two thirds of the (balanced) dev split train the attacker,
  the other third chooses its snapshot, the test split scores it. Fewer rows, no train/test shift.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

import numpy as np

from ...artifacts import ArtifactMissing, ArtifactSpec, load_artifact, register_artifact
from ...specs import TASKS, TaskSpec, check, check_choice, check_range
from ...store import current_store, using_store
from .leakage import ATTACKER, accuracy, balanced_indices, dataset_leakage, train_attacker
from .standin import CocoStandIn

__all__ = [
    "AttackerSettings",
    "DatasetLeakage",
    "ModelLeakage",
    "DecodedLeakage",
    "DECODINGS",
    "SOURCES",
    "SPLITS",
    "built_task",
    "stored_attackers",
]

SOURCES = ("train", "heldout")
DECODINGS = ("joint", "rba")
SPLITS = ("train", "validation", "test")
HELDOUT_TRAIN_SHARE = 2 / 3  # of the balanced dev rows, with source="heldout"


@functools.lru_cache(maxsize=8)
def built_task(spec: TaskSpec, data_root=None):
    """The task of ``spec``, built once per process (the attackers of one task share it)."""
    return spec.build(data_root)


@contextlib.contextmanager
def stored_attackers(store):
    """Make ``store`` the current store for the block: the attackers read its runs and are stored in it."""
    with using_store(store):
        yield store


def load_stored(*specs) -> list[dict] | None:
    """The arrays of each of ``specs``, computed and stored when missing; None when one is missing and computing
    is off (the book's render, ``$REPROLIB_RESULTS_ONLY``): the caller leaves its row out."""
    try:
        return [load_artifact(spec) for spec in specs]
    except ArtifactMissing:
        return None


@dataclass(frozen=True)
class AttackerSettings(ArtifactSpec):
    """The attacker's settings (§4.1; Table 2 varies depth, width and the share of training rows) and its seed
    (initialisation, batch order, the balanced rows and, for λ_D(a), the perturbation)."""

    seed: int = 0
    epochs: int = ATTACKER["epochs"]
    lr: float = ATTACKER["lr"]
    batch_size: int = ATTACKER["batch_size"]
    hidden: int = ATTACKER["hidden"]
    depth: int = ATTACKER["depth"]
    fraction: float = 1.0  # share of the balanced training rows the attacker sees (Table 2)

    def validate(self):
        check_range("seed", self.seed, 0, None, integer=True)
        check_range("epochs", self.epochs, 1, 10_000, integer=True)
        check_range("lr", self.lr, 0, 1, open_low=True)
        check_range("batch_size", self.batch_size, 2, None, integer=True)
        check_range("hidden", self.hidden, 1, 4096, integer=True)
        check_range("depth", self.depth, 1, 16, integer=True)
        check_range("fraction", self.fraction, 0, 1, open_low=True)

    def attacker(self) -> dict:
        return {k: getattr(self, k) for k in ("epochs", "lr", "batch_size", "hidden", "depth")}

    def balanced(self, arrays: dict) -> dict:
        """``arrays`` (split → (features, groups)) restricted to balanced rows drawn with this seed; the train
        split keeps ``fraction`` of them."""
        out = {}
        for i, (name, (x, g)) in enumerate(arrays.items()):
            keep = balanced_indices(g, seed=self.seed * len(arrays) + i, fraction=self.fraction if i == 0 else 1.0)
            out[name] = (np.asarray(x)[keep], np.asarray(g)[keep])
        return out


@register_artifact("wang_dataset_leakage")
@dataclass(frozen=True)
class DatasetLeakage(AttackerSettings):
    """λ_D(f1) on ``task``'s labels (``leakage.dataset_leakage``): arrays ``accuracy`` (test), ``flipped`` (share
    of training entries flipped), ``n_groups`` (the task's training images of g = 0 and g = 1, before the
    attacker balances them)."""

    task: TaskSpec = field(default_factory=CocoStandIn, metadata={"spec": TASKS})
    f1: float = 1.0

    def validate(self):
        super().validate()
        check_range("f1", self.f1, 0, 1, open_low=True)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        task = built_task(self.task, data_root)
        arrays = {name: (task.split(name).labels.numpy(), task.split(name).groups.numpy()) for name in SPLITS}
        result = dataset_leakage(self.balanced(arrays), self.f1, self.seed, **self.attacker())
        counts = np.bincount(task.train.groups.numpy(), minlength=2)
        return {"accuracy": np.float64(result.accuracy), "flipped": np.float64(result.flipped), "n_groups": counts}


@register_artifact("wang_model_leakage")
@dataclass(frozen=True)
class ModelLeakage(AttackerSettings):
    """λ_M of the stored run ``run`` (its store key): an attacker on the first ``task.info["num_labels"]``
    columns of the logits it kept (a jointly predicted gender column is left out), trained on ``source``'s
    logits (module docstring). Arrays: ``accuracy`` (test), ``dev_accuracy``, ``epoch`` of the snapshot."""

    run: str = ""
    source: str = "train"

    def validate(self):
        super().validate()
        check(isinstance(self.run, str) and len(self.run) > 0, "run must be the store key of a finished run")
        check_choice("source", self.source, SOURCES)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        outputs = _logits(current_store(), self.run)
        task = built_task(TaskSpec.from_dict(outputs["record"]["config"]["task"]), data_root)
        k = task.info["num_labels"]
        arrays = {name: (outputs[name][:, :k], task.split(name).groups.numpy()) for name in SPLITS}
        if self.source == "heldout":
            arrays = {**_split_rows(*arrays["validation"], self.seed), "test": arrays["test"]}
        data = self.balanced(arrays)
        result = train_attacker(*data["train"], *data["validation"], seed=self.seed, **self.attacker())
        return {
            "accuracy": np.float64(accuracy(result.model, *data["test"])),
            "dev_accuracy": np.float64(result.dev_accuracy),
            "epoch": np.int64(result.epoch),
        }


def _logits(store, key: str) -> dict:
    """The stored logits of run ``key`` per split; one line naming what is missing otherwise."""
    record = store.get(key)
    if not record or record.get("status") != "done":
        raise ValueError(f"run {key} is not a finished run in the store {store.root}")
    stored = store.get_outputs(key)
    outputs = {name: stored.get(name, stored.get(f"{name}/logits")) for name in SPLITS}
    missing = [name for name in SPLITS if outputs[name] is None]
    if missing:
        raise ValueError(
            f"run {key} kept no logits on {', '.join(missing)}: train it with keep_outputs=True and "
            "evaluate_on=('train', 'validation', 'test')"
        )
    return {"record": record, **outputs}


@register_artifact("wang_decoded_leakage")
@dataclass(frozen=True)
class DecodedLeakage(AttackerSettings):
    """λ_M of a joint (labels + gender) prediction decoded without (``"joint"``) or with RBA's corpus constraints
    (``"rba"``, ``rba.rba_decode`` with ``margin`` and ``steps``, per split; b_k from the training labels): the
    attacker reads the decoded 0/1 label vectors (train → dev snapshot → test, as ``source="train"``). The gender
    score is the last logit of ``run`` (a ``MultiLabelBCE(gender=True)`` run); the label scores are ``run``'s or,
    with ``labels_run``, another run's on the same task (e.g. an adversarially debiased model). Arrays:
    ``accuracy``, ``F1`` (decoded test labels), ``violation`` (mean |b̂_k − b_k| on test), ``steps``."""

    run: str = ""
    labels_run: str = ""
    decoding: str = "joint"
    margin: float = 0.05
    steps: int = 200

    def validate(self):
        super().validate()
        check(isinstance(self.run, str) and len(self.run) > 0, "run must be the store key of a finished run")
        check_choice("decoding", self.decoding, DECODINGS)
        check_range("margin", self.margin, 0, 1, open_high=True)
        check_range("steps", self.steps, 1, 100_000, integer=True)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        from ...metrics import macro_f1
        from .rba import joint_decode, rba_decode, training_ratios

        store = current_store()
        joint = _logits(store, self.run)
        scores = _logits(store, self.labels_run) if self.labels_run else joint
        task = built_task(TaskSpec.from_dict(joint["record"]["config"]["task"]), data_root)
        k = task.info["num_labels"]
        if joint["test"].shape[1] != k + 1:
            raise ValueError(f"run {self.run} predicts no gender: train it with MultiLabelBCE(gender=True)")
        ratios = training_ratios(task.train.labels.numpy(), task.train.groups.numpy())
        decoded, steps = {}, 0
        for name in SPLITS:
            if self.decoding == "rba":
                result = rba_decode(scores[name][:, :k], joint[name][:, k], ratios, self.margin, self.steps)
            else:
                result = joint_decode(scores[name][:, :k], joint[name][:, k])
            decoded[name] = result
            steps = max(steps, result.steps)
        arrays = {name: (decoded[name].labels.astype(np.float32), task.split(name).groups.numpy()) for name in SPLITS}
        data = self.balanced(arrays)
        result = train_attacker(*data["train"], *data["validation"], seed=self.seed, **self.attacker())
        test = decoded["test"]
        predicted = training_ratios(test.labels, test.gender)
        present = test.labels.any(0)  # labels predicted at least once: their ratio is defined
        gap = np.abs(predicted - ratios)[present].mean() if present.any() else np.nan
        return {
            "accuracy": np.float64(accuracy(result.model, *data["test"])),
            "F1": np.float64(macro_f1(task.test.labels.numpy(), test.labels)),
            "violation": np.float64(gap),
            "steps": np.int64(steps),
        }


def _split_rows(features, groups, seed: int) -> dict:
    """The rows of one split cut in two within each group, ``HELDOUT_TRAIN_SHARE`` for training the attacker
    and the rest for choosing its snapshot (seeded)."""
    rng = np.random.default_rng(seed)
    first = []
    for g in (0, 1):
        members = rng.permutation(np.flatnonzero(groups == g))
        first.append(members[: round(HELDOUT_TRAIN_SHARE * len(members))])
    mask = np.zeros(len(groups), dtype=bool)
    mask[np.concatenate(first)] = True
    return {"train": (features[mask], groups[mask]), "validation": (features[~mask], groups[~mask])}
