"""The classifiers of §3.2 and §4.2: 12 sigmoid outputs trained with cross-entropy (``choi_baseline``), or with
cross-entropy plus λ Σ_k L_aux^k (``choi_auxiliary``), as objectives of the book's one trainer.

Main loss (§3.2; §4.2: "a 12 sigmoid activation output and cross entropy loss"): the binary cross-entropy of every
label, summed over the labels and averaged over the batch. The paper's equation writes a softmax over the labels,
but its experiment (§4.2) and its multi-label task use one sigmoid per label; the book follows the experiment.

Auxiliary loss (§3.2): L_aux^k = |E_{x∼p}[1(h_k(x), gender)] − b*_k|, b*_k the training split's bias(o_k, man)
(§3.1), and the expectation taken over samples x̃ of the descriptive model (§3.3, ``descriptive.py``). The paper
does not say how the indicator is made differentiable; here it is the product of the sigmoids, at
``temperature`` τ, of the object's and the ``man`` output's logits, p_k(x̃) · p_man(x̃) with p = σ(z / τ) (τ → 0
gives back the hard indicator 1[z_k > 0 and z_man > 0]). Two readings of "the expectation" are offered:

- ``statistic="bias"`` (default; the paper's prose: "the difference between the expected bias and training
  set bias", §4.2): the model's bias on the samples, Σ_x̃ p_k p_man / Σ_x̃ p_k, against b*_k;
- ``statistic="joint"`` (the equation as printed): the co-occurrence rate mean_x̃ p_k p_man against the
  training rate (1/M) Σ_i 1[y_ik = 1 and man_i = 1].

Only the man direction is summed: with two genders, bias(o, woman) = 1 − bias(o, man), so the woman term is the
same number again. An object with no training image has no b*_k and no term.

Samples: ``sampling="offline"`` (the paper's experiment, §5) uses the descriptive model's stored
``n_samples`` (1,760) synthetic embeddings at every step; ``sampling="online"`` (the paper's §5 proposal) uses them
for the first epoch and draws ``n_samples`` fresh ones from the stored model at the start of every later epoch,
run k's chains seeded by (its seed, the epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ...artifacts import ARTIFACTS, load_artifact
from ...objectives import Objective, State
from ...specs import MethodSpec, check, check_choice, check_range, register_method
from .descriptive import DescriptiveModel, load_energy_net

__all__ = ["ChoiBaseline", "ChoiAuxiliary", "MultiLabelCE", "AuxiliaryObjective", "expected_statistic"]

STATISTICS = ("bias", "joint")
SAMPLING = ("offline", "online")
ONLINE_SEED_OFFSET = 7_000_003  # run k's chains at epoch e are seeded by seed_k + this + e


def main_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Σ over labels of the binary cross-entropy, averaged over the batch: (K, B, L) logits → (K,)."""
    return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none").sum(-1).mean(1)


def expected_statistic(logits: torch.Tensor, temperature: float, statistic: str) -> torch.Tensor:
    """The soft E_x̃[1(h_k(x̃), man)] per object from (K, M, L) logits on samples (the last label is ``man``),
    (K, L − 1): ``bias`` Σ p_k p_man / Σ p_k, or ``joint`` mean p_k p_man, with p = σ(z / τ)."""
    p = torch.sigmoid(logits / temperature)
    objects, man = p[..., :-1], p[..., -1:]
    together = objects * man
    if statistic == "joint":
        return together.mean(1)
    return together.sum(1) / objects.sum(1).clamp_min(1e-8)


class MultiLabelCE(Objective):
    """Cross-entropy on the task's ``num_labels`` sigmoid outputs; reports the logits (K, B, L)."""

    def __init__(self, num_labels: int):
        self.num_outputs = num_labels

    def loss(self, model, extra, batch):
        return main_loss(model(batch.x).float(), batch.labels)

    def predict(self, model, extra, x, groups):
        return model(x).float()


class AuxiliaryObjective(MultiLabelCE):
    """Cross-entropy + λ_k Σ_o L_aux^o (module docstring); λ may differ between the runs of a group."""

    def __init__(self, num_labels, lambdas, temperature, statistic, sampling, descriptive: DescriptiveModel):
        super().__init__(num_labels)
        self.lambdas = torch.as_tensor(lambdas, dtype=torch.float32)
        self.temperature, self.statistic, self.sampling = temperature, statistic, sampling
        self.descriptive = descriptive

    def build(self, model, setup):
        tasks, device = setup.tasks, setup.device
        stored = [
            load_artifact(self.descriptive.for_run(t.info["task_spec"], s), data_root=t.info["data_root"])
            for t, s in zip(tasks, setup.seeds, strict=True)
        ]
        self.lambdas = self.lambdas.to(device)
        self.seeds = list(setup.seeds)
        self.n_train = len(tasks[0].train)
        self.net = load_energy_net(stored, self.descriptive.hidden).to(device) if self.sampling == "online" else None
        targets = np.stack([_target(t, self.statistic) for t in tasks])
        samples = torch.from_numpy(np.stack([a["samples"] for a in stored])).float()
        return State(
            {
                "samples": samples.to(device),
                "target": torch.from_numpy(targets).float().to(device),
                "seen": torch.zeros((), dtype=torch.long, device=device),
            }
        )

    def _resample(self, state, epoch: int) -> None:
        generators = [torch.Generator().manual_seed(s + ONLINE_SEED_OFFSET + epoch) for s in self.seeds]
        state.samples.copy_(self.descriptive.sample(self.net, state.samples.shape[1], generators))

    def loss(self, model, state, batch):
        seen = int(state.seen)
        if self.sampling == "online" and seen > 0 and seen % self.n_train == 0:
            self._resample(state, seen // self.n_train)
        state.seen += batch.x.shape[1]
        main = main_loss(model(batch.x).float(), batch.labels)
        synthetic = state.samples[..., None, None]  # (K, M, D, 1, 1): D-channel 1 × 1 "images", standardised
        estimate = expected_statistic(model(synthetic).float(), self.temperature, self.statistic)
        known = ~torch.isnan(state.target)
        aux = torch.where(known, (estimate - state.target.nan_to_num()).abs(), 0.0).sum(-1)
        return main + self.lambdas * aux


def _target(task, statistic: str) -> np.ndarray:
    """b*_k (``bias``) or the training co-occurrence rate of (o_k, man) (``joint``), (L − 1,)."""
    if statistic == "bias":
        return np.asarray(task.info["train_bias"], dtype=float)
    labels = task.train.labels.numpy()
    return (labels[:, :-1] * labels[:, -1:]).mean(0)


@register_method("choi_baseline")
@dataclass(frozen=True)
class ChoiBaseline(MethodSpec):
    """The baseline model (§4.2): cross-entropy on the 12 sigmoid outputs."""

    @classmethod
    def objective(cls, specs, tasks):
        return MultiLabelCE(tasks[0].info["num_labels"])


@register_method("choi_auxiliary")
@dataclass(frozen=True)
class ChoiAuxiliary(MethodSpec):
    """The auxiliary model (§3.2–3.3, §4.2): cross-entropy + ``lam`` · Σ_k L_aux^k over samples of the
    ``descriptive`` model (module docstring). ``lam`` may differ between runs trained together."""

    per_run: ClassVar[frozenset[str]] = frozenset({"lam"})
    lam: float = 1.0
    temperature: float = 1.0
    statistic: str = "bias"
    sampling: str = "offline"
    descriptive: DescriptiveModel = field(default_factory=DescriptiveModel, metadata={"spec": ARTIFACTS})

    def validate(self):
        check_range("lam", self.lam, 0, 1e6)
        check_range("temperature", self.temperature, 0, 100, open_low=True)
        check_choice("statistic", self.statistic, STATISTICS)
        check_choice("sampling", self.sampling, SAMPLING)
        check(isinstance(self.descriptive, DescriptiveModel), "descriptive must be a DescriptiveModel")
        check(self.descriptive.task is None, "descriptive.task must be None: the method fills in each run's task")

    @classmethod
    def objective(cls, specs, tasks):
        spec = specs[0]
        return AuxiliaryObjective(
            tasks[0].info["num_labels"],
            [s.lam for s in specs],
            spec.temperature,
            spec.statistic,
            spec.sampling,
            spec.descriptive,
        )
