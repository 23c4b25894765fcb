"""Two training methods of thesis ch. 4 that a batch transform cannot express, as registered methods of the core
trainer (``RunSpec(method=...)``), usable with any recipe:

- ``maxup`` — MaxUp (Gong et al., CVPR 2021; thesis §4.3): each image becomes m augmented copies and the loss is
  the worst copy's, per image: min_θ E_x [max_j L(x̃_j, θ)]. The thesis's "MaxUp-cutout" (Table 4.2) is m = 4
  cutouts.
- ``dp_sgd`` — the DP-SGD baseline of Table 4.2 (Abadi et al. 2016, as Geiping et al. 2021 apply it against
  poisoning, on which the thesis's experiments build): the gradient is clipped to norm ≤ ``clip`` and Gaussian
  noise N(0, (clip · noise)²) is added to every coordinate before the optimiser's step; "DP-SGD, 0.01" and
  "DP-SGD, 0.05" are noise 0.01 and 0.05.

  *Per batch, not per sample*: the clipped gradient is the mini-batch gradient of each run, as in Geiping et al.'s
  framework ("we enforce privacy on mini batches instead of instances to cope with effects on batch
  normalization", ``forest/victims/training.py``), which produced the thesis's numbers. With BatchNorm, as in the
  ResNets here, one image's gradient depends on the whole batch, so per-sample clipping (Abadi et al.) is not
  defined without replacing the normalisation; the defence against poisoning comes from the noise (Hong et al.
  2020). This gives no formal privacy guarantee and none is claimed.

Both draw their random numbers per run from a generator seeded by the run's seed and the step number (kept in
the objective's state, which checkpoints save), so run k of a K-run group gets what it would get trained alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ... import mixing
from ...objectives import CrossEntropy, State, cross_entropy, mixed_loss
from ...specs import TRANSFORMS, MethodSpec, TransformSpec, check, check_range, register_method
from .transforms import Cutout

__all__ = ["MaxUp", "DPSGD", "MaxUpObjective", "DPSGDObjective", "privatise"]


def step_generators(seeds, step: int, salt: int) -> list[torch.Generator]:
    """One CPU generator per run for training step ``step``, seeded by (seed, step, salt)."""
    return [torch.Generator().manual_seed((int(s) * 1_000_003 + step) * 101 + salt) for s in seeds]


class _Stepped(CrossEntropy):
    """Cross-entropy with a step counter in its state (for per-step generators)."""

    salt = 0

    def build(self, model, setup):
        self.seeds = list(setup.seeds)
        self.mean = torch.tensor([t.mean for t in setup.tasks], device=setup.device)[:, None, :, None, None]
        self.std = torch.tensor([t.std for t in setup.tasks], device=setup.device)[:, None, :, None, None]
        return State({"step": torch.zeros((), dtype=torch.long, device=setup.device)})

    def next_generators(self, extra) -> list[torch.Generator]:
        step = int(extra.step)
        extra.step += 1
        return step_generators(self.seeds, step, self.salt)


class MaxUpObjective(_Stepped):
    """Per-image MaxUp over ``m`` copies made by ``transform``; the copies are one forward pass (K, m·B)."""

    salt = 1

    def __init__(self, num_classes: int, transform: TransformSpec, m: int):
        super().__init__(num_classes)
        self.transform, self.m = transform, m

    def loss(self, model, extra, batch):
        if len(batch.targets) > 1:
            raise ValueError(
                "maxup: the recipe's batch transform already mixed the labels; name the transform in maxup instead"
            )
        generators = self.next_generators(extra)
        pixels = batch.x * self.std + self.mean  # the transforms work on the [0, 1] scale
        copies = mixing.maxup_copies(lambda x, y, g: self.transform(x, y, g), self.m, pixels, batch.labels, generators)
        b = batch.labels.shape[1]
        logits = model(torch.cat([(x - self.mean) / self.std for x, _ in copies], 1))
        losses = torch.stack(
            [mixed_loss(cross_entropy, logits[:, j * b : (j + 1) * b], t) for j, (_, t) in enumerate(copies)]
        )  # (m, K, B)
        return mixing.worst_of(losses).mean(1)


def privatise(grads, k_runs: int, clip: float, noise: float, generators) -> list[torch.Tensor]:
    """Per run k: its gradient (the k-th block of every parameter's leading dimension) scaled to norm ≤ ``clip``,
    plus N(0, (clip · noise)²) per coordinate drawn from ``generators[k]`` (parameter after parameter)."""
    norms = torch.stack([g.reshape(k_runs, -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()  # (K,)
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)
    out = []
    for g in grads:
        blocks = g.reshape(k_runs, -1) * factor[:, None]
        if noise > 0:
            draws = torch.stack([torch.randn(blocks.shape[1], generator=gen) for gen in generators])
            blocks = blocks + draws.to(blocks.device, blocks.dtype) * (clip * noise)
        out.append(blocks.reshape(g.shape))
    return out


class DPSGDObjective(_Stepped):
    """Cross-entropy whose gradient is the privatised mini-batch gradient of each run: the loss returned has the
    cross-entropy's value and, as its gradient in the parameters, exactly ``privatise``'s result (a linear
    surrogate Σ_p ⟨p, g̃_p⟩ added with its value subtracted)."""

    salt = 2

    def __init__(self, num_classes: int, clip: float, noise: float):
        super().__init__(num_classes)
        self.clip, self.noise = clip, noise

    def loss(self, model, extra, batch):
        losses = mixed_loss(cross_entropy, model(batch.x), batch.targets).mean(1)  # (K,)
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(losses.sum(), params)
        k_runs = losses.shape[0]
        private = privatise(grads, k_runs, self.clip, self.noise, self.next_generators(extra))
        linear = sum((p * g).reshape(k_runs, -1).sum(1) for p, g in zip(params, private, strict=True))
        return losses.detach() + linear - linear.detach()


@register_method("maxup")
@dataclass(frozen=True)
class MaxUp(MethodSpec):
    """MaxUp (Gong et al. 2021): per image, the worst of ``m`` copies made by ``transform`` (a registered batch
    transform; the thesis's "MaxUp-cutout": m = 4 cutouts)."""

    m: int = 4
    transform: TransformSpec = field(default_factory=Cutout, metadata={"spec": TRANSFORMS})
    num_classes: int = 0  # 0: the task's info["num_classes"]

    def validate(self):
        check_range("m", self.m, 1, None, integer=True)
        check(isinstance(self.transform, TransformSpec), f"transform must be a batch transform, got {self.transform!r}")
        check_range("num_classes", self.num_classes, 0, None, integer=True)

    @classmethod
    def objective(cls, specs, tasks):
        spec = specs[0]
        return MaxUpObjective(spec.num_classes or tasks[0].info["num_classes"], spec.transform, spec.m)


@register_method("dp_sgd")
@dataclass(frozen=True)
class DPSGD(MethodSpec):
    """DP-SGD as the thesis's baseline (Table 4.2): the mini-batch gradient clipped to norm ≤ ``clip``, plus
    N(0, (clip · noise)²) per coordinate (module docstring: per batch, and why)."""

    clip: float = 1.0
    noise: float = 0.01
    num_classes: int = 0

    def validate(self):
        check_range("clip", self.clip, 0, None, open_low=True)
        check_range("noise", self.noise, 0, None)
        check_range("num_classes", self.num_classes, 0, None, integer=True)

    @classmethod
    def objective(cls, specs, tasks):
        spec = specs[0]
        return DPSGDObjective(spec.num_classes or tasks[0].info["num_classes"], spec.clip, spec.noise)
