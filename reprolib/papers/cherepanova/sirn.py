"""A sensitive-information removal network on frozen face embeddings (Cherepanova 2023, thesis §6.5, §6.9.2,
Table 6.4; after SensitiveNets, Morales et al. 2020), stored as an artifact keyed by its configuration.

A face recognition model is trained first (a run of the core trainer that keeps its embeddings). On its frozen
embeddings x, the SIRN w (4 linear layers with ReLU) outputs a projection φ(x) of the same size, which feeds a
CosFace head (identities, focal loss L_FR) and a sensitive head w_s (3 linear layers with ReLU: the gender
logits). The two players (§6.9.2):

    min_w  1/N Σ_i L_FR(φ(x_i), y_i) + α·log(1 + |0.9 − P_s(s | φ(x_i))|)
    min_ws 1/N Σ_i L_S(φ(x_i), s_i)

with s a fixed gender for all images: the regulariser pushes the discriminator to call every image s, so it
manipulates the features of the *other* gender's images — the "penalized" gender of Table 6.4 (penalize males:
s = female). The two updates alternate every step (one of w and the CosFace head, one of w_s on φ detached).

This is a training loop of its own: the network trains on stored embeddings, not on images, and its two-player
update does not fit the core trainer's one loss per step; it is small (seconds on a CPU) and stored through
``artifacts`` like the book's other stage-2 computations. Its results: per group the classification accuracy of
the CosFace head on the training images, rank-1 accuracy on the validation images (seen identities) and on the
test identities (new), each with the gap male − female, and the discriminator's gender accuracy on the test
identities' φ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...artifacts import ArtifactSpec, register_artifact
from ...specs import TASKS, check, check_choice, check_range
from ...store import current_store
from .faces import GROUPS, FaceIdentityTask, per_group_rank
from .margins import focal_loss, margin_logits

__all__ = ["SirnSpec", "adversarial_penalty", "mlp"]

TARGET = 0.9  # §6.9.2: |0.9 − P_s(s | φ(x))|


def adversarial_penalty(sensitive_logits: torch.Tensor, fixed: int) -> torch.Tensor:
    """Per image log(1 + |0.9 − P_s(fixed | φ(x))|) of the sensitive head's logits (B, 2) (§6.9.2)."""
    return torch.log1p((TARGET - sensitive_logits.softmax(-1)[:, fixed]).abs())


def mlp(sizes) -> nn.Sequential:
    """Linear layers of ``sizes`` with a ReLU between consecutive ones."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register_artifact("sirn")
@dataclass(frozen=True)
class SirnSpec(ArtifactSpec):
    """A SIRN trained on the stored embeddings of run ``run_key`` (trained on ``task``) with adversarial strength
    ``alpha``, the fixed gender pushed on every image being the other one than ``penalized`` (0 male, 1 female)."""

    run_key: str = ""
    task: FaceIdentityTask = field(default_factory=FaceIdentityTask, metadata={"spec": TASKS})
    alpha: float = 0.0
    penalized: int = 0
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    margin: float = 0.35
    scale: float = 16.0
    focal_gamma: float = 2.0
    seed: int = 0

    def validate(self):
        check(isinstance(self.run_key, str), f"run_key must be a run's key, got {self.run_key!r}")
        check_range("alpha", self.alpha, 0, None)
        check_choice("penalized", self.penalized, (0, 1))
        check_range("hidden", self.hidden, 2, 4096, integer=True)
        check_range("epochs", self.epochs, 1, None, integer=True)
        check_range("batch_size", self.batch_size, 2, None, integer=True)
        check_range("lr", self.lr, 0, None, open_low=True)
        check_range("margin", self.margin, 0, 1.5)
        check_range("scale", self.scale, 0, None, open_low=True)
        check_range("focal_gamma", self.focal_gamma, 0, None)
        check_range("seed", self.seed, 0, None, integer=True)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        outputs = current_store().get_outputs(self.run_key)
        if "train/embedding" not in outputs:
            raise ValueError(f"run {self.run_key} kept no embeddings: train it with keep_outputs=True")
        task = self.task.build(data_root)
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        x = torch.as_tensor(outputs["train/embedding"], dtype=torch.float32)
        labels, groups = task.train.labels, task.train.groups
        dim, classes, fixed = x.shape[1], task.info["num_classes"], 1 - self.penalized
        sirn = mlp((dim, self.hidden, self.hidden, self.hidden, dim))
        sensitive = mlp((dim, self.hidden, self.hidden, 2))
        head = nn.Parameter(torch.randn(dim, classes, generator=generator))
        players = torch.optim.Adam([*sirn.parameters(), head], lr=self.lr)
        discriminator = torch.optim.Adam(sensitive.parameters(), lr=self.lr)
        margin = torch.full((1,), self.margin)
        for _ in range(self.epochs):
            order = torch.randperm(len(x), generator=generator)
            for i in range(0, len(x), self.batch_size):
                index = order[i : i + self.batch_size]
                phi = sirn(x[index])
                cosine = F.normalize(phi, dim=1) @ F.normalize(head, dim=0)
                logits = margin_logits(cosine, labels[index], margin.expand(len(index)), self.scale, "cosface")
                loss = focal_loss(logits, labels[index], self.focal_gamma).mean()
                loss = loss + self.alpha * adversarial_penalty(sensitive(phi), fixed).mean()
                players.zero_grad()
                loss.backward()
                players.step()
                discriminator.zero_grad()
                F.cross_entropy(sensitive(phi.detach()), groups[index]).backward()
                discriminator.step()
        return self._metrics(task, outputs, sirn, sensitive, head)

    @torch.no_grad()
    def _metrics(self, task, outputs, sirn, sensitive, head) -> dict[str, np.ndarray]:
        out = {}
        phi = sirn(torch.as_tensor(outputs["train/embedding"], dtype=torch.float32))
        predicted = (F.normalize(phi, dim=1) @ F.normalize(head, dim=0)).argmax(1)
        correct = (predicted == task.train.labels).numpy()
        for g, name in enumerate(GROUPS):
            out[f"train_{name}"] = correct[task.train.groups.numpy() == g].mean()
        for split in ("validation", "test"):
            part = task.split(split)
            phi = sirn(torch.as_tensor(outputs[f"{split}/embedding"], dtype=torch.float32))
            accuracy = per_group_rank(phi.double().numpy(), part.source_labels.numpy(), part.groups.numpy(), 1)
            out.update({f"{split}_{name}": accuracy[name] for name in GROUPS})
            guessed = sensitive(phi).argmax(1)
            out[f"{split}_sensitive_accuracy"] = (guessed == part.groups).float().mean().item()
        for split in ("train", "validation", "test"):
            out[f"{split}_gap"] = out[f"{split}_male"] - out[f"{split}_female"]
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
